"""Keras model -> float32 and int8 ``.tflite``, every conversion in a child process.

What TF 2.21 can make (docs/toolchain-facts.md): the tf_keras LSTM fuses into one
UNIDIRECTIONAL_SEQUENCE_LSTM in float and int8. GRU and SimpleRNN have no fused TFLite op: in
float they become a WHILE loop; int8 of the WHILE form crashes the calibrator, so the int8 model
we can deploy is the unrolled graph (every time step spelled out). Each attempt is recorded in
conversion.json with its outcome, so the impossible variants are stated, not hidden.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tinyrnn.convert.isolate import ChildResult, run_isolated
from tinyrnn.convert.tflite_info import TFLiteInfo, inspect_file
from tinyrnn.core.buildtree import ModelFolder, read_json, write_bytes_atomic, write_json

CALIBRATION_FILE = "calibration.npy"
FUSED_LSTM = "UNIDIRECTIONAL_SEQUENCE_LSTM"


class ConversionError(RuntimeError):
    """A conversion failed or produced a graph we cannot deploy; the message says which."""


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_fused_lstm(info: TFLiteInfo, source: str) -> None:
    """An int8 LSTM must be the single fused op; a WHILE loop means the wrong Keras was used."""
    if "WHILE" in info.ops:
        raise ConversionError(
            f"{source}: the LSTM converted to a WHILE loop, not {FUSED_LSTM} (ops: {info.op_set}). "
            "Only the Keras 2 (tf_keras) LSTM fuses in TF 2.21: build the model with tf_keras, "
            "or load Keras 3 LSTM weights into a tf_keras LSTM of the same shape"
        )
    if FUSED_LSTM not in info.ops:
        raise ConversionError(f"{source}: no {FUSED_LSTM} op in the model (ops: {info.op_set})")


# --- child side -----------------------------------------------------------------------------

def convert_job(model_dir: str, out_path: str, quantize: str, unroll: bool) -> dict:
    """Runs in the child: rebuild with batch 1 (and unrolled if asked), convert, write the file."""
    from tinyrnn.train.fit import load_model
    from tinyrnn.train.models import build_classifier

    mdir = Path(model_dir)
    cfg = ModelFolder(mdir).config()
    train = cfg["train"]
    trained = load_model(mdir)
    # A fixed batch of 1 is what lets the converter emit the fused LSTM with static shapes.
    model = build_classifier(
        train["cell"], train["units"], train["layers"], cfg["steps"], cfg["channels"],
        cfg["num_classes"], batch_size=1, unroll=unroll,
    )
    model.set_weights(trained.get_weights())
    calibration = np.load(mdir / CALIBRATION_FILE) if quantize == "int8" else None
    data = convert_keras(model, quantize, calibration)
    write_bytes_atomic(Path(out_path), data)
    return {"bytes": len(data)}


def convert_keras(model, quantize: str, calibration: np.ndarray | None = None) -> bytes:
    """A (batch-1) tf_keras model -> .tflite bytes, float or full-integer int8."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize == "int8":
        from tinyrnn.core.tflite_int8 import configure_int8

        configure_int8(converter, calibration)
    elif quantize != "float":
        raise ValueError(f"unknown quantization {quantize!r}")
    return zero_unreferenced_buffers(converter.convert())


def zero_unreferenced_buffers(data: bytes) -> bytes:
    """Zero the bytes of buffers no tensor or metadata entry refers to.

    TF 2.21's int8 LSTM conversion leaves one such buffer ([units] bytes) holding uninitialized
    memory, so the same model and calibration gave different bytes from run to run
    (docs/toolchain-facts.md). Nothing reads an unreferenced buffer; zeroing it makes the file
    reproducible without changing what any interpreter computes."""
    from tinyrnn.convert.tflite_info import load_model

    model = load_model(data)
    used = {model.Metadata(i).Buffer() for i in range(model.MetadataLength())}
    for s in range(model.SubgraphsLength()):
        sg = model.Subgraphs(s)
        used |= {sg.Tensors(i).Buffer() for i in range(sg.TensorsLength())}
    out = bytearray(data)
    for i in range(model.BuffersLength()):
        buf = model.Buffers(i)
        if i in used or buf.DataLength() == 0:
            continue
        field = buf._tab.Offset(4)  # Buffer.data: the first field of the table
        start = buf._tab.Vector(field)
        out[start:start + buf._tab.VectorLen(field)] = bytes(buf._tab.VectorLen(field))
    return bytes(out)


def fused_lstm_int8(fm, calibration: np.ndarray) -> bytes:
    """int8 .tflite of an LSTM classifier read by convert/keras_model.py (tf_keras or Keras 3).

    TF 2.21 fuses only the tf_keras LSTM into UNIDIRECTIONAL_SEQUENCE_LSTM, the kernel TFLM runs
    and the tinyrnn C matches bit for bit; both Kerases store LSTM weights alike, so the model is
    rebuilt as a batch-1 tf_keras model with the same weights and converted."""
    from tinyrnn.convert.keras_model import to_tf_keras
    from tinyrnn.convert.tflite_info import inspect_tflite

    data = convert_keras(to_tf_keras(fm, batch_size=1), "int8", calibration)
    assert_fused_lstm(inspect_tflite(data, "lstm"), "the int8 LSTM")
    return data


# --- parent side ----------------------------------------------------------------------------

def convert_many_job(model_dir: str, jobs: list[list]) -> dict:
    """Child side: several conversions in one process, to pay TF's import once."""
    return {key: convert_job(model_dir, out_path, quantize, unroll)
            for key, out_path, quantize, unroll in jobs}


@dataclass(frozen=True)
class Variant:
    key: str
    filename: str
    quantize: str
    unroll: bool
    # Known to crash TF 2.21's converter: attempted alone, and only when asked.
    crash_prone: bool = False

    @property
    def label(self) -> str:
        return f"{self.quantize}{' unrolled' if self.unroll else ''}"


def variants_for(cell: str) -> list[Variant]:
    """Every form TF 2.21 might give for the cell, in the order they are attempted."""
    if cell == "lstm":
        return [Variant("float", "float.tflite", "float", False),
                Variant("int8", "int8.tflite", "int8", False)]
    return [
        Variant("float", "float.tflite", "float", False),
        Variant("int8", "int8.tflite", "int8", True),
        Variant("int8_while", "int8_while.tflite", "int8", False, crash_prone=True),
    ]


def graph_kind(info: TFLiteInfo) -> str:
    if FUSED_LSTM in info.ops:
        return "fused"
    if "WHILE" in info.ops:
        return "while"
    return "unrolled"


def _record_success(model_dir: Path, v: Variant, seconds: float) -> dict:
    info = inspect_file(model_dir / v.filename)
    entry = {"file": v.filename, "quantize": v.quantize, "unroll": v.unroll,
             "seconds": round(seconds, 1), "status": "ok", "bytes": info.bytes,
             "graph": graph_kind(info), "op_counts": info.op_counts, "tensors": info.tensors,
             "constant_bytes_by_dtype": info.constant_bytes_by_dtype,
             "inputs": [asdict(q) for q in info.inputs],
             "outputs": [asdict(q) for q in info.outputs]}
    print(f"[convert] {model_dir.name}: {v.label}: {info.bytes} bytes, {len(info.ops)} ops "
          f"({entry['graph']})", flush=True)
    return entry


def _record_failure(model_dir: Path, v: Variant, res: ChildResult) -> dict:
    (model_dir / v.filename).unlink(missing_ok=True)
    entry = {"file": v.filename, "quantize": v.quantize, "unroll": v.unroll,
             "seconds": round(res.seconds, 1), "status": "crashed" if res.crashed else "failed",
             "error": res.error.splitlines()[0], "detail": res.error[-800:]}
    print(f"[convert] {model_dir.name}: {v.label}: {entry['status']}: {entry['error']}",
          flush=True)
    return entry


def _convert_alone(model_dir: Path, v: Variant, timeout: float) -> dict:
    res = run_isolated("tinyrnn.convert.tflite_export:convert_job", timeout=timeout,
                       model_dir=str(model_dir), out_path=str(model_dir / v.filename),
                       quantize=v.quantize, unroll=v.unroll)
    return _record_success(model_dir, v, res.seconds) if res.ok else \
        _record_failure(model_dir, v, res)


def convert_model(model_dir: Path, force: bool = False, probe_crashes: bool = True,
                  timeout: float = 900.0) -> dict:
    """Attempt every variant for the model's cell; write conversion.json; return its record.

    The safe variants share one child; if it dies, each is retried alone so the failure is
    pinned on the right one. Crash-prone variants (int8 of a WHILE loop) run alone, and only
    with ``probe_crashes``. A failed variant leaves no file behind. The int8 LSTM must come out
    fused, or a ConversionError is raised after the record is written.
    """
    model_dir = Path(model_dir)
    folder = ModelFolder(model_dir)
    cell = folder.cell()
    record_path = folder.conversion_json
    source_hash = _file_sha256(folder.keras)
    if not force and record_path.is_file():
        old = read_json(record_path)
        if old.get("source_sha256") == source_hash:
            print(f"[convert] {model_dir.name}: up to date, skipping")
            return old
    variants = variants_for(cell)
    safe = [v for v in variants if not v.crash_prone]
    print(f"[convert] {model_dir.name}: {', '.join(v.label for v in safe)} ...", flush=True)
    res = run_isolated(
        "tinyrnn.convert.tflite_export:convert_many_job", timeout=timeout, model_dir=str(model_dir),
        jobs=[[v.key, str(model_dir / v.filename), v.quantize, v.unroll] for v in safe],
    )
    entries: dict[str, dict] = {}
    for v in safe:
        entries[v.key] = (_record_success(model_dir, v, res.seconds / len(safe)) if res.ok
                          else _convert_alone(model_dir, v, timeout))
    for v in variants:
        if v.crash_prone:
            if probe_crashes:
                print(f"[convert] {model_dir.name}: {v.label} (known to crash TF 2.21) ...",
                      flush=True)
                entries[v.key] = _convert_alone(model_dir, v, timeout)
            else:
                entries[v.key] = {"status": "skipped", "quantize": v.quantize,
                                  "unroll": v.unroll,
                                  "error": "not attempted (crashes TF 2.21; probed on seed 0)"}
    record = {"source_sha256": source_hash, "cell": cell,
              "variants": {v.key: entries[v.key] for v in variants}}
    write_json(record_path, record)
    if cell == "lstm":
        int8 = record["variants"]["int8"]
        if int8["status"] != "ok":
            raise ConversionError(f"{model_dir.name}: int8 LSTM conversion {int8['status']}: "
                                  f"{int8['error']}")
        assert_fused_lstm(inspect_file(folder.int8_tflite), str(folder.int8_tflite))
    return record
