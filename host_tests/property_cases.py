"""Random cases for the property-based bit-exactness tests (test_property_exact.py) and their
longer run: `TINYRNN_PROPERTY_EXAMPLES=2000 .venv/bin/python -m pytest host_tests/test_property_exact.py`.

Shapes cover units 1..128 (any residue mod 4), channels 1..32, steps 1..256, layers 1..3; weight
scales 0.05..8 (gates saturate above ~2) and calibration spreads 0.05..20 (input scales from fine
to coarse). Each case is checked on random, rail (-128 / 127) and alternating-rail windows."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from model_fuzz import FastHostModel

UNITS = (1, 128)
CHANNELS = (1, 32)
STEPS = (1, 256)
LAYERS = (1, 3)


def examples(default: int) -> int:
    """How many cases a property test runs: TINYRNN_PROPERTY_EXAMPLES overrides the default."""
    return int(os.environ.get("TINYRNN_PROPERTY_EXAMPLES", default))


@dataclass(frozen=True)
class RecurrentCase:
    cell: str  # "gru" or "rnn"
    reset_after: bool
    steps: int
    channels: int
    units: int
    classes: int
    layers: int
    weight_scale: float
    calib_spread: float
    seed: int

    def spec(self) -> tuple:
        return (self.cell, self.reset_after, self.steps, self.channels, self.units, self.classes,
                self.layers, self.weight_scale)


def windows(steps: int, channels: int, n_random: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ws = [np.full((steps, channels), -128, np.int8), np.full((steps, channels), 127, np.int8)]
    ws += list(rng.integers(-128, 128, (n_random, steps, channels), dtype=np.int8))
    t = np.arange(steps)[:, None]
    ws.append(np.where((t + np.arange(channels)) % 2 == 0, 127, -128).astype(np.int8))
    return np.stack(ws)


def check_recurrent(case: RecurrentCase, work: Path, runtime: Path, index: int) -> int:
    """Quantizes, writes, compiles and builds one case; returns how many output bytes were
    compared. Raises AssertionError naming the first differing window."""
    from test_rnn_int8_exact import random_float_model

    from tinyrnn.convert.aot import compile_model
    from tinyrnn.convert.aot.graph import read_tflite
    from tinyrnn.convert.aot.plan import lower
    from tinyrnn.convert.rnn_quant import quantize_float_model
    from tinyrnn.convert.rnn_reference import run_windows
    from tinyrnn.convert.rnn_tflite import to_tflite

    fm = random_float_model(case.spec(), seed=case.seed)
    calib = np.random.default_rng(case.seed + 1).normal(
        0, case.calib_spread, (16, case.steps, case.channels)).astype(np.float32)
    src = work / f"case{index}.tflite"
    src.write_bytes(to_tflite(quantize_float_model(fm, calib, name=f"case{index}")))
    compile_model(src, work / f"case{index}", name=f"case{index}")
    plan = lower(read_tflite(src))
    model = FastHostModel(work / f"case{index}", runtime, index)
    wins = windows(case.steps, case.channels, 6, case.seed)
    want = run_windows(plan, wins)
    got = np.stack([model.invoke(w) for w in wins])
    bad = np.argwhere(got != want)
    assert bad.size == 0, (f"{case}: window {bad[0][0]} C {got[bad[0][0]]} != numpy "
                           f"{want[bad[0][0]]}")
    return int(want.size)


def lstm_specs(count: int, seed: int) -> dict[str, tuple]:
    """Seeded LSTM shapes in the same ranges, in aot_zoo's spec format (converted by TFLite)."""
    rng = random.Random(seed)
    out = {}
    for i in range(count):
        units = rng.choice([rng.randint(*UNITS), rng.randint(1, 12)])
        steps = rng.choice([rng.randint(*STEPS), rng.randint(1, 20)])
        spec = (steps, rng.randint(*CHANNELS), units, rng.randint(2, 12), rng.randint(*LAYERS),
                rng.choice([0.3, 1.0, 2.0, 4.0, 8.0]), rng.choice(["softmax", "softmax", "mlp"]))
        out[f"prop{seed}_{i}_t{spec[0]}_c{spec[1]}_u{spec[2]}_l{spec[4]}"] = spec
    return out
