"""Synthetic sequence tasks generated in code, chiefly a long-memory test.

``recall``: the class is shown once, as a one-hot pulse in the ``K`` key channels at the first
time step, flagged by a marker channel; every later step fills the same key channels with
uniform noise (marker off). The answer needs the first step held across the whole sequence
while the same input weights keep feeding noise in: a gated cell can learn to close its input
after the marker, a plain RNN has no multiplicative gate and must fight the noise with its
weights alone. Sequence length is the knob.
"""

from __future__ import annotations

import numpy as np

from tinyrnn.train.dataset import Dataset, make_dataset


def recall_windows(
    n: int, steps: int, num_classes: int, noise: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, num_classes, size=n)
    x = np.zeros((n, steps, num_classes + 1), dtype=np.float32)
    x[:, 1:, :num_classes] = rng.uniform(-noise, noise, size=(n, steps - 1, num_classes))
    x[np.arange(n), 0, y] = 1.0
    x[:, 0, num_classes] = 1.0
    return x, y


def load_recall(
    steps: int = 100,
    num_classes: int = 4,
    train_windows: int = 3000,
    test_windows: int = 500,
    noise: float = 1.0,
    seed: int = 1234,
) -> Dataset:
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    rng = np.random.default_rng(seed)
    x_train, y_train = recall_windows(train_windows, steps, num_classes, noise, rng)
    x_test, y_test = recall_windows(test_windows, steps, num_classes, noise, rng)
    return make_dataset(
        f"recall{steps}",
        x_train,
        y_train,
        x_test,
        y_test,
        class_names=[f"first={k}" for k in range(num_classes)],
        description=(
            f"delayed recall: class pulse at step 0 in {num_classes} key channels (marker "
            f"channel on), then {steps - 1} steps of uniform noise (±{noise:g}) in the same "
            "channels"
        ),
        split_info={"seed": seed},
    )
