"""How long to train and in what batches, set by the data's size instead of a fixed epoch count.

A fixed 30 epochs gives the 3,124 smartwatch training windows ~1,500 gradient steps but a data
set of 229 windows only ~120: far from convergence. Here the budget is a number of gradient
steps; the batch shrinks on tiny data so an epoch still holds several steps, and the number of
epochs and the early-stopping patience follow from the steps per epoch. Early stopping on a
validation-loss plateau ends training sooner when it has converged.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

# Defaults: the smartwatch data keep what a fixed 30 epochs of batch 64 gave them (~1,500 steps,
# patience ~8 epochs), so the main job costs the same; smaller data sets now get the same steps.
MAX_STEPS = 1500
PATIENCE_STEPS = 400
MAX_BATCH = 64
MIN_BATCH = 8
MIN_STEPS_PER_EPOCH = 16
MIN_PATIENCE_EPOCHS = 5


@dataclass(frozen=True)
class Schedule:
    batch_size: int
    steps_per_epoch: int
    max_epochs: int
    patience_epochs: int
    max_steps: int
    rule: str

    def to_json(self) -> dict:
        return asdict(self)


def adapted_batch(n_fit: int) -> int:
    """Largest power of two <= MAX_BATCH giving at least MIN_STEPS_PER_EPOCH steps an epoch."""
    if n_fit < 1:
        raise ValueError(f"no training windows to fit (got {n_fit})")
    target = max(1, n_fit // MIN_STEPS_PER_EPOCH)
    batch = 1 << (target.bit_length() - 1)
    return int(min(MAX_BATCH, max(MIN_BATCH, batch)))


def plan_schedule(n_fit: int, max_steps: int = MAX_STEPS, patience_steps: int = PATIENCE_STEPS,
                  batch_size: int | None = None, epochs: int | None = None,
                  patience: int | None = None) -> Schedule:
    """Batch, epoch cap and patience for ``n_fit`` training windows.

    Explicit ``batch_size``, ``epochs`` or ``patience`` win over the rule (a fixed-epoch run is
    still possible); the rule applied is recorded in words with the numbers.
    """
    if max_steps < 1 or patience_steps < 1:
        raise ValueError(f"max_steps and patience_steps must be positive, got {max_steps}, "
                         f"{patience_steps}")
    batch = batch_size or adapted_batch(n_fit)
    steps = max(1, math.ceil(n_fit / batch))
    max_epochs = epochs or max(1, math.ceil(max_steps / steps))
    pat = patience or max(MIN_PATIENCE_EPOCHS, math.ceil(patience_steps / steps))
    rule = (f"batch {'fixed' if batch_size else 'adapted'} {batch} ({n_fit} windows, "
            f"{steps} steps/epoch); "
            + (f"fixed {max_epochs} epochs" if epochs else
               f"up to {max_steps} gradient steps = {max_epochs} epochs")
            + f"; early stop after {pat} epochs without a better validation loss"
            + ("" if patience else f" (~{patience_steps} steps)"))
    return Schedule(batch, steps, max_epochs, pat, max_steps, rule)
