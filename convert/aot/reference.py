"""Numpy model of what TFLite Micro's reference kernels compute for a ModelPlan.

It exists to pin the integer semantics (tests compare it with the tflite-micro interpreter and
with the generated C); it is written for clarity, not speed.
"""

from __future__ import annotations

import numpy as np

from . import quant as q
from .plan import FcOp, LstmLayer, ModelPlan, SoftmaxOp


def _clamp(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return np.minimum(np.maximum(x, lo), hi)


def lstm_step(layer: LstmLayer, x: np.ndarray, h: np.ndarray, c: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """One time step; x, h int8 values, c int16 values (all int64 carriers)."""
    acts = {}
    for name, g in layer.gates.items():
        fi = _clamp(q.mbqm(g.w_in.astype(np.int64) @ x + g.bias_in, g.mult_in, g.shift_in),
                    -32768, 32767)
        fr = _clamp(q.mbqm(g.w_rec.astype(np.int64) @ h + g.bias_rec, g.mult_rec, g.shift_rec),
                    -32768, 32767)
        pre = _clamp(fi + fr, -32768, 32767)
        if name == "cell" and layer.cell_gate_tanh:
            acts[name] = q.tanh16(pre, -12)
        else:
            acts[name] = q.sigmoid16(pre)
    fc = _clamp(q.mbqm(acts["forget"] * c, layer.mult_fc, layer.shift_fc), -32768, 32767)
    ig = _clamp(q.mbqm(acts["input"] * acts["cell"], layer.mult_ig, layer.shift_ig),
                -32768, 32767)
    c_new = _clamp(fc + ig, -32768, 32767)
    if layer.cell_clip > 0:
        c_new = _clamp(c_new, -layer.cell_clip, layer.cell_clip)
    t = q.tanh16(c_new, layer.cell_scale_power)
    h_new = _clamp(q.mbqm(t * acts["output"], layer.mult_h, layer.shift_h) + layer.hidden_zp,
                   -128, 127)
    return h_new, c_new


def fully_connected(op: FcOp, x: np.ndarray) -> np.ndarray:
    acc = op.weights.astype(np.int64) @ x + op.bias
    y = q.mbqm(acc, op.mult.astype(np.int64), op.shift.astype(np.int64)) + op.out_zp
    return _clamp(y, op.act_min, op.act_max)


def _exp_on_negative_values(a: int) -> int:
    """gemmlowp exp_on_negative_values for Q5.26 input, Q0.31 output (scalar)."""
    def mul(x: int, y: int) -> int:
        return int(q.srdhm(np.int64(x), np.int64(y)))

    def rpot(x: int, e: int) -> int:
        return int(q.rdbypot(np.int64(x), e))

    frac_bits = 26
    one_quarter = 1 << (frac_bits - 2)
    a_mod = (a & (one_quarter - 1)) - one_quarter
    # Rescale<0> from 5 integer bits: saturating multiply by 2^5.
    x = a_mod << 5
    x = max(min(x, q.INT32_MAX), q.INT32_MIN)
    # exp on [-1/4, 0): Taylor around -1/8.
    xx = x + (1 << 28)
    x2 = mul(xx, xx)
    x3 = mul(x2, xx)
    x4 = mul(x2, x2)
    x4_over_4 = rpot(x4, 2)
    poly = rpot(mul(x4_over_4 + x3, 715827883) + x2, 1)
    result = 1895147668 + mul(1895147668, xx + poly)
    remainder = a_mod - a
    for exponent, m in ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
                        (2, 39332535), (3, 720401), (4, 242)):
        if remainder & (1 << (frac_bits + exponent)):
            result = mul(result, m)
    if a == 0:
        result = q.INT32_MAX
    return result


def _one_over_one_plus_x(a: int) -> int:
    """gemmlowp one_over_one_plus_x_for_x_in_0_1 (Q0.31 in and out)."""
    def mul(x: int, y: int) -> int:
        return int(q.srdhm(np.int64(x), np.int64(y)))

    s = a + q.INT32_MAX  # RoundingHalfSum(a, One) with C's truncating division
    t = s + (1 if s >= 0 else -1)
    half_denominator = t // 2 if t >= 0 else -((-t) // 2)
    x = q.wrap32(np.int64(1515870810 + mul(half_denominator, -1010580540))).item()
    one_f2 = 1 << 29
    for _ in range(3):
        hdx = mul(half_denominator, x)
        t = mul(x, one_f2 - hdx)
        x = q.wrap32(np.int64(x + max(min(t * 4, q.INT32_MAX), q.INT32_MIN))).item()
    # ExactMulByPot<-1> then Rescale<0> from 1 integer bit: multiply by 2, saturating.
    r = x * 2
    return max(min(r, q.INT32_MAX), q.INT32_MIN)


def softmax(op: SoftmaxOp, x: np.ndarray) -> np.ndarray:
    xs = [int(v) for v in x]
    mx = max(xs)
    exps: list[int | None] = []
    total = 0
    for v in xs:
        d = v - mx
        if d >= op.diff_min:
            r = int(q.srdhm(np.int64(d << op.left_shift), op.mult))
            e = _exp_on_negative_values(r)
            exps.append(e)
            total += int(q.rdbypot(np.int64(e), 12))  # Rescale<12> from Q0.31
        else:
            exps.append(None)
    total = q.wrap32(np.int64(total)).item()
    headroom = 32 - int(total).bit_length() if total > 0 else 32
    num_bits_over_unit = 12 - headroom
    shifted = ((total << headroom) & 0xFFFFFFFF) - (1 << 31)
    shifted = q.wrap32(np.int64(shifted)).item()
    scale = _one_over_one_plus_x(shifted)
    exponent = num_bits_over_unit + 31 - 8
    out = []
    for e in exps:
        if e is None:
            out.append(-128)
            continue
        u = int(q.rdbypot(q.srdhm(np.int64(scale), np.int64(e)), exponent))
        out.append(max(min(u - 128, 127), -128))
    return np.array(out, np.int64)


class ReferenceModel:
    """Stateful numpy executor: reset(), step(frame), invoke(window) like the C API."""

    def __init__(self, plan: ModelPlan) -> None:
        self.plan = plan
        self.reset()

    def reset(self) -> None:
        self.h = [np.full(layer.units, layer.hidden_zp, np.int64) for layer in self.plan.layers]
        self.c = [np.zeros(layer.units, np.int64) for layer in self.plan.layers]

    def _head(self) -> np.ndarray:
        y = self.h[-1]
        for op in self.plan.head:
            y = fully_connected(op, y) if isinstance(op, FcOp) else softmax(op, y)
        return y.astype(np.int8)

    def step(self, frame: np.ndarray) -> np.ndarray:
        x = np.asarray(frame, np.int64).reshape(-1)
        for i, layer in enumerate(self.plan.layers):
            self.h[i], self.c[i] = lstm_step(layer, x, self.h[i], self.c[i])
            x = self.h[i]
        return self._head()

    def invoke(self, window: np.ndarray) -> np.ndarray:
        self.reset()
        w = np.asarray(window).reshape(self.plan.steps, self.plan.channels)
        out = None
        for t in range(self.plan.steps):
            out = self.step(w[t])
        assert out is not None
        return out
