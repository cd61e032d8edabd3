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

import ctypes
import errno
import fcntl
import io
import json
import os
import shutil
import signal
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


def temp_path(path: Path, suffix: str = "") -> Path:
    """The one naming rule for a file being written: hidden, beside its target, never read.

    ``.<name>.<pid>.tmp<suffix>``: readers open artifacts by their own names only, so a
    temporary left behind by a killed process is never trusted (``suffix`` for writers such as
    Keras that insist on an extension)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.tmp{suffix}")


def is_temporary(path: Path) -> bool:
    """True for a leftover of an interrupted write (``temp_path``, ``write_bytes_atomic``, a
    compiled folder's temporary or replaced copy) or a file inside one."""
    return any(part.startswith(".") and (".tmp" in part or ".old-" in part)
               for part in Path(path).parts)


def commit(tmp: Path, path: Path) -> None:
    """Publish a finished temporary (a file or a folder) under its artifact name, atomically.

    Every write into the build tree ends here or in ``write_bytes_atomic``, so the fault hook
    (``TINYRNN_FAULT_WRITE``) sees each of them."""
    fault_point(path, "before")
    os.replace(tmp, path)
    fault_point(path, "after")


def commit_folder(tmp: Path, path: Path) -> None:
    """Publish a finished temporary folder under ``path``, replacing a folder there atomically.

    A folder cannot be renamed over a non-empty one, and moving the old one aside first leaves a
    moment with no folder at all (a kill then loses a finished result). Linux swaps the two in
    one step (renameat2 RENAME_EXCHANGE); the old contents then sit in ``tmp`` and are removed.
    Elsewhere (or on a file system without the flag) the two renames are the fallback."""
    tmp, path = Path(tmp), Path(path)
    if not path.exists():
        commit(tmp, path)
        return
    fault_point(path, "before")
    if not _exchange(tmp, path):
        old = temp_path(path, ".old")
        os.replace(path, old)
        os.replace(tmp, path)
        tmp = old
    fault_point(path, "after")
    shutil.rmtree(tmp, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


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
            if FAULT_ENV in os.environ or FAULT_LOG_ENV in os.environ:  # half on disk at the fault
                f.write(data[: len(data) // 2])
                f.flush()
                fault_point(path, "before")
                f.write(data[len(data) // 2:])
            else:
                f.write(data)
        os.replace(tmp, path)
        fault_point(path, "after")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- fault injection: interrupt a step at its n-th write (host_tests/test_interrupted_steps.py)

FAULT_ENV = "TINYRNN_FAULT_WRITE"  # "<n>:<kill|int>[:<before|after>]"
FAULT_LOG_ENV = "TINYRNN_FAULT_LOG"  # file listing every write, shared by child processes
_FAULT_SIGNALS = {"kill": signal.SIGKILL, "int": signal.SIGINT}


def fault_point(path: Path, stage: str) -> None:
    """Count build-tree writes and signal the process group at the chosen one.

    "before": the temporary holds half its bytes (or all, for ``commit``) and the artifact is
    not replaced yet; "after": it is. Writes are numbered at "before" in a log file so child
    processes (conversions) share one count. The whole process group is signalled, as a
    terminal's Ctrl-C or a killed job would: start the command in its own session. Costs
    nothing unless one of the two variables is set."""
    log = os.environ.get(FAULT_LOG_ENV)
    spec = os.environ.get(FAULT_ENV)
    if not log and not spec:
        return
    if log is None:
        raise RuntimeError(f"{FAULT_ENV} needs {FAULT_LOG_ENV} (the shared write count)")
    with open(log, "a+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        if stage == "before":
            f.write(f"{path}\n")
            f.flush()
        f.seek(0)
        count = sum(1 for _ in f)
    if not spec:
        return
    n, how, *where = spec.split(":")
    if count == int(n) and stage == (where[0] if where else "before"):
        os.killpg(os.getpgrp(), _FAULT_SIGNALS[how])


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_figure(path: Path, fig: Any, **savefig: Any) -> None:
    """A matplotlib figure as an atomic write (savefig straight to the path leaves half a PNG)."""
    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lstrip("."), **savefig)
    write_bytes_atomic(path, buf.getvalue())


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))
