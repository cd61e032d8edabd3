"""Your own Keras model to int8 firmware files with tinyrnn's Python API.

    python examples/api_example.py [OUT_DIR]      (default: my_model/)

Stands in for a user's project: a small Keras 3 GRU is trained for a few epochs on made-up
two-channel sensor windows (three kinds of wave), then one call writes the int8 model, the TFLite
Micro C array, the tinyrnn C, a model card and a host evaluation into OUT_DIR.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

import tinyrnn

STEPS, CHANNELS, CLASSES = 24, 2, 3


def make_windows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sine, square and sawtooth waves of random phase and frequency, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    t = np.arange(STEPS)[None, :, None] / STEPS
    phase = rng.uniform(0, 1, (n, 1, CHANNELS))
    freq = rng.uniform(1.5, 3.0, (n, 1, 1))
    u = (freq * t + phase) % 1.0
    waves = np.stack([np.sin(2 * np.pi * u), np.sign(u - 0.5), 2 * u - 1], axis=0)
    x = waves[y, np.arange(n)] + rng.normal(0, 0.2, (n, STEPS, CHANNELS))
    return x.astype(np.float32), y


def main(out: str) -> None:
    keras.utils.set_random_seed(0)
    x_train, y_train = make_windows(1200, seed=0)
    x_test, y_test = make_windows(300, seed=1)

    model = keras.Sequential([
        keras.Input((STEPS, CHANNELS)),
        keras.layers.GRU(16),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(CLASSES, activation="softmax"),
    ], name="waves_gru")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=12, batch_size=32, verbose=0)

    # The one call: calibration windows come from the training data, as the model sees them.
    result = tinyrnn.export_model(
        model, calibration=x_train[:200], out=out, x_test=x_test, y_test=y_test,
        class_names=["sine", "square", "sawtooth"],
    )
    # export_model prints result.summary() as it finishes; the records hold every path and figure.
    print("deployable model:", result.quantized.path)
    print("tinyrnn C:", ", ".join(p.name for p in result.compiled.files))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "my_model")
