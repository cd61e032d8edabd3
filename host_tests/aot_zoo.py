"""Test models for the AOT compiler tests, converted once in a child process and cached under
build/test-cache/aot-<hash>/ (keyed by the generating parameters)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# name: (steps, channels, units, classes, lstm layers, weight scale, head)
# head "softmax" = Dense(K, softmax); "mlp" = Dense(16, relu) + Dense(K, softmax);
# "linear" = Dense(K) without softmax. Weight scales > 1 saturate gates and cell clipping.
ZOO: dict[str, tuple[int, int, int, int, int, float, str]] = {
    "t1_c1_u1": (1, 1, 1, 2, 1, 1.0, "softmax"),
    "t5_c1_u1": (5, 1, 1, 2, 1, 1.0, "softmax"),
    "t10_c3_u8": (10, 3, 8, 4, 1, 1.0, "softmax"),
    "t12_c4_u6_l2": (12, 4, 6, 5, 2, 1.0, "softmax"),
    "t20_c6_u32_sat": (20, 6, 32, 7, 1, 3.0, "softmax"),
    "t100_c6_u32": (100, 6, 32, 7, 1, 1.0, "softmax"),
    "t128_c16_u16": (128, 16, 16, 3, 1, 1.5, "softmax"),
    "t30_c16_u64_l2": (30, 16, 64, 10, 2, 2.0, "softmax"),
    "t16_c2_u96": (16, 2, 96, 5, 1, 1.0, "softmax"),
    "t8_c3_u16_sat8": (8, 3, 16, 12, 1, 8.0, "softmax"),
    "t40_c8_u24_l2_sat": (40, 8, 24, 6, 2, 4.0, "mlp"),
    "t24_c5_u12_linear": (24, 5, 12, 4, 1, 2.0, "linear"),
    "t6_c32_u17_sat": (6, 32, 17, 3, 1, 3.0, "softmax"),
    "t6_c17_u33": (6, 17, 33, 3, 1, 1.0, "softmax"),
    # more classes than the softmax keeps exponentials of (TINYRNN_SOFTMAX_KEEP, 32)
    "t3_c2_u4_k40": (3, 2, 4, 40, 1, 1.0, "softmax"),
}
# Models the compiler must refuse: int8 with an extra TANH op, and a float GRU (WHILE loop).
BAD = {
    "bad_extra_tanh": (10, 3, 8, 4, 1, 1.0, "tanh"),
    "bad_gru_float": (10, 3, 8, 4, 1, 1.0, "gru_float"),
}

_CHILD = r'''
import json, os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np, tensorflow as tf, tf_keras as keras
from tinyrnn.core.buildtree import write_bytes_atomic

def make(spec):
    T, C, U, K, L, scale, head = spec
    keras.utils.set_random_seed(0)
    inp = keras.Input((T, C), batch_size=1)
    x = inp
    if head == "gru_float":
        x = keras.layers.GRU(U)(x)
    else:
        for l in range(L):
            x = keras.layers.LSTM(U, return_sequences=(l < L - 1))(x)
    if head == "mlp":
        x = keras.layers.Dense(16, activation="relu")(x)
    if head == "tanh":
        x = keras.layers.Activation("tanh")(x)
    out = keras.layers.Dense(K, activation=None if head == "linear" else "softmax")(x)
    m = keras.Model(inp, out)
    if scale != 1.0:
        m.set_weights([w * scale for w in m.get_weights()])
    rng = np.random.default_rng(0)
    rep = rng.normal(size=(24, T, C)).astype(np.float32)
    conv = tf.lite.TFLiteConverter.from_keras_model(m)
    if head != "gru_float":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([r[None]] for r in rep)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return conv.convert()

out = sys.argv[1]
for name, spec in json.loads(sys.argv[2]).items():
    path = os.path.join(out, name + ".tflite")
    if not os.path.exists(path):
        write_bytes_atomic(path, make(spec))  # two test workers may convert the same model
'''


def ensure_models(specs: dict[str, tuple], cache_root: Path | None = None) -> dict[str, Path]:
    """Return {name: .tflite path}; converts the missing ones in one child process."""
    root = cache_root or REPO / "build" / "test-cache"
    out = root / f"aot-{hashlib.sha256(_CHILD.encode()).hexdigest()[:10]}"
    out.mkdir(parents=True, exist_ok=True)

    def fname(name: str, spec: tuple) -> str:
        return f"{name}-{hashlib.sha256(json.dumps(list(spec)).encode()).hexdigest()[:8]}"

    paths = {name: out / f"{fname(name, spec)}.tflite" for name, spec in specs.items()}
    missing = {fname(n, s): s for n, s in specs.items() if not paths[n].exists()}
    if missing:
        env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(out), json.dumps(missing)],
                              capture_output=True, text=True, env=env, timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(f"model conversion child failed ({proc.returncode}):\n"
                               f"{proc.stderr[-3000:]}")
    return paths
