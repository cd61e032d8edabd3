"""Python API: your own trained Keras model -> int8 model, C for two runtimes, card, evaluation.

One call does every step::

    import tinyrnn
    result = tinyrnn.export_model(model, calibration=x_cal, out="my_model/",
                                  x_test=x_test, y_test=y_test)
    print(result.summary())

``model`` is a trained tf_keras or Keras 3 classifier (LSTM, GRU with reset_after True or
False, or SimpleRNN layers, stacked or not, then a Dense head with softmax or linear output;
Dropout-style layers are skipped). ``calibration`` holds windows exactly as the model sees them
(after your own normalization), shape [N, steps, channels]; a few hundred representative ones
suffice. No training step and no build tree are involved: ``out`` becomes a model folder with

    int8.tflite (LSTM) or int8_custom.tflite (GRU / SimpleRNN)   the deployable int8 model
    tflm/model_data.h, model_data.cc    that model as a TFLite Micro C array
    tinyrnn/<prefix>.h, .c, summary.json    the tinyrnn C (AOT compiler, convert/aot;
                                        prefix tinyrnn_model unless symbol_prefix is given)
    card.json                           parameters, bytes, MACs, TFLM arena, tinyrnn RAM/flash
    evaluation.json                     with x_test: float vs int8 accuracy and agreement
    test_windows.npz                    with x_test: those windows (and y_test), for the device

The folder then goes to a board, emulated or real, exactly like a trained model's folder::

    dev = tinyrnn.api.device_eval("my_model/", board="mps2-an386")   # or: tinyrnn device eval
    print(dev.summary())         # device vs host accuracy, windows whose outputs differ, bytes

How each cell is quantized: an LSTM (from either Keras) is rebuilt as a batch-1 tf_keras LSTM
with the same weights (both Kerases store them alike) and converted by TF's int8 converter into
the fused UNIDIRECTIONAL_SEQUENCE_LSTM that TFLM runs and the tinyrnn C matches bit for bit.
GRU and SimpleRNN go through tinyrnn's own quantizer (convert/rnn_quant.py; TF 2.21 has no
fused int8 op for them) into a .tflite with one custom op per layer, which the tinyrnn C matches
bit for bit against the numpy reference (convert/rnn_reference.py) and the firmware's TFLM build
runs through its registered custom ops. Same model and windows -> byte-identical files.

Each step is also a function of its own (``inspect_model``, ``quantize``, ``to_c_array``,
``compile_c``, ``model_card``, ``evaluate``, ``device_eval``) returning a small record with paths
and figures. ``symbol_prefix`` names the generated C (``<prefix>.h``, ``<prefix>_invoke``, ...)
so several models link into one program (docs/c-library.md); the device step and the host
evaluation build the same model with the default names the firmware harness uses.
TensorFlow is imported only inside these functions, never when ``tinyrnn`` is imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyrnn.convert.aot.compiler import sanitize_name
from tinyrnn.convert.aot.symbols import DEFAULT_PREFIX, Symbols
from tinyrnn.convert.keras_model import (
    FloatModel,
    KerasModelError,
    check_windows,
    float_probabilities,
    read_keras_model,
)
from tinyrnn.convert.rnn_int8 import RecurrentQuantError
from tinyrnn.core.buildtree import ModelFolder, deployable_tflite, write_bytes_atomic, write_json

__all__ = [
    "CArray",
    "Card",
    "CompiledC",
    "DeviceEvaluation",
    "Evaluation",
    "Export",
    "KerasModelError",
    "QuantizedFile",
    "RecurrentQuantError",
    "compile_c",
    "device_eval",
    "evaluate",
    "export_model",
    "inspect_model",
    "model_card",
    "quantize",
    "to_c_array",
]

# The rebuilt/read model must reproduce the Keras model's own float outputs this closely on the
# calibration windows (float32 Keras vs float64 numpy: ~1e-6 in practice); more means a layer was
# read wrongly (e.g. a custom layer passed for a no-op), and quantizing it would be meaningless.
FLOAT_CHECK_TOLERANCE = 1e-3
FLOAT_CHECK_WINDOWS = 64
# TFLM's Python interpreter on the host: an arena far above any model the runtime accepts.
REFERENCE_ARENA_BYTES = 4 << 20


def _say(msg: str, verbose: bool) -> None:
    if verbose:
        print(f"[tinyrnn] {msg}", flush=True)


@dataclass(frozen=True)
class QuantizedFile:
    path: Path              # the deployable int8 .tflite
    cell: str               # lstm, gru or rnn
    method: str             # "tf fused LSTM" or "tinyrnn quantizer (custom ops)"
    bytes: int
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int
    float_check_max_diff: float   # |Keras - tinyrnn's float reading| on calibration windows


@dataclass(frozen=True)
class CArray:
    header: Path
    source: Path
    bytes: int


@dataclass(frozen=True)
class CompiledC:
    dir: Path
    files: tuple[Path, ...]
    ram_bytes: int
    arena_bytes: int
    state_bytes: int
    weight_bytes: int
    flash_estimate_bytes: int
    macs: int


@dataclass(frozen=True)
class Card:
    path: Path
    card: dict


@dataclass(frozen=True)
class Evaluation:
    path: Path
    windows: int
    reference: str                  # "tflm_int8" (LSTM) or "numpy_int8" (GRU / SimpleRNN)
    windows_identical: float        # tinyrnn C output bytes == reference bytes, fraction
    float_int8_agreement: float     # same predicted class, Keras float vs tinyrnn C
    float_accuracy: float | None    # None without y_test
    int8_accuracy: float | None
    result: dict


@dataclass(frozen=True)
class DeviceEvaluation:
    path: Path                      # <folder>/device-<board>.json (the whole result)
    board: str                      # PlatformIO environment, e.g. mps2-an386
    cpu: str
    emulated: bool
    windows: int
    windows_differ: int             # windows whose int8 outputs differ, device vs host build
    accuracy: float | None          # on the device; None without y_test
    host_accuracy: float | None     # host build of the same C, same windows
    flash_bytes: int | None
    ram_bytes: int | None
    counter: str                    # "instructions (emulated)" on QEMU, "cycles" on a counter
    per_inference: float            # mean count per window
    result: dict

    def summary(self) -> str:
        from tinyrnn.deploy.device_eval import format_table

        return format_table(self.result)


@dataclass(frozen=True)
class Export:
    out: Path
    quantized: QuantizedFile
    c_array: CArray
    compiled: CompiledC
    card: Card
    evaluation: Evaluation | None

    def summary(self) -> str:
        q, c = self.quantized, self.compiled
        lines = [f"{self.out}: {q.cell} -> {q.path.name} ({q.bytes} B, {q.method})",
                 f"  tinyrnn C: RAM {c.ram_bytes} B, flash ~{c.flash_estimate_bytes} B, "
                 f"{c.macs} MACs per window",
                 f"  TFLM C array: {self.c_array.source.name} ({self.c_array.bytes} B)"]
        e = self.evaluation
        if e is not None:
            acc = "" if e.float_accuracy is None else (
                f"accuracy float {e.float_accuracy:.4f} int8 {e.int8_accuracy:.4f}, ")
            lines.append(f"  {e.windows} test windows: {acc}float~int8 agreement "
                         f"{e.float_int8_agreement:.4f}, C == {e.reference} on "
                         f"{100 * e.windows_identical:.1f}% of windows")
        return "\n".join(lines)


def inspect_model(model) -> FloatModel:
    """Read a tf_keras / Keras 3 model; KerasModelError names any layer tinyrnn cannot run."""
    return read_keras_model(model)


def _keras_predict(model, x: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(x, batch_size=256, verbose=0), np.float64)


def quantize(model, calibration, out: Path | str, *, name: str | None = None,
             verbose: bool = True) -> QuantizedFile:
    """Write the deployable int8 .tflite of ``model`` into the folder ``out``.

    Calibration windows are checked (shape [N, steps, channels], finite) and used for every
    scale. Before quantizing, tinyrnn's reading of the model must reproduce the model's own
    float outputs on them (FLOAT_CHECK_TOLERANCE), so a misread layer cannot go unnoticed."""
    from tinyrnn.convert.tflite_info import inspect_tflite

    fm = inspect_model(model)
    calib = check_windows(calibration, fm.steps, fm.channels)
    probe = calib[:FLOAT_CHECK_WINDOWS]
    diff = float(np.abs(_keras_predict(model, probe) - float_probabilities(fm, probe)).max())
    if not diff <= FLOAT_CHECK_TOLERANCE:
        raise KerasModelError(
            f"model {model.name!r}: its own float output and tinyrnn's reading of its layers "
            f"differ by {diff:.3g} (> {FLOAT_CHECK_TOLERANCE}) on the calibration windows; a "
            "layer does something at inference that tinyrnn does not model")
    folder = ModelFolder(Path(out))
    name = sanitize_name(name or model.name)
    _say(f"{name}: quantizing the {fm.cell.upper()} on {len(calib)} calibration windows", verbose)
    if fm.cell == "lstm":
        from tinyrnn.convert.tflite_export import fused_lstm_int8

        data, path, stale, method = (fused_lstm_int8(fm, calib), folder.int8_tflite,
                                     folder.int8_custom_tflite, "tf fused LSTM")
    else:
        from tinyrnn.convert.rnn_quant import quantize_float_model
        from tinyrnn.convert.rnn_tflite import to_tflite

        data, path, stale, method = (to_tflite(quantize_float_model(fm, calib, name=name)),
                                     folder.int8_custom_tflite, folder.int8_tflite,
                                     "tinyrnn quantizer (custom ops)")
    write_bytes_atomic(path, data)
    stale.unlink(missing_ok=True)  # the deployable rule must not find an older model's file
    assert deployable_tflite(folder.path) == path
    info = inspect_tflite(data, path.name)
    inp, outp = info.inputs[0], info.outputs[0]
    return QuantizedFile(path, fm.cell, method, len(data), float(inp.scale), int(inp.zero_point),
                         float(outp.scale), int(outp.zero_point), diff)


def _meta(fm: FloatModel, class_names: Sequence[str] | None, normalization: dict | None
          ) -> tuple[list[str], dict]:
    names = [str(c) for c in class_names] if class_names is not None else \
        [f"class_{i}" for i in range(fm.num_classes)]
    if len(names) != fm.num_classes:
        raise ValueError(f"{len(names)} class names given; the model has {fm.num_classes} "
                         "outputs")
    if normalization is None:
        return names, {"mean": [0.0] * fm.channels, "std": [1.0] * fm.channels}
    try:
        norm = {k: [float(v) for v in normalization[k]] for k in ("mean", "std")}
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError("normalization must be {'mean': [...], 'std': [...]} with one float per "
                         f"channel: {exc!r}") from exc
    if any(len(v) != fm.channels for v in norm.values()) or min(norm["std"]) <= 0:
        raise ValueError(f"normalization needs {fm.channels} means and {fm.channels} stds > 0, "
                         f"got {len(norm['mean'])} and {len(norm['std'])}")
    return names, norm


def _deployable(out: Path | str) -> Path:
    path = deployable_tflite(Path(out))
    if path is None:
        raise FileNotFoundError(f"{out} has no int8 model: call tinyrnn.api.quantize first")
    return path


def to_c_array(model, out: Path | str, *, name: str | None = None,
               class_names: Sequence[str] | None = None,
               normalization: dict | None = None) -> CArray:
    """The deployable .tflite as TFLite Micro's C array (out/tflm/model_data.h/.cc).

    ``normalization`` ({"mean": [...], "std": [...]} per channel) is only written into the
    header for firmware that feeds raw sensor values; calibration and test windows are always
    given already normalized."""
    from tinyrnn.convert.carray import CArrayMeta, write_c_array

    fm = inspect_model(model)
    names, norm = _meta(fm, class_names, normalization)
    tflite = _deployable(out)
    meta = CArrayMeta(sanitize_name(name or model.name), fm.steps, fm.channels, names,
                      norm["mean"], norm["std"])
    header, source = write_c_array(tflite, ModelFolder(Path(out)).tflm_dir, meta)
    return CArray(header, source, tflite.stat().st_size)


def compile_c(model, out: Path | str, *, name: str | None = None,
              class_names: Sequence[str] | None = None,
              normalization: dict | None = None,
              symbol_prefix: str = DEFAULT_PREFIX) -> CompiledC:
    """The tinyrnn C of the deployable model (out/tinyrnn/<prefix>.h/.c), by the AOT compiler."""
    from tinyrnn.convert.compile_folder import compile_model_folder

    fm = inspect_model(model)
    names, norm = _meta(fm, class_names, normalization)
    s = compile_model_folder(Path(out), name=sanitize_name(name or model.name),
                             normalization=norm, class_names=names,
                             symbol_prefix=symbol_prefix)
    c_dir = ModelFolder(Path(out)).tinyrnn_dir
    return CompiledC(c_dir, tuple(sorted(c_dir.iterdir())), s.ram_bytes, s.arena_bytes,
                     s.state_bytes, s.weight_bytes, s.flash_estimate_bytes, s.macs)


def model_card(model, out: Path | str, *, name: str | None = None,
               tflm_arena: bool = True) -> Card:
    """card.json: parameters, MACs, int8 bytes, TFLM arena and the tinyrnn C summary.

    The arena is measured with TFLM itself for the LSTM (a bisection in child processes, about
    ten seconds; ``tflm_arena=False`` skips it); TFLM's host interpreter lacks the GRU/RNN
    custom ops, so their arena is not measured here."""
    from tinyrnn.convert.card import keras_model_card

    fm = inspect_model(model)
    graph = "fused (TF)" if fm.cell == "lstm" else "custom op (tinyrnn quantizer)"
    card = keras_model_card(Path(out), fm, name=sanitize_name(name or model.name), graph=graph,
                            tflm_arena=tflm_arena)
    return Card(ModelFolder(Path(out)).card_json, card)


def _labels(y, n: int, k: int) -> np.ndarray:
    arr = np.asarray(y)
    if arr.shape != (n,) or not np.issubdtype(arr.dtype, np.integer) or \
            (n and (arr.min() < 0 or arr.max() >= k)):
        raise ValueError(f"y_test must be {n} integer class indices in [0, {k}), got shape "
                         f"{arr.shape} dtype {arr.dtype}")
    return arr


def evaluate(model, out: Path | str, x_test, y_test=None, *, verbose: bool = True
             ) -> Evaluation:
    """Run the test windows through Keras (float), the tinyrnn C built for this host (int8)
    and an independent int8 reference (TFLM's interpreter for the LSTM, the numpy reference for
    GRU / SimpleRNN); write out/evaluation.json, and the windows to out/test_windows.npz for
    the device step. Accuracies need ``y_test``."""
    from tinyrnn.convert.compile_folder import harness_c
    from tinyrnn.convert.runtimes import run_tflm, run_tinyrnn
    from tinyrnn.measure.evaluate import compare_runtimes

    fm = inspect_model(model)
    x = check_windows(x_test, fm.steps, fm.channels, "x_test windows")
    y = None if y_test is None else _labels(y_test, len(x), fm.num_classes)
    folder = ModelFolder(Path(out))
    tflite = _deployable(out)
    _say(f"evaluating {len(x)} windows: Keras float, tinyrnn C (host build), int8 reference",
         verbose)
    outputs = {"keras_float": _keras_predict(model, x)}
    mine = run_tinyrnn(harness_c(folder.path), x, folder.host_build_dir).raw
    if fm.cell == "lstm":
        reference = "tflm_int8"
        ref = run_tflm(tflite, x, REFERENCE_ARENA_BYTES).raw
    else:
        from tinyrnn.convert.aot.graph import read_tflite
        from tinyrnn.convert.aot.plan import lower
        from tinyrnn.convert.rnn_reference import quantize_input, run_windows

        reference = "numpy_int8"
        plan = lower(read_tflite(tflite))
        ref = run_windows(plan, quantize_input(plan, x))
    outputs["tinyrnn_int8"] = mine
    outputs[reference] = ref
    preds = {k: np.argmax(v, axis=1) for k, v in outputs.items()}
    lsb = np.abs(mine.astype(np.int32) - ref.astype(np.int32))
    result = {"model": sanitize_name(model.name), "cell": fm.cell, "test_windows": len(x),
              "deployable_int8": tflite.name, "reference_int8": reference,
              **compare_runtimes(preds, y, fm.num_classes),
              "tinyrnn_vs_reference": {"windows_identical": float(np.mean(lsb.max(axis=1) == 0)),
                                       "max_lsb": int(lsb.max(initial=0))}}
    accs = result.get("runtimes", {})
    if accs:
        result["int8_minus_float_points"] = round(
            100 * (accs["tinyrnn_int8"]["accuracy"] - accs["keras_float"]["accuracy"]), 2)
    write_json(folder.evaluation_json, result)
    folder.write_test_windows(x, y)
    ev = Evaluation(folder.evaluation_json, len(x), reference,
                    result["tinyrnn_vs_reference"]["windows_identical"],
                    result["agreement"]["keras_float~tinyrnn_int8"],
                    accs["keras_float"]["accuracy"] if accs else None,
                    accs["tinyrnn_int8"]["accuracy"] if accs else None, result)
    return ev


def export_model(model, calibration, out: Path | str, *, x_test=None, y_test=None,
                 name: str | None = None, class_names: Sequence[str] | None = None,
                 normalization: dict | None = None, tflm_arena: bool = True,
                 symbol_prefix: str = DEFAULT_PREFIX, verbose: bool = True) -> Export:
    """Every step for a user's trained Keras model; see the module docstring for the folder.

    ``x_test`` (normalized windows) adds the host evaluation and the windows ``device_eval``
    streams; ``y_test`` (class indices) adds accuracies to both. ``name`` defaults to the Keras
    model's name; ``symbol_prefix`` names the generated C (default: the harness's names)."""
    out = Path(out)
    if y_test is not None and x_test is None:
        raise ValueError("y_test given without x_test")
    fm = inspect_model(model)  # fail on an unsupported layer before any work
    _meta(fm, class_names, normalization)
    Symbols(symbol_prefix)  # a bad prefix fails here, before any conversion
    q = quantize(model, calibration, out, name=name, verbose=verbose)
    arr = to_c_array(model, out, name=name, class_names=class_names, normalization=normalization)
    _say(f"compiling {q.path.name} to C", verbose)
    c = compile_c(model, out, name=name, class_names=class_names, normalization=normalization,
                  symbol_prefix=symbol_prefix)
    if tflm_arena and fm.cell == "lstm":
        _say("measuring the TFLM arena (TFLM in child processes)", verbose)
    card = model_card(model, out, name=name, tflm_arena=tflm_arena)
    ev = None if x_test is None else evaluate(model, out, x_test, y_test, verbose=verbose)
    result = Export(out, q, arr, c, card, ev)
    _say(result.summary(), verbose)
    return result


def device_eval(export_or_folder: Export | Path | str, board: str = "mps2-an386",
                windows: int | None = None, *, port: str | None = None, timeout: float = 10.0,
                verbose: bool = True) -> DeviceEvaluation:
    """The exported model on a board: the test windows given to ``export_model`` (stored in
    test_windows.npz) streamed through the firmware, every output compared with the host build
    of the same C; writes <folder>/device-<board>.json. The same device step as ``tinyrnn
    device eval`` (deploy/device_eval.py).

    ``board`` is a PlatformIO environment: a QEMU board (built and emulated here, offline) or,
    with ``port``, a real board already flashed with this model. ``windows`` limits the run to
    that many test windows, evenly spread. QEMU counts instructions, not cycles. The firmware
    is built under the build tree's firmware/ (./build, or $TINYRNN_BUILD)."""
    from tinyrnn.deploy.device_eval import run_device_step

    folder = export_or_folder.out if isinstance(export_or_folder, Export) else \
        Path(export_or_folder)
    r = run_device_step(folder, board, port, windows, timeout=timeout, progress=verbose)
    ev = DeviceEvaluation(Path(r["path"]), r["env"], r["cpu"], r["emulated"], r["windows"],
                          r["windows_outputs_differ"], r["accuracy"], r["host_accuracy"],
                          r["flash_bytes"], r["ram_bytes"], r["counter"]["label"],
                          float(r["per_inference"]["mean"]), r)
    _say(ev.summary(), verbose)
    return ev
