"""Lowering of the custom recurrent operators ``TINYRNN_GRU`` / ``TINYRNN_RNN`` (written by
convert/rnn_tflite.py) into the runtime's integer parameters, the way a TFLM kernel's Prepare
would: zero-point terms folded into the biases, every rescale turned into a TFLite
(multiplier, shift) pair. The integer scheme itself is specified in docs/int8-gru-rnn.md and
executed by convert/rnn_reference.py (numpy) and firmware/lib/tinyrnn/src/tinyrnn_{gru,rnn}.c.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import quant
from .errors import LimitError, UnsupportedModelError
from .graph import Graph, Operator, Tensor

CUSTOM_OPS = {"CUSTOM(TINYRNN_GRU)": "gru", "CUSTOM(TINYRNN_RNN)": "rnn"}
GATE_SCALE = 2.0 ** -12
ACT_SCALE = 2.0 ** -15
MAX_BIAS = 1 << 28
SCHEME_VERSION = 1


@dataclass
class RecurrentLayer:
    """One GRU (gates z, r, h) or SimpleRNN (one gate) layer, ready for the kernels.

    ``w_in``/``w_rec`` are gate-major ([G][units][n]); ``b_in`` = bias - input_zp * row sums of
    w_in (the int8 hidden operand is symmetric, so recurrent sums need no fold); ``b_rec`` holds
    the GRU reset_after recurrent biases, else zeros with ``has_b_rec`` False.
    mult/shift_in[g]: (input_scale * w_in_scale[g]) -> 2^-12; mult/shift_rec[g]:
    (hidden_scale * w_rec_scale[g]) -> 2^-12; mult/shift_h8: 2^-15 -> hidden_scale.
    """

    cell: str
    index: int
    input_size: int
    units: int
    reset_after: bool
    return_sequences: bool
    state_bits: int
    w_in: np.ndarray
    w_rec: np.ndarray
    b_in: np.ndarray
    b_rec: np.ndarray
    has_b_rec: bool
    mult_in: tuple[int, ...]
    shift_in: tuple[int, ...]
    mult_rec: tuple[int, ...]
    shift_rec: tuple[int, ...]
    mult_h8: int
    shift_h8: int
    input_scale: float
    input_zp: int
    hidden_scale: float

    @property
    def gates(self) -> int:
        return int(self.w_in.shape[0])

    def macs_per_step(self) -> int:
        return self.gates * self.units * (self.input_size + self.units)


def parse_custom_options(raw: bytes | None) -> dict:
    from flatbuffers import flexbuffers

    if not raw:
        raise UnsupportedModelError("custom recurrent op without its flexbuffer options")
    try:
        opts = flexbuffers.Loads(bytes(raw))
    except Exception as exc:  # any damage in the options blob
        raise UnsupportedModelError(f"custom options are not a readable flexbuffer: {exc}"
                                    ) from exc
    if not isinstance(opts, dict):
        raise UnsupportedModelError("custom options must be a flexbuffer map")
    for key, kinds in _OPTION_TYPES.items():
        if key in opts and not isinstance(opts[key], kinds):
            raise UnsupportedModelError(
                f"custom option {key!r} is {repr(opts[key])[:40]} ({type(opts[key]).__name__}); expected "
                f"{' or '.join(k.__name__ for k in kinds)}: the options blob is damaged")
    return opts


# What convert/rnn_tflite.py writes into each key (a damaged blob can decode to anything).
_OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "cell": (str,), "reset_after": (bool, int), "return_sequences": (bool, int),
    "state_bits": (int,), "units": (int,), "version": (int,),
}


def _unsup(op: Operator, why: str) -> UnsupportedModelError:
    return UnsupportedModelError(f"operator #{op.index} {op.opcode}: {why}")


def _per_gate(t: Tensor, gates: int, what: str, op: Operator) -> tuple[float, ...]:
    if t.quant is None or len(t.quant.scale) not in (1, gates):
        raise _unsup(op, f"{what} {t.describe()} needs one scale per gate ({gates})")
    if any(z != 0 for z in t.quant.zero_point):
        raise _unsup(op, f"{what} must be symmetric (zero point 0)")
    if len(t.quant.scale) == gates and gates > 1 and t.quant.axis != 0:
        raise _unsup(op, f"{what} per-gate scales must run along axis 0")
    s = t.quant.scale
    return tuple(s) if len(s) == gates else (s[0],) * gates


def lower_recurrent(graph: Graph, op: Operator, layer_index: int, steps: int
                    ) -> RecurrentLayer:
    cell = CUSTOM_OPS[op.opcode]
    opts = parse_custom_options(op.options.get("custom_options"))
    if opts.get("version") != SCHEME_VERSION:
        raise _unsup(op, f"scheme version {opts.get('version')!r}; this compiler reads "
                     f"{SCHEME_VERSION}")
    if opts.get("cell") != cell:
        raise _unsup(op, f"options say cell {opts.get('cell')!r}")
    reset_after = bool(opts.get("reset_after", False)) and cell == "gru"
    gates = 3 if cell == "gru" else 1
    state_bits = int(opts.get("state_bits", 16 if cell == "gru" else 8))
    if len(op.inputs) != 5 or len(op.outputs) != 1:
        raise _unsup(op, "expected inputs (x, w_in, w_rec, b_in, b_rec) and one output")
    x = graph.tensors[op.inputs[0]]
    h = graph.tensors[op.outputs[0]]
    if x.dtype != "INT8" or h.dtype != "INT8":
        raise _unsup(op, "input and output must be int8")
    if len(x.shape) != 3 or x.shape[0] != 1 or x.shape[1] != steps:
        raise _unsup(op, f"input must be [1, {steps}, features], got {list(x.shape)}")
    n = x.shape[2]
    wi_t, wr_t, bi_t = (graph.tensors[i] for i in op.inputs[1:4])
    for t, what in ((wi_t, "input weights"), (wr_t, "recurrent weights")):
        if t.data is None or t.dtype != "INT8":
            raise _unsup(op, f"{what} must be a constant int8 tensor")
    if bi_t.data is None or bi_t.dtype != "INT32":
        raise _unsup(op, "input bias must be a constant int32 tensor")
    units = int(opts.get("units", wr_t.shape[-1] if wr_t.shape else 0))
    if wi_t.shape != (gates, units, n) or wr_t.shape != (gates, units, units) \
            or bi_t.shape != (gates, units):
        raise _unsup(op, f"weights/bias shapes {list(wi_t.shape)}, {list(wr_t.shape)}, "
                     f"{list(bi_t.shape)} do not match {gates} gates x {units} units x {n}")
    want_out = (1, steps, units) if opts.get("return_sequences") else (1, units)
    if h.shape != want_out:
        raise _unsup(op, f"output must be {list(want_out)}, got {list(h.shape)}")
    if x.quant is None or h.quant is None:
        raise _unsup(op, "input and output need quantization parameters")
    in_scale, in_zp = x.quant.scale[0], x.quant.zero_point[0]
    h_scale, h_zp = h.quant.scale[0], h.quant.zero_point[0]
    if h_zp != 0:
        raise _unsup(op, "the hidden state must be symmetric (zero point 0)")
    s_in = _per_gate(wi_t, gates, "input weights", op)
    s_rec = _per_gate(wr_t, gates, "recurrent weights", op)
    w_in = wi_t.data.astype(np.int8)
    w_rec = wr_t.data.astype(np.int8)
    b_in = bi_t.data.astype(np.int64) - in_zp * w_in.astype(np.int64).sum(axis=2)
    b_rec = np.zeros((gates, units), np.int64)
    has_b_rec = op.inputs[4] >= 0
    if has_b_rec:
        br_t = graph.tensors[op.inputs[4]]
        if not reset_after:
            raise _unsup(op, "a recurrent bias needs reset_after (Keras GRU default)")
        if br_t.data is None or br_t.dtype != "INT32" or br_t.shape != (gates, units):
            raise _unsup(op, "recurrent bias must be a constant int32 [gates, units] tensor")
        b_rec = br_t.data.astype(np.int64)
    if max(np.abs(b_in).max(initial=0), np.abs(b_rec).max(initial=0)) > MAX_BIAS:
        raise LimitError(f"{cell} layer {layer_index}: a bias exceeds 2^28")
    mi, si, mr, sr = [], [], [], []
    for g in range(gates):
        m, s = quant.fc_multiplier_per_tensor(in_scale, s_in[g], GATE_SCALE)
        mi.append(m)
        si.append(s)
        m, s = quant.fc_multiplier_per_tensor(h_scale, s_rec[g], GATE_SCALE)
        mr.append(m)
        sr.append(s)
    m8, s8 = quant.mul_multiplier(ACT_SCALE, 1.0, h_scale)
    if cell == "gru" and state_bits not in (8, 16):
        raise _unsup(op, f"state_bits {state_bits}; GRU state is int16 (or int8)")
    return RecurrentLayer(
        cell, layer_index, n, units, reset_after, bool(opts.get("return_sequences")),
        state_bits if cell == "gru" else 8, w_in.copy(), w_rec.copy(), b_in.astype(np.int32),
        b_rec.astype(np.int32), has_b_rec, tuple(mi), tuple(si), tuple(mr), tuple(sr), m8, s8,
        float(in_scale), int(in_zp), float(h_scale))
