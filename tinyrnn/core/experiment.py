"""The main job's experiment settings, read by the pipeline (to run it) and the report (to describe it)."""

from __future__ import annotations

# The recurrent cells tinyrnn trains, converts and compiles (CLI choices, report columns).
CELLS = ("lstm", "gru", "rnn")


def check_cell(cell: str) -> str:
    if cell not in CELLS:
        raise ValueError(f"unknown cell {cell!r}; choose one of {', '.join(CELLS)}")
    return cell


# The main job: every cell on the smartwatch data, and on a long-memory task where the plain
# RNN should fall behind, each over several seeds so differences come with their spread.
MAIN_DATASET = "watch"
MAIN_UNITS = 32
# Delayed recall at two lengths: the short one every cell should learn, the long one separates
# the cells. Measured: at 40 steps a plain RNN stays at chance within 30 epochs.
MEMORY_LENGTHS = (20, 40)
MEMORY_DATASETS = tuple(f"recall{t}" for t in MEMORY_LENGTHS)
DEFAULT_SEEDS = (0, 1, 2)
# The main job's long-memory runs take the first two of its seeds: with three they were the
# longest stretch of the main job's host work (6 of its 20 minutes); the curve over lengths and
# five seeds is `tinyrnn sweep --preset memory` (docs/sweeps.md).
MEMORY_SEED_COUNT = 2
# Test windows streamed to the emulated board per model in the main job: QEMU's UART takes
# ~40 us a byte, so the full 1,002 windows cost ~100 s a model; `tinyrnn device eval` runs all.
DEVICE_WINDOWS = 200
