"""Where every artifact lives, and how it is written so a failed step never destroys a result.

Layout (all under one git-ignored root, default ``build/``, overridden by ``TINYRNN_BUILD``)::

    build/models/<model name>/      one folder per trained model (ModelFolder)
        model.keras                 trained tf_keras model
        config.json                 data set, cell, units, layers, seed, epochs asked for
        normalization.json          per-channel mean/std fitted on the training split
        history.json, metrics.json  training curves and final float accuracy
        float.tflite, int8.tflite   conversions (int8 only where TF can make it)
        int8_custom.tflite          tinyrnn's own int8 GRU/SimpleRNN (custom ops)
        conversion.json             what each conversion produced or why it failed
        card.json                   model card: params, bytes, ops, MACs, TFLM arena
        evaluation.json             accuracy of every runtime and their agreement
        tflm/                       TFLite Micro C arrays (model_data.h/.cc)
        tinyrnn/                    tinyrnn C for the deployable int8 model
        tinyrnn-harness/            the same C with the default symbol prefix, for the firmware
                                    harness and the host build, when tinyrnn/ has another prefix
        tinyrnn-host/               that C built for this host (evaluation; disposable)
        test_windows.npz            Python API folders: the x_test (normalized) and y_test the
                                    user gave, streamed by the device step (no data set here)
    build/report/                   report.md and its PNG plots
    build/firmware/                 PlatformIO build directories
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BUILD_ENV = "TINYRNN_BUILD"


def build_root(explicit: Path | str | None = None) -> Path:
    """The build tree root: an explicit --build, else $TINYRNN_BUILD, else ./build (the one rule)."""
    if explicit is not None:
        return Path(explicit)
    return Path(os.environ.get(BUILD_ENV) or "build")


DEFAULT_ROOT = build_root()


@dataclass(frozen=True)
class ModelFolder:
    """One trained model's folder: every file name lives here and nowhere else."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    keras = property(lambda self: self.path / "model.keras")
    calibration_npy = property(lambda self: self.path / "calibration.npy")
    config_json = property(lambda self: self.path / "config.json")
    normalization_json = property(lambda self: self.path / "normalization.json")
    metrics_json = property(lambda self: self.path / "metrics.json")
    history_json = property(lambda self: self.path / "history.json")
    sweep_json = property(lambda self: self.path / "sweep.json")
    card_json = property(lambda self: self.path / "card.json")
    evaluation_json = property(lambda self: self.path / "evaluation.json")
    conversion_json = property(lambda self: self.path / "conversion.json")
    float_tflite = property(lambda self: self.path / "float.tflite")
    int8_tflite = property(lambda self: self.path / "int8.tflite")
    int8_custom_tflite = property(lambda self: self.path / "int8_custom.tflite")
    tflm_dir = property(lambda self: self.path / "tflm")
    tinyrnn_dir = property(lambda self: self.path / "tinyrnn")
    harness_c_dir = property(lambda self: self.path / "tinyrnn-harness")
    host_build_dir = property(lambda self: self.path / "tinyrnn-host")
    test_windows_npz = property(lambda self: self.path / "test_windows.npz")

    def is_trained(self) -> bool:
        return self.metrics_json.is_file()

    def config(self) -> dict:
        return read_json(self.config_json)

    def normalization(self) -> dict:
        return read_json(self.normalization_json)

    def metrics(self) -> dict:
        return read_json(self.metrics_json)

    def card(self) -> dict | None:
        return read_json(self.card_json) if self.card_json.is_file() else None

    def evaluation(self) -> dict | None:
        return read_json(self.evaluation_json) if self.evaluation_json.is_file() else None

    def cell(self) -> str:
        return self.config()["train"]["cell"]

    def deployable_tflite(self) -> Path | None:
        return deployable_tflite(self.path)

    def write_test_windows(self, x: Any, y: Any | None) -> Path:
        """test_windows.npz: ``x_test`` float32 [N, T, C] as the model sees them (normalized)
        and, when given, ``y_test`` int64 [N]. Fixed zip timestamps: same windows, same bytes."""
        import io
        import zipfile

        import numpy as np

        arrays = {"x_test": np.ascontiguousarray(x, dtype=np.float32)}
        if y is not None:
            arrays["y_test"] = np.ascontiguousarray(y, dtype=np.int64)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for key, arr in arrays.items():
                item = io.BytesIO()
                np.lib.format.write_array(item, arr, allow_pickle=False)
                info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, item.getvalue())
        write_bytes_atomic(self.test_windows_npz, buf.getvalue())
        return self.test_windows_npz

    def test_windows(self) -> tuple[Any, Any | None]:
        """(x_test, y_test or None) from test_windows.npz; FileNotFoundError when absent."""
        import numpy as np

        with np.load(self.test_windows_npz, allow_pickle=False) as data:
            return data["x_test"], (data["y_test"] if "y_test" in data.files else None)


def deployable_tflite(model_dir: Path) -> Path | None:
    """The int8 model that goes on the device, for every caller (CLI, pipeline, device, report).

    GRU and SimpleRNN: tinyrnn's custom-op ``int8_custom.tflite`` (TF's ``int8.tflite`` for them
    is the unrolled graph, hundreds of KB). LSTM: TF's fused ``int8.tflite``."""
    for name in ("int8_custom.tflite", "int8.tflite"):
        if (model_dir / name).is_file():
            return model_dir / name
    return None


@dataclass(frozen=True)
class BuildTree:
    root: Path

    @classmethod
    def resolve(cls, explicit: Path | str | None = None) -> BuildTree:
        return cls(build_root(explicit))

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def report(self) -> Path:
        return self.root / "report"

    @property
    def firmware(self) -> Path:
        return self.root / "firmware"

    def model(self, name: str) -> ModelFolder:
        return ModelFolder(self.models / name)


def find_model_folder(model: str | Path, root: Path | str | None = None) -> ModelFolder:
    """MODEL as commands take it: a model folder's path, else a model name in the build tree."""
    path = Path(model)
    if path.is_dir():
        return ModelFolder(path)
    candidate = BuildTree.resolve(root).model(str(model))
    if candidate.path.is_dir():
        return candidate
    raise FileNotFoundError(f"no model folder {str(model)!r} (nor {candidate.path}): train it "
                            "(`tinyrnn train`, `tinyrnn list` shows what exists) or pass its path")


def models_dir(root: Path = DEFAULT_ROOT) -> Path:
    return BuildTree(root).models


def model_dir(name: str, root: Path = DEFAULT_ROOT) -> Path:
    return BuildTree(root).model(name).path


def report_dir(root: Path = DEFAULT_ROOT) -> Path:
    return BuildTree(root).report


def trained_models(root: Path = DEFAULT_ROOT, names: list[str] | None = None) -> list[Path]:
    """Trained model folders (those with metrics.json), all or the ones named."""
    base = models_dir(root)
    if names:
        dirs = [base / n for n in names]
        missing = [d.name for d in dirs if not (d / "metrics.json").is_file()]
        if missing:
            raise FileNotFoundError(
                f"no trained model named {', '.join(missing)} under {base}; "
                "run `tinyrnn train` first (`tinyrnn list` shows what exists)")
        return dirs
    return sorted(d for d in base.glob("*") if (d / "metrics.json").is_file())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename: readers see old or new, never half.

    The file gets the permissions a plain ``open()`` would (0666 minus the umask), not
    mkstemp's private 0600, so artifacts stay readable by the firmware build and other users."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))
