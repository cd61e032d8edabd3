"""Random cases for the property-based bit-exactness tests (test_property_exact.py).

`make test` draws 90 GRU, 60 SimpleRNN and 300 LSTM cases. Longer run (every cell, N each; add
`-k lstm` for the LSTM alone):

    TINYRNN_PROPERTY_EXAMPLES=1000 PYTHONPATH=. .venv/bin/python -m pytest -s \
        host_tests/test_property_exact.py

Shapes cover units 1..128 (any residue mod 4), channels 1..32, steps 1..256, layers 1..3; weight
scales 0.05..8 (gates saturate above ~2). GRU/RNN: calibration spreads 0.05..20 (input scales
from fine to coarse), checked against the numpy reference. LSTM: models written directly by
lstm_tflite.py (no TF converter, so a case costs one gcc call) with input scales 1e-3..1, any
input zero point, gate biases up to saturating, hidden ranges 0.01..1 (small ones saturate h),
cell state scales 2^-16..2^-8, cell clips none / 10 / 0.05..20 / below one cell step, checked
against the tflite-micro interpreter. Each case runs on random, rail (-128 / 127) and
alternating-rail windows; `-s` prints the shape ranges drawn and the LSTM kernels reached."""

from __future__ import annotations

import os
from collections import Counter
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


@dataclass(frozen=True)
class LstmCase:
    """One int8 LSTM classifier, written by lstm_tflite.py (no TF converter). The arrays and the
    remaining quantization parameters come from `seed`; the fields are what hypothesis shrinks."""

    steps: int
    channels: int
    units: tuple[int, ...]    # one per layer
    classes: int
    head: str                 # "softmax", "mlp" (Dense relu + Dense + softmax), "linear" or
                              # "probe" (identity Dense: the output is the last hidden state)
    weight_scale: float       # float weight magnitude x glorot: > ~2 saturates the gates
    input_scale: float
    input_zp: int
    bias_spread: float        # real gate-bias sd: 50 saturates half the units' gates and
                              # needs the generic (wide) kernel
    hidden_range: float       # calibrated hidden range (0, 1]: small ones saturate h at the rails
    cell_power: int           # cell state scale 2^p: -15/-16 clamp the cell near +-1
    cell_clip: float          # 0 = none (converter default 10)
    seed: int


def _quantize_tensor(w: np.ndarray) -> tuple[np.ndarray, float]:
    scale = float(np.float32(max(float(np.abs(w).max()), 1e-6) / 127.0))
    return np.clip(np.round(w / scale), -127, 127).astype(np.int8), scale


def _bias(rng: np.random.Generator, n: int, real_scale: float, sd: float,
          offset: float = 0.0) -> np.ndarray:
    b = rng.normal(offset, sd, n)
    if sd > 4:  # wide biases on half the units only, so the other half still follow the input
        b = np.where(rng.random(n) < 0.5, b, rng.normal(offset, 0.5, n))
    b = b / real_scale
    return np.clip(np.round(b), -(1 << 26), 1 << 26).astype(np.int32)


def lstm_model(case: LstmCase):
    """The deterministic LstmModelQ of a case. Weights are glorot-like x weight_scale, with the
    input weights divided by their input's scale (an input step of 64 is one real unit), so
    that every input or hidden scale still moves the gates; biases carry Keras' forget-gate +1;
    hidden and dense quantization come from drawn calibration ranges, the dense output scale
    from the spread of its accumulator (x 0.1..10), so the output neither sticks nor rounds away
    the hidden state."""
    from lstm_tflite import DenseQ, LstmLayerQ, LstmModelQ

    rng = np.random.default_rng(case.seed)
    layers = []
    n, in_scale = case.channels, case.input_scale
    for units in case.units:
        w_in, w_rec, s_in, s_rec, bias = [], [], [], [], []
        for gate in range(4):
            wi, si = _quantize_tensor(rng.uniform(-1, 1, (units, n)) / (64 * in_scale)
                                      * case.weight_scale * np.sqrt(6 / (n + 4 * units)))
            wr, sr = _quantize_tensor(rng.normal(0, 1, (units, units))
                                      * case.weight_scale / np.sqrt(units))
            w_in.append(wi), w_rec.append(wr), s_in.append(si), s_rec.append(sr)
            bias.append(_bias(rng, units, float(np.float32(in_scale) * np.float32(si)),
                              case.bias_spread, 1.0 if gate == 1 else 0.0))
        lo = -case.hidden_range * rng.uniform(0.2, 1.0)
        hi = case.hidden_range * rng.uniform(0.2, 1.0)
        h_scale = (hi - lo) / 255.0
        h_zp = int(np.clip(-128 - round(lo / h_scale), -128, 127))
        layers.append(LstmLayerQ(np.stack(w_in), np.stack(w_rec), tuple(s_in), tuple(s_rec),
                                 np.stack(bias), (h_scale, h_zp), case.cell_power,
                                 case.cell_clip))
        n, in_scale = units, h_scale
    if case.head == "probe":
        # identity dense layer at unit gain: the output is the last hidden state itself, so a
        # 1-LSB difference anywhere in h shows instead of being rounded away by a classifier
        eye = (np.eye(n) * 127).astype(np.int8)
        probe = DenseQ(eye, (1.0 / 127,) * n, None, (in_scale, layers[-1].hidden[1]), False)
        return LstmModelQ(case.steps, case.channels, (case.input_scale, case.input_zp), layers,
                          [probe], False)
    dense = []
    sizes = ([int(rng.integers(1, 33))] if case.head == "mlp" else []) + [case.classes]
    for i, k in enumerate(sizes):
        relu = i < len(sizes) - 1
        rows = [_quantize_tensor(rng.uniform(-1, 1, n)) for _ in range(k)]
        w = np.stack([r[0] for r in rows])
        scales = tuple(r[1] for r in rows)
        # accumulator spread: inputs spread ~40 steps, uniform weights ~73
        spread = in_scale * float(np.mean(scales)) * 40 * 73 * np.sqrt(n)
        bias = None
        if rng.random() < 0.5:
            bias = np.array([_bias(rng, 1, float(np.float32(in_scale) * np.float32(s)), spread)[0]
                             for s in scales], np.int32)
        out_scale = spread * float(10 ** rng.uniform(-1, 1)) / 40
        zp = -128 if relu else int(rng.integers(-128, 128))
        dense.append(DenseQ(w, scales, bias, (out_scale, zp), relu))
        n, in_scale = k, out_scale
    return LstmModelQ(case.steps, case.channels, (case.input_scale, case.input_zp), layers,
                      dense, case.head != "linear")


# Layers compiled to each LSTM kernel (emit.py picks the packed one when its ranges allow).
LSTM_KERNEL_LAYERS: Counter[str] = Counter()


def check_lstm(case: LstmCase, work: Path, runtime: Path, index: int) -> int:
    """Writes, compiles and builds one LSTM case; the C must equal the tflite-micro interpreter
    on every window. Returns how many output bytes were compared."""
    from lstm_tflite import to_tflite
    from tflite_micro import runtime as tflm

    from tinyrnn.convert.aot import compile_model

    data = to_tflite(lstm_model(case))
    src = work / f"lstm{index}.tflite"
    src.write_bytes(data)
    compile_model(src, work / f"lstm{index}", name=f"lstm{index}")
    code = (work / f"lstm{index}" / "tinyrnn_model.c").read_text()
    for kernel in ("tinyrnn_lstm_packed_step(", "tinyrnn_lstm_step("):
        LSTM_KERNEL_LAYERS[kernel[:-1]] += code.count(kernel)
    model = FastHostModel(work / f"lstm{index}", runtime, index)
    it = tflm.Interpreter.from_bytes(data, arena_size=1 << 22)
    n = 0
    for k, w in enumerate(windows(case.steps, case.channels, 3, case.seed)):
        it.reset()
        it.set_input(w[None], 0)
        it.invoke()
        want = it.get_output(0).reshape(-1)
        got = model.invoke(w)
        assert np.array_equal(got, want), f"{case}: window {k}: C {got} != TFLM {want}"
        n += want.size
    return n
