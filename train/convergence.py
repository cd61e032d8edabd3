"""Convergence per model, measured while it trains: wall time of every epoch, and how many
epochs and seconds it took to reach 95% of its best validation accuracy."""

from __future__ import annotations

import time

import numpy as np

REACH_FRACTION = 0.95


def epoch_timer():
    """A Keras callback appending each epoch's wall time (s) to its ``seconds`` list."""
    import tf_keras as keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []
            self._t = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self._t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._t)

    return EpochTimer()


def convergence(val_accuracy: list[float], epoch_seconds: list[float],
                fraction: float = REACH_FRACTION) -> dict:
    """Epoch (1-based) and cumulative seconds at which validation accuracy first reached
    ``fraction`` of its best; seconds per epoch as the median (the first epoch also traces the
    graph, so the mean overstates it)."""
    acc = np.asarray(val_accuracy, dtype=float)
    sec = np.asarray(epoch_seconds, dtype=float)
    if len(acc) == 0 or len(acc) != len(sec):
        raise ValueError(f"need one time per epoch: {len(acc)} accuracies, {len(sec)} times")
    best = float(acc.max())
    reached = int(np.flatnonzero(acc >= fraction * best)[0]) + 1
    return {
        "fraction": fraction,
        "best_val_accuracy": best,
        "epochs_to_reach": reached,
        "seconds_to_reach": round(float(sec[:reached].sum()), 2),
        "seconds_per_epoch": round(float(np.median(sec)), 3),
        "first_epoch_seconds": round(float(sec[0]), 3),
        "fit_seconds": round(float(sec.sum()), 2),
        "epochs": len(acc),
    }
