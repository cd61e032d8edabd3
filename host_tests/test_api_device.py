"""A user's own Keras model to the device, as a user would do it: built here (seeded random
weights, nothing trained), exported with the Python API, then evaluated on the emulated Cortex-M4
(QEMU mps2-an386) through ``tinyrnn.api.device_eval`` and through ``tinyrnn device eval
<folder>``. Every window's int8 outputs on the device must equal the host build of the same C,
and the device's accuracy must equal the int8 accuracy the API measured on the host (an
independent path: float windows -> the API's quantization -> host-built C). Also: the Keras 3
GRU is exported with a symbol prefix of its own (the device builds the default-prefix copy and
leaves the user's C untouched), the folder goes into an Arduino library zip, and a folder
exported without test windows gets an error naming the fix."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
BOARD = "mps2-an386"
STEPS, CHANNELS, CLASSES = 10, 3, 4
TEST_WINDOWS = 40
# name -> (Keras flavour, cell, units, symbol prefix); the GRU checks a prefix of the user's.
MODELS = {
    "k3_gru": ("keras", "gru", 8, "gesture"),
    "tk_lstm": ("tf_keras", "lstm", 8, None),
}


def _model(name: str, seed: int):
    import importlib

    flavour, cell, units, _ = MODELS[name]
    keras = importlib.import_module(flavour)
    layer = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM}[cell]
    inp = keras.Input((STEPS, CHANNELS))
    x = keras.layers.Dropout(0.2)(layer(units)(inp))
    model = keras.Model(inp, keras.layers.Dense(CLASSES, activation="softmax")(x), name=name)
    rng = np.random.default_rng(seed)
    # Seeded weights, larger on the head so the classes separate as in a trained model.
    model.set_weights([rng.normal(0.0, 1.5 if w.shape[-1] == CLASSES and w.ndim == 2
                                  else 1.0 / np.sqrt(w.shape[0] if w.ndim > 1 else 1),
                                  w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def _windows(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, STEPS, CHANNELS)).astype(np.float32)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict:
    from tinyrnn import export_model

    root = tmp_path_factory.mktemp("api-device")
    out = {}
    for i, (name, (_, _, _, prefix)) in enumerate(MODELS.items()):
        model = _model(name, seed=i)
        x_test = _windows(TEST_WINDOWS, seed=50 + i)
        # Labels: the float model's class, every third one shifted, so accuracy is neither 0
        # nor 1 and an accuracy computed on other windows or predictions would not match.
        y_test = np.argmax(model.predict(x_test, verbose=0), axis=1)
        y_test[::3] = (y_test[::3] + 1) % CLASSES
        kwargs = {"symbol_prefix": prefix} if prefix else {}
        out[name] = export_model(model, _windows(120, seed=i), root / name, x_test=x_test,
                                 y_test=y_test, class_names=["up", "down", "left", "right"],
                                 tflm_arena=False, verbose=False, **kwargs)
    return out


def _c_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / "tinyrnn").iterdir())}


def _check(result: dict, export) -> None:
    assert result["windows"] == TEST_WINDOWS
    assert result["windows_outputs_differ"] == 0
    assert result["windows_predictions_differ"] == 0
    assert result["max_lsb_difference"] == 0
    assert result["accuracy"] == result["host_accuracy"] == export.evaluation.int8_accuracy
    assert 0.0 < result["accuracy"] < 1.0
    assert result["counter"]["label"] == "instructions (emulated)"
    # The card counts the .tflite's int8 weights; the pair-packed kernels add one zero weight
    # per gate row for the odd input width (3 channels), which the ELF holds and the report names.
    rows = {"gru": 3, "lstm": 4}[export.quantized.cell] * 8
    assert result["weight_padding_bytes"] == rows * (CHANNELS % 2)
    assert result["parameter_bytes"]["int8_weights"] == \
        export.card.card["int8_weight_bytes"] + rows * (CHANNELS % 2)
    assert result["parameter_bytes_match_card"]


@pytest.mark.device
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_device_eval_through_the_api(name, exported) -> None:
    from tinyrnn.api import DeviceEvaluation, device_eval

    export = exported[name]
    before = _c_files(export.out)
    ev = device_eval(export, board=BOARD, verbose=False)
    assert isinstance(ev, DeviceEvaluation)
    _check(ev.result, export)
    assert ev.windows_differ == 0 and ev.accuracy == export.evaluation.int8_accuracy
    assert ev.path == export.out / f"device-{BOARD}.json" and ev.path.is_file()
    assert "windows whose outputs differ" in ev.summary()
    # The user's C (with the user's prefix) is what it was; the device ran the harness copy.
    assert _c_files(export.out) == before
    prefix = MODELS[name][3]
    if prefix:
        assert {f"{prefix}.h", f"{prefix}.c"} <= set(before)
        assert (export.out / "tinyrnn-harness" / "tinyrnn_model.h").is_file()


@pytest.mark.device
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_device_eval_through_the_cli(name, exported) -> None:
    export = exported[name]
    proc = subprocess.run([sys.executable, "-m", "tinyrnn", "device", "eval", str(export.out),
                           "--env", BOARD, "--json"], capture_output=True, text=True, cwd=REPO,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout[proc.stdout.index("{"):])
    _check(result, export)


def test_folder_without_test_windows_names_the_fix(exported, tmp_path) -> None:
    from tinyrnn.deploy.device_eval import DeviceEvalError, run_device_step

    folder = tmp_path / "no_windows"
    shutil.copytree(exported["k3_gru"].out, folder)
    (folder / "test_windows.npz").unlink()
    with pytest.raises(DeviceEvalError, match=r"x_test=.*test_windows\.npz"):
        run_device_step(folder, BOARD)
    proc = subprocess.run([sys.executable, "-m", "tinyrnn", "device", "eval", str(folder)],
                          capture_output=True, text=True, cwd=REPO, timeout=300, check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("tinyrnn: error:") and "export_model" in proc.stderr
    assert "x_test" in proc.stderr and "Traceback" not in proc.stderr


def test_test_windows_are_stored_as_given(exported) -> None:
    from tinyrnn.core.buildtree import ModelFolder

    export = exported["tk_lstm"]
    x, y = ModelFolder(export.out).test_windows()
    assert x.dtype == np.float32 and x.shape == (TEST_WINDOWS, STEPS, CHANNELS)
    assert np.array_equal(x, _windows(TEST_WINDOWS, seed=51))
    assert y is not None and len(y) == TEST_WINDOWS
    # Same windows -> same bytes (fixed zip timestamps).
    again = export.out.parent / "again"
    ModelFolder(again).write_test_windows(x, y)
    assert (again / "test_windows.npz").read_bytes() == (export.out / "test_windows.npz").read_bytes()


def test_arduino_export_of_an_api_folder(exported, tmp_path) -> None:
    """The API folder's prefix, class names go into the zip (no config.json to read them from)."""
    from tinyrnn.convert.export_arduino import export_arduino

    gru, lstm = exported["k3_gru"], exported["tk_lstm"]
    lib = export_arduino([gru.out, lstm.out], tmp_path / "lib.zip")
    assert lib.prefixes == ("gesture", "tk_lstm")
    with zipfile.ZipFile(lib.zip_path) as zf:
        names = zf.namelist()
        source = zf.read(next(n for n in names if n.endswith("src/gesture.c"))).decode()
    assert any(n.endswith("src/tk_lstm.h") for n in names)
    assert '"right"' in source and '"class_3"' not in source
    # The same C as the API wrote (same compiler inputs), byte for byte.
    assert source.encode() == (gru.out / "tinyrnn" / "gesture.c").read_bytes()


@pytest.mark.device
@pytest.mark.slow
def test_device_run_takes_the_api_folder(exported, tmp_path) -> None:
    """`tinyrnn device run --model-dir <API folder>` builds the harness C (default prefix) of a
    model exported with a prefix of its own; its outputs equal the host build's."""
    from tinyrnn.convert.aot.hostbuild import HostModel
    from tinyrnn.core.quantization import quantize

    export = exported["k3_gru"]
    out = tmp_path / "run.json"
    proc = subprocess.run([sys.executable, "-m", "tinyrnn", "device", "run", "--model-dir",
                           str(export.out), "--windows", str(export.out / "test_windows.npz"),
                           "--out", str(out)], capture_output=True, text=True, cwd=REPO,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(out.read_text())
    assert got["summary"]["model"] == "k3_gru" and got["summary"]["windows"] == TEST_WINDOWS
    harness = export.out / "tinyrnn-harness"
    summary = json.loads((harness / "summary.json").read_text())
    host = HostModel(harness, tmp_path / "host")
    xq = quantize(_windows(TEST_WINDOWS, seed=50), summary["input_scale"],
                  summary["input_zero_point"])
    want = [host.invoke(w).tolist() for w in xq]
    assert [r["output"] for r in got["results"]] == want
