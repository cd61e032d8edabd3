"""numpy integer reference of the int8 GRU / SimpleRNN scheme: the executable spec.

Independent of the C: it uses only the TFLite integer primitives of convert/aot/quant.py
(MultiplyByQuantizedMultiplier, RoundingDivideByPOT, the int16 sigmoid/tanh) and the TFLM
FULLY_CONNECTED / SOFTMAX references of convert/aot/reference.py. It runs on a batch of
windows at once (the tests compare the C with it on every byte; the accuracy figures use it on the
whole test set). Notation (docs/int8-gru-rnn.md): sat16/sat8 clamp to int16/int8, rq(a, g) is
mbqm(a, mult[g], shift[g]), rshift15(v) = RoundingDivideByPOT(v, 15).

GRU, gate order z, r, h; x int8 (input zero point folded into b_in), h8 the int8 hidden operand
(symmetric), h16 the int16 state at 2^-15::

    xg  = sat16(rq_in(W_in[g] x + b_in[g]))            g = z, r, h     (Q3.12)
    hg  = sat16(rq_rec(W_rec[g] h8 + b_rec[g]))        g = z, r        (Q3.12)
    z   = sigmoid16(sat16(xz + hz));  r = sigmoid16(sat16(xr + hr))     (Q0.15)
    reset_after=True : a = sat16(xh + sat16(rshift15(r * sat16(rq_rec(W_rec[h] h8 + b_rec[h])))))
    reset_after=False: rh8 = rshift15(r * h8);  a = sat16(xh + sat16(rq_rec(W_rec[h] rh8)))
    c   = tanh16(a)                                                     (Q0.15)
    h16 = sat16(c + rshift15(z * (h16 - c)))        = z h + (1 - z) c
    h8  = sat8(mbqm(h16, mult_h8, shift_h8))        2^-15 -> hidden scale

``state_bits=8`` (an option: less accurate, 2 bytes less RAM per unit) keeps only h8 as state:
c8 = sat8(mbqm(c, mult_h8, shift_h8)); h8 = sat8(c8 + rshift15(z * (h8 - c8))).

SimpleRNN: h8 = sat8(mbqm(tanh16(sat16(xg + hg)), mult_h8, shift_h8)), one gate, no b_rec.
"""

from __future__ import annotations

import numpy as np

from tinyrnn.convert.aot import quant as q
from tinyrnn.convert.aot.plan import FcOp, ModelPlan, SoftmaxOp
from tinyrnn.convert.aot.reference import softmax as softmax_row
from tinyrnn.convert.aot.rnn_plan import RecurrentLayer
from tinyrnn.core.quantization import quantize


def sat(x: np.ndarray, bits: int) -> np.ndarray:
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return np.minimum(np.maximum(x, lo), hi)


def _rq(acc: np.ndarray, mult: int, shift: int) -> np.ndarray:
    return sat(q.mbqm(acc, mult, shift), 16)


def _rshift15(v: np.ndarray) -> np.ndarray:
    return q.rdbypot(v, 15)


def _mm(v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """[N, n] int64 x [U, n] int8 -> [N, U] int64 (exact: |sum| < 2^53)."""
    return v @ w.astype(np.int64).T


class LayerState:
    def __init__(self, layer: RecurrentLayer, batch: int) -> None:
        self.h8 = np.zeros((batch, layer.units), np.int64)
        self.h16 = np.zeros((batch, layer.units), np.int64)


def gru_step(layer: RecurrentLayer, x: np.ndarray, st: LayerState) -> None:
    xg = [_rq(_mm(x, layer.w_in[g]) + layer.b_in[g], layer.mult_in[g], layer.shift_in[g])
          for g in range(3)]
    hg = [_rq(_mm(st.h8, layer.w_rec[g]) + layer.b_rec[g], layer.mult_rec[g],
              layer.shift_rec[g]) for g in range(2)]
    z = q.sigmoid16(sat(xg[0] + hg[0], 16))
    r = q.sigmoid16(sat(xg[1] + hg[1], 16))
    if layer.reset_after:
        rec = _rq(_mm(st.h8, layer.w_rec[2]) + layer.b_rec[2], layer.mult_rec[2],
                  layer.shift_rec[2])
        a = sat(xg[2] + sat(_rshift15(r * rec), 16), 16)
    else:
        rh8 = _rshift15(r * st.h8)
        a = sat(xg[2] + _rq(_mm(rh8, layer.w_rec[2]), layer.mult_rec[2], layer.shift_rec[2]),
                16)
    c = q.tanh16(a, -12)
    if layer.state_bits == 16:
        st.h16 = sat(c + _rshift15(z * (st.h16 - c)), 16)
        st.h8 = sat(q.mbqm(st.h16, layer.mult_h8, layer.shift_h8), 8)
    else:
        c8 = sat(q.mbqm(c, layer.mult_h8, layer.shift_h8), 8)
        st.h8 = sat(c8 + _rshift15(z * (st.h8 - c8)), 8)


def rnn_step(layer: RecurrentLayer, x: np.ndarray, st: LayerState) -> None:
    xg = _rq(_mm(x, layer.w_in[0]) + layer.b_in[0], layer.mult_in[0], layer.shift_in[0])
    hg = _rq(_mm(st.h8, layer.w_rec[0]), layer.mult_rec[0], layer.shift_rec[0])
    c = q.tanh16(sat(xg + hg, 16), -12)
    st.h8 = sat(q.mbqm(c, layer.mult_h8, layer.shift_h8), 8)


def fully_connected(op: FcOp, x: np.ndarray) -> np.ndarray:
    """TFLM int8 FULLY_CONNECTED on a batch [N, in] (zero-point terms folded in op.bias)."""
    acc = _mm(x, op.weights) + op.bias
    y = q.mbqm(acc, op.mult.astype(np.int64), op.shift.astype(np.int64)) + op.out_zp
    return np.minimum(np.maximum(y, op.act_min), op.act_max)


class RecurrentReference:
    """Batched executor with the C API's contract: invoke = reset + step over every frame;
    step keeps state and returns the head applied to the current hidden state."""

    def __init__(self, plan: ModelPlan, batch: int = 1) -> None:
        for layer in plan.layers:
            if not isinstance(layer, RecurrentLayer):
                raise TypeError("RecurrentReference runs GRU/RNN plans; LSTM plans use "
                                "tinyrnn.convert.aot.reference.ReferenceModel")
        self.plan = plan
        self.batch = batch
        self.reset()

    def reset(self) -> None:
        self.states = [LayerState(layer, self.batch) for layer in self.plan.layers]

    def _advance(self, frames: np.ndarray) -> None:
        x = np.asarray(frames, np.int64).reshape(self.batch, -1)
        for layer, st in zip(self.plan.layers, self.states, strict=True):
            (gru_step if layer.cell == "gru" else rnn_step)(layer, x, st)
            x = st.h8

    def head(self) -> np.ndarray:
        y = self.states[-1].h8
        for op in self.plan.head:
            if isinstance(op, FcOp):
                y = fully_connected(op, y)
            else:
                assert isinstance(op, SoftmaxOp)
                y = np.stack([softmax_row(op, row) for row in y])
        return y.astype(np.int8)

    def step(self, frames: np.ndarray) -> np.ndarray:
        self._advance(frames)
        return self.head()

    def invoke(self, windows: np.ndarray) -> np.ndarray:
        w = np.asarray(windows).reshape(self.batch, self.plan.steps, self.plan.channels)
        self.reset()
        for t in range(self.plan.steps):
            self._advance(w[:, t, :])
        return self.head()


def run_windows(plan: ModelPlan, windows: np.ndarray) -> np.ndarray:
    """int8 outputs [N, K] for int8 windows [N, T, C], each from a fresh state."""
    w = np.asarray(windows)
    return RecurrentReference(plan, batch=len(w)).invoke(w)


def quantize_input(plan: ModelPlan, x: np.ndarray) -> np.ndarray:
    """Normalized float windows -> int8 at the model's input quantization."""
    return quantize(x, plan.input_scale, plan.input_zp)
