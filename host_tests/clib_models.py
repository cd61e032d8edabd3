"""Small model folders for the C-library tests, made without training.

LSTM: a zoo .tflite (aot_zoo.py, converted by TF once and cached). GRU: random float weights
through tinyrnn's own quantizer (test_rnn_int8_exact.random_float_model). Each folder has what
a trained folder has for deployment (core/buildtree.py names): the deployable int8 model,
normalization.json with non-trivial mean/std, and config.json with class names.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from aot_zoo import ZOO, ensure_models

from tinyrnn.core.buildtree import ModelFolder, write_json

LSTM_ZOO = "t10_c3_u8"
GRU_SPEC = ("gru", True, 12, 4, 7, 5, 1, 2.0)  # cell, reset_after, T, C, units, K, layers, scale


def _metadata(folder: ModelFolder, channels: int, classes: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    # Raw sensor units: offsets of tens and spreads from 0.2 to 30, as accelerometers and
    # gyroscopes give; normalization must move them to unit scale before quantization.
    mean = rng.uniform(-40, 40, channels)
    std = rng.uniform(0.2, 30, channels)
    write_json(folder.normalization_json, {"mean": mean.tolist(), "std": std.tolist()})
    write_json(folder.config_json, {"class_names": [f"cls{seed}_{k}" for k in range(classes)],
                                    "steps": None, "channels": channels,
                                    "num_classes": classes})


def lstm_folder(root: Path, name: str = "demo-lstm") -> ModelFolder:
    folder = ModelFolder(Path(root) / name)
    folder.path.mkdir(parents=True, exist_ok=True)
    tflite = ensure_models({LSTM_ZOO: ZOO[LSTM_ZOO]})[LSTM_ZOO]
    shutil.copyfile(tflite, folder.int8_tflite)
    _, C, _, K, *_ = ZOO[LSTM_ZOO]
    _metadata(folder, C, K, seed=1)
    return folder


def gru_folder(root: Path, name: str = "demo-gru") -> ModelFolder:
    from test_rnn_int8_exact import random_float_model

    from tinyrnn.convert.rnn_quant import quantize_float_model
    from tinyrnn.convert.rnn_tflite import to_tflite

    folder = ModelFolder(Path(root) / name)
    folder.path.mkdir(parents=True, exist_ok=True)
    _, _, T, C, _, K, _, _ = GRU_SPEC
    calib = np.random.default_rng(1).normal(0, 1, (32, T, C)).astype(np.float32)
    folder.int8_custom_tflite.write_bytes(
        to_tflite(quantize_float_model(random_float_model(GRU_SPEC), calib, name=name)))
    _metadata(folder, C, K, seed=2)
    return folder


def raw_windows(folder: ModelFolder, n: int, seed: int) -> np.ndarray:
    """Raw float32 sensor windows [n, T, C] around the folder's mean, a few std wide (some
    beyond the int8 range once normalized, so clamping is exercised)."""
    from tinyrnn.convert.aot.graph import read_tflite
    from tinyrnn.convert.aot.plan import lower

    plan = lower(read_tflite(folder.deployable_tflite()))
    norm = folder.normalization()
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, (n, plan.steps, plan.channels))
    return (z * np.asarray(norm["std"]) + np.asarray(norm["mean"])).astype(np.float32)


def python_classes(folder: ModelFolder, raw: np.ndarray) -> np.ndarray:
    """The host pipeline's prediction for raw windows: normalize (train/normalization.py),
    quantize (core/quantization.py), run the int8 model in an independent reference (TFLite
    Micro's interpreter for the LSTM, the numpy reference for the GRU), argmax."""
    from tinyrnn.convert.aot.graph import read_tflite
    from tinyrnn.convert.aot.plan import lower
    from tinyrnn.core.quantization import quantize
    from tinyrnn.train.normalization import Normalization

    tflite = folder.deployable_tflite()
    plan = lower(read_tflite(tflite))
    x = Normalization.from_json(folder.normalization()).apply(raw)
    q = quantize(x, plan.input_scale, plan.input_zp)
    if tflite == folder.int8_custom_tflite:
        from tinyrnn.convert.rnn_reference import run_windows

        out = run_windows(plan, q)
    else:
        from tflite_micro import runtime

        interp = runtime.Interpreter.from_bytes(tflite.read_bytes(), arena_size=1 << 20)
        out = []
        for w in q:
            interp.reset()  # TFLM keeps LSTM state across invoke(); each window starts fresh
            interp.set_input(w[None], 0)
            interp.invoke()
            out.append(interp.get_output(0).reshape(-1).copy())
        out = np.stack(out)
    return np.argmax(out, axis=1)
