"""Lower a parsed TFLite graph into the runtime's model plan.

The runtime executes one shape of network: a stack of fused int8 LSTM layers stepped one time
step at a time, followed by a head (fully connected layers, softmax) applied to the last layer's
hidden state. Everything the TFLite converter emits around that (the strided slice that takes the
last time step, reshapes) is folded away here, and every quantization parameter is turned into the
integer multipliers and shifts TFLite Micro computes in its Prepare functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import quant
from .errors import LimitError, UnsupportedModelError, few
from .graph import Graph, Operator, Tensor

SUPPORTED_OPS = ("UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE", "RESHAPE",
                 "FULLY_CONNECTED", "SOFTMAX",
                 # int8 GRU / SimpleRNN as custom ops (convert/rnn_quant.py, aot/rnn_plan.py)
                 "CUSTOM(TINYRNN_GRU)", "CUSTOM(TINYRNN_RNN)")

# Limits of the C runtime (mirrored in tinyrnn_config.h). They keep every int32 accumulation far
# from overflow (|sum| <= 128*128*1024 + bias) and the generated loops on 16-bit counters.
MAX_UNITS = 1024
MAX_FEATURES = 1024
MAX_STEPS = 32767
MAX_LAYERS = 8
MAX_CLASSES = 1024
MAX_BIAS = 1 << 28

GATES = ("input", "forget", "cell", "output")
# Input indices of UNIDIRECTIONAL_SEQUENCE_LSTM (lstm_shared.h): weights 1-4 (input to gate),
# 5-8 (recurrent to gate), biases 12-15, hidden state 18, cell state 19.
_W_IN = {"input": 1, "forget": 2, "cell": 3, "output": 4}
_W_REC = {"input": 5, "forget": 6, "cell": 7, "output": 8}
_BIAS = {"input": 12, "forget": 13, "cell": 14, "output": 15}
_OPTIONAL_ABSENT = (9, 10, 11, 16, 17, 20, 21, 22, 23)
_ACT_NAMES = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 6: "SIGMOID"}


@dataclass
class Gate:
    w_in: np.ndarray        # int8 [units, input_size]
    w_rec: np.ndarray       # int8 [units, units]
    bias_in: np.ndarray     # int32 [units]: gate bias + input_offset * row sums of w_in
    bias_rec: np.ndarray    # int32 [units]: hidden_offset * row sums of w_rec
    mult_in: int
    shift_in: int
    mult_rec: int
    shift_rec: int


@dataclass
class LstmLayer:
    index: int
    input_size: int
    units: int
    gates: dict[str, Gate]
    cell_gate_tanh: bool     # False would mean a sigmoid cell activation
    cell_scale_power: int    # cell state scale is 2^cell_scale_power
    cell_clip: int           # quantized clip, 0 = none
    mult_fc: int             # forget * cell -> cell
    shift_fc: int
    mult_ig: int             # input * cell gate -> cell
    shift_ig: int
    mult_h: int              # tanh(cell) * output -> hidden (int8)
    shift_h: int
    hidden_zp: int


@dataclass
class FcOp:
    in_size: int
    out_size: int
    weights: np.ndarray      # int8 [out, in]
    bias: np.ndarray         # int32 [out]: bias + input_offset * row sums
    mult: np.ndarray         # int32 [out]
    shift: np.ndarray        # int32 [out]
    out_zp: int
    act_min: int
    act_max: int
    kind: str = "fc"


@dataclass
class SoftmaxOp:
    size: int
    mult: int
    left_shift: int
    diff_min: int
    kind: str = "softmax"


HeadOp = FcOp | SoftmaxOp


@dataclass
class ModelPlan:
    steps: int
    channels: int
    input_scale: float
    input_zp: int
    output_scale: float
    output_zp: int
    layers: list[LstmLayer]  # or rnn_plan.RecurrentLayer (GRU / SimpleRNN custom ops)
    head: list[HeadOp]
    notes: list[str] = field(default_factory=list)

    @property
    def output_size(self) -> int:
        if self.head:
            last = self.head[-1]
            return last.out_size if isinstance(last, FcOp) else last.size
        return self.layers[-1].units

    def weight_bytes(self) -> int:
        n = 0
        for layer in self.layers:
            for g in layer.gates.values():
                n += g.w_in.size + g.w_rec.size + 4 * (g.bias_in.size + g.bias_rec.size)
        for op in self.head:
            if isinstance(op, FcOp):
                n += op.weights.size + 4 * op.bias.size + 8 * op.out_size
        return n

    def macs(self) -> int:
        per_step = sum(4 * layer.units * (layer.input_size + layer.units) for layer in self.layers)
        head = sum(op.in_size * op.out_size for op in self.head if isinstance(op, FcOp))
        return self.steps * per_step + head


def _describe_op(graph: Graph, op: Operator) -> str:
    ins = few([graph.tensors[i].describe() for i in op.inputs if i >= 0])
    outs = few([graph.tensors[i].describe() for i in op.outputs if i >= 0])
    return f"{op.opcode} (inputs: {ins}; outputs: {outs})"


def _unsupported(graph: Graph, op: Operator, why: str) -> UnsupportedModelError:
    return UnsupportedModelError(
        f"operator #{op.index} {_describe_op(graph, op)}: {why}. "
        f"tinyrnn supports int8 {', '.join(SUPPORTED_OPS)} "
        "(fused LSTM layers followed by a dense head)."
    )


def _q(t: Tensor, what: str) -> tuple[float, int]:
    if t.quant is None or len(t.quant.scale) != 1:
        raise UnsupportedModelError(f"{what} {t.describe()} needs per-tensor quantization")
    return t.quant.scale[0], t.quant.zero_point[0]


def _const(graph: Graph, idx: int, dtype: str, what: str) -> np.ndarray:
    t = graph.tensor(idx)
    if t is None or t.data is None:
        raise UnsupportedModelError(f"{what} must be a constant tensor")
    if t.dtype != dtype:
        raise UnsupportedModelError(f"{what} {t.describe()} must be {dtype}")
    return t.data


def _check_types(graph: Graph) -> None:
    for idx in graph.inputs:
        t = graph.tensors[idx]
        if t.dtype != "INT8":
            kind = "float model" if t.dtype.startswith("FLOAT") else f"{t.dtype} input"
            raise UnsupportedModelError(
                f"{kind}: input {t.describe()} is not int8. Convert with full-integer "
                "quantization (inference_input_type=tf.int8, inference_output_type=tf.int8)."
            )
    for idx in graph.outputs:
        t = graph.tensors[idx]
        if t.dtype != "INT8":
            raise UnsupportedModelError(
                f"output {t.describe()} is not int8: convert with inference_output_type=tf.int8"
            )
    if graph.num_subgraphs != 1:
        whiles = [op for op in graph.operators if op.opcode == "WHILE"]
        if whiles:
            raise _unsupported(graph, whiles[0], "control flow (an unfused recurrent layer)")
        raise UnsupportedModelError(f"model has {graph.num_subgraphs} subgraphs; tinyrnn needs 1")


def _lower_lstm(graph: Graph, op: Operator, layer_index: int, steps: int) -> LstmLayer:
    if op.options.get("TimeMajor"):
        raise _unsupported(graph, op, "time-major layout")
    if len(op.inputs) != 24:
        raise _unsupported(graph, op, f"expected 24 inputs, found {len(op.inputs)}")
    for i in _OPTIONAL_ABSENT:
        if op.inputs[i] >= 0:
            raise _unsupported(graph, op, "peephole, projection or layer-norm LSTM variant")
    x = graph.tensors[op.inputs[0]]
    h = graph.tensor(op.inputs[18])
    c = graph.tensor(op.inputs[19])
    if h is None or c is None or not (h.is_variable and c.is_variable):
        raise _unsupported(graph, op, "hidden and cell state must be variable tensors")
    if x.dtype != "INT8" or h.dtype != "INT8" or c.dtype != "INT16":
        raise _unsupported(graph, op,
                           "only the int8 activation / int16 cell state variant (8x8->16)")
    if len(x.shape) != 3 or x.shape[0] != 1 or x.shape[1] != steps:
        raise _unsupported(graph, op, f"input must be [1, {steps}, features]")
    act = op.options.get("FusedActivationFunction", 4)
    if act not in (4, 6):
        raise _unsupported(graph, op, f"cell activation {_ACT_NAMES.get(act, act)}")
    in_scale, in_zp = _q(x, "LSTM input")
    h_scale, h_zp = _q(h, "LSTM hidden state")
    c_scale, c_zp = _q(c, "LSTM cell state")
    if c_zp != 0:
        raise _unsupported(graph, op, "cell state must be symmetric")
    power = quant.log2_exact(c_scale)
    if power is None:
        raise _unsupported(graph, op, f"cell state scale {c_scale} is not a power of two")
    units = h.size
    feat = x.shape[2]
    gates: dict[str, Gate] = {}
    gate_scale = 2.0 ** -12
    for g in GATES:
        wi_t = graph.tensor(op.inputs[_W_IN[g]])
        wr_t = graph.tensor(op.inputs[_W_REC[g]])
        b_t = graph.tensor(op.inputs[_BIAS[g]])
        if wi_t is None or wr_t is None:
            raise _unsupported(graph, op, "CIFG (coupled input-forget gate) LSTM")
        wi = _const(graph, wi_t.index, "INT8", f"{g} gate input weights")
        wr = _const(graph, wr_t.index, "INT8", f"{g} gate recurrent weights")
        if wi.shape != (units, feat) or wr.shape != (units, units):
            raise _unsupported(graph, op, f"{g} gate weights have unexpected shapes")
        wi_s, wi_zp = _q(wi_t, f"{g} gate input weights")
        wr_s, wr_zp = _q(wr_t, f"{g} gate recurrent weights")
        if wi_zp or wr_zp:
            raise _unsupported(graph, op, "weights must be symmetric (zero point 0)")
        bias = np.zeros(units, np.int64)
        if b_t is not None:
            bias = _const(graph, b_t.index, "INT32", f"{g} gate bias").astype(np.int64)
        rows_i = wi.astype(np.int64).sum(axis=1)
        rows_r = wr.astype(np.int64).sum(axis=1)
        b_in = bias - in_zp * rows_i
        b_rec = -h_zp * rows_r
        if np.abs(b_in).max(initial=0) > MAX_BIAS or np.abs(b_rec).max(initial=0) > MAX_BIAS:
            raise LimitError(f"LSTM layer {layer_index} {g} gate bias exceeds 2^28")
        mi, si = quant.fc_multiplier_per_tensor(in_scale, wi_s, gate_scale)
        mr, sr = quant.fc_multiplier_per_tensor(h_scale, wr_s, gate_scale)
        gates[g] = Gate(wi.copy(), wr.copy(), b_in.astype(np.int32), b_rec.astype(np.int32),
                        mi, si, mr, sr)
    clip = float(op.options.get("CellClip", 0.0))
    if clip < 0:
        raise _unsupported(graph, op, "negative cell clip")
    qclip = 0
    if clip > 0:
        qclip = int(min(max(clip / float(np.float32(c_scale)), -32768.0), 32767.0))
    s15 = 2.0 ** -15
    m_fc, s_fc = quant.mul_multiplier(s15, c_scale, c_scale)
    m_ig, s_ig = quant.mul_multiplier(s15, s15, c_scale)
    m_h, s_h = quant.mul_multiplier(s15, s15, h_scale)
    if clip > 0 and qclip == 0:
        # A clip below one cell-state step: TFLM tests the float clip, then clamps to +-0, so
        # the cell state stays 0. Zero cell multipliers give every kernel that same integer
        # (the kernels read a quantized clip of 0 as "no clip").
        m_fc = s_fc = m_ig = s_ig = 0
    return LstmLayer(layer_index, feat, units, gates, act == 4, power, qclip,
                     m_fc, s_fc, m_ig, s_ig, m_h, s_h, h_zp)


def _strided_slice_range(graph: Graph, op: Operator) -> tuple[int, int]:
    """Resolve a constant STRIDED_SLICE to one contiguous [start, stop) range of the flat input."""
    src = graph.tensors[op.inputs[0]]
    begin = _const(graph, op.inputs[1], "INT32", "strided slice begin").tolist()
    end = _const(graph, op.inputs[2], "INT32", "strided slice end").tolist()
    strides = _const(graph, op.inputs[3], "INT32", "strided slice strides").tolist()
    o = op.options
    if o.get("EllipsisMask") or o.get("NewAxisMask"):
        raise _unsupported(graph, op, "ellipsis/new-axis strided slice")
    shape = list(src.shape)
    if len(begin) != len(shape):
        raise _unsupported(graph, op, "strided slice rank differs from its input")
    ranges = []
    for ax, dim in enumerate(shape):
        st = strides[ax]
        if st != 1:
            raise _unsupported(graph, op, "strided slice with stride != 1")
        shrink = bool(o.get("ShrinkAxisMask", 0) >> ax & 1)
        b = 0 if (o.get("BeginMask", 0) >> ax & 1) else begin[ax]
        if b < 0:
            b += dim
        if shrink:
            e = b + 1
        else:
            e = dim if (o.get("EndMask", 0) >> ax & 1) else end[ax]
            if o.get("Offset"):
                e = b + end[ax]
            if e < 0:
                e += dim
        b, e = max(0, min(b, dim)), max(0, min(e, dim))
        ranges.append((b, e))
    # Contiguous iff, past the first axis with extent > 1, every axis is taken whole.
    strides_el = [int(np.prod(shape[i + 1:], dtype=np.int64)) for i in range(len(shape))]
    start = sum(b * s for (b, _), s in zip(ranges, strides_el, strict=True))
    count = int(np.prod([e - b for b, e in ranges], dtype=np.int64))
    extents = [e - b for b, e in ranges]
    first = next((i for i, n in enumerate(extents) if n > 1), len(shape))
    if any((b, e) != (0, dim) for (b, e), dim in zip(ranges[first + 1:], shape[first + 1:],
                                                     strict=True)):
        raise _unsupported(graph, op, "non-contiguous strided slice")
    return start, start + count


# Tensors an op must be given (optional ones after these may be omitted as -1), and outputs.
_ARITY = {"FULLY_CONNECTED": (2, 1), "SOFTMAX": (1, 1), "STRIDED_SLICE": (4, 1),
          "RESHAPE": (1, 1), "CUSTOM(TINYRNN_GRU)": (4, 1), "CUSTOM(TINYRNN_RNN)": (4, 1)}


def _check_arity(graph: Graph, op: Operator) -> None:
    """A damaged operator list must not reach indexing: every required tensor present."""
    need_in, need_out = _ARITY.get(op.opcode, (1, 1))
    if len(op.inputs) < need_in or any(i < 0 for i in op.inputs[:need_in]):
        raise _unsupported(graph, op, f"needs {need_in} input tensors, has {list(op.inputs)}")
    if len(op.outputs) != need_out or any(o < 0 for o in op.outputs):
        raise _unsupported(graph, op, f"needs {need_out} output tensor(s), has {list(op.outputs)}")


def _lower_fc(graph: Graph, op: Operator, in_size: int) -> FcOp:
    x = graph.tensors[op.inputs[0]]
    w_t = graph.tensors[op.inputs[1]]
    y = graph.tensors[op.outputs[0]]
    if x.dtype != "INT8" or y.dtype != "INT8" or w_t.dtype != "INT8":
        raise _unsupported(graph, op, "only int8 x int8 -> int8 fully connected")
    if op.options.get("WeightsFormat", 0) != 0:
        raise _unsupported(graph, op, "shuffled weights format")
    w = _const(graph, w_t.index, "INT8", "fully connected weights")
    if w.ndim != 2 or w.shape[1] != in_size or x.size != in_size:
        raise _unsupported(graph, op, "fully connected must act on the per-window feature vector")
    out = w.shape[0]
    in_scale, in_zp = _q(x, "fully connected input")
    out_scale, out_zp = _q(y, "fully connected output")
    assert w_t.quant is not None
    if any(z != 0 for z in w_t.quant.zero_point):
        raise _unsupported(graph, op, "weights must be symmetric (zero point 0)")
    bias = np.zeros(out, np.int64)
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        bias = _const(graph, op.inputs[2], "INT32", "fully connected bias").astype(np.int64)
    if w_t.quant.per_channel:
        if len(w_t.quant.scale) != out or w_t.quant.axis != 0:
            raise _unsupported(graph, op, "per-channel scales must run along the output axis")
        pairs = [quant.fc_multiplier_per_channel(in_scale, s, out_scale) for s in w_t.quant.scale]
    else:
        pairs = [quant.fc_multiplier_per_tensor(in_scale, w_t.quant.scale[0], out_scale)] * out
    act = op.options.get("FusedActivationFunction", 0)

    def qz(f: float) -> int:
        return out_zp + int(np.round(np.float32(f) / np.float32(out_scale)))

    lo, hi = -128, 127
    if act == 1:
        lo = max(lo, qz(0.0))
    elif act == 3:
        lo, hi = max(lo, qz(0.0)), min(hi, qz(6.0))
    elif act == 2:
        lo, hi = max(lo, qz(-1.0)), min(hi, qz(1.0))
    elif act != 0:
        raise _unsupported(graph, op, f"fused activation {_ACT_NAMES.get(act, act)}")
    b = bias - in_zp * w.astype(np.int64).sum(axis=1)
    if np.abs(b).max(initial=0) > MAX_BIAS:
        raise LimitError("fully connected bias exceeds 2^28")
    return FcOp(in_size, out, w.copy(), b.astype(np.int32),
                np.array([p[0] for p in pairs], np.int32),
                np.array([p[1] for p in pairs], np.int32),
                out_zp, lo, hi)


def _lower_softmax(graph: Graph, op: Operator, size: int) -> SoftmaxOp:
    x = graph.tensors[op.inputs[0]]
    y = graph.tensors[op.outputs[0]]
    if x.dtype != "INT8" or y.dtype != "INT8":
        raise _unsupported(graph, op, "only int8 softmax")
    in_scale, _ = _q(x, "softmax input")
    out_scale, out_zp = _q(y, "softmax output")
    if out_zp != -128 or abs(out_scale - 1.0 / 256) > 1e-8 * (1.0 / 256):
        raise _unsupported(graph, op, "int8 softmax output must have scale 1/256, zero point -128")
    try:
        m, s, dmin = quant.softmax_params(float(op.options.get("Beta", 1.0)), in_scale)
    except ValueError as exc:
        raise _unsupported(graph, op, str(exc)) from exc
    return SoftmaxOp(size, m, s, dmin)


def lower(graph: Graph) -> ModelPlan:
    """Match the graph against the LSTM classifier pattern and compute all integer params."""
    _check_types(graph)
    for op in graph.operators:
        if op.opcode not in SUPPORTED_OPS:
            raise _unsupported(graph, op, "unsupported operator")
        _check_arity(graph, op)
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise UnsupportedModelError("tinyrnn needs exactly one input and one output tensor")
    x = graph.tensors[graph.inputs[0]]
    if len(x.shape) != 3 or x.shape[0] != 1:
        raise UnsupportedModelError(f"input {x.describe()} must be [1, steps, channels]")
    steps, channels = x.shape[1], x.shape[2]
    if not 1 <= steps <= MAX_STEPS:
        raise LimitError(f"{steps} time steps: the runtime handles 1..{MAX_STEPS}")
    if not 1 <= channels <= MAX_FEATURES:
        raise LimitError(f"{channels} channels: the runtime handles 1..{MAX_FEATURES}")
    in_scale, in_zp = _q(x, "model input")

    produced = {o: op for op in graph.operators for o in op.outputs}
    layers: list = []  # LstmLayer, or rnn_plan.RecurrentLayer for the custom GRU/RNN ops
    head: list[HeadOp] = []
    cur = graph.inputs[0]
    cur_size = channels
    in_sequence = True
    visited: set[int] = set()
    while cur != graph.outputs[0] or (in_sequence and not layers):
        users = graph.consumers(cur)
        if len(users) != 1:
            t = graph.tensors[cur]
            raise UnsupportedModelError(
                f"tensor {t.describe()} feeds {len(users)} operators; tinyrnn compiles a single "
                "chain of layers"
            )
        op = users[0]
        if op.index in visited or op.inputs[0] != cur:
            raise _unsupported(graph, op, "unexpected wiring")
        visited.add(op.index)
        out_t = graph.tensors[op.outputs[0]]
        if op.opcode == "UNIDIRECTIONAL_SEQUENCE_LSTM":
            if not in_sequence:
                raise _unsupported(graph, op, "LSTM after the sequence has been reduced")
            if len(layers) >= MAX_LAYERS:
                raise LimitError(f"more than {MAX_LAYERS} LSTM layers")
            layer = _lower_lstm(graph, op, len(layers), steps)
            if layer.units > MAX_UNITS:
                raise LimitError(f"LSTM layer {len(layers)} has {layer.units} units; "
                                 f"the runtime handles at most {MAX_UNITS}")
            layers.append(layer)
            cur_size = layer.units
        elif op.opcode in ("CUSTOM(TINYRNN_GRU)", "CUSTOM(TINYRNN_RNN)"):
            from .rnn_plan import lower_recurrent

            if not in_sequence:
                raise _unsupported(graph, op, "recurrent layer after the sequence was reduced")
            if len(layers) >= MAX_LAYERS:
                raise LimitError(f"more than {MAX_LAYERS} recurrent layers")
            rlayer = lower_recurrent(graph, op, len(layers), steps)
            if rlayer.units > MAX_UNITS:
                raise LimitError(f"{rlayer.cell} layer {len(layers)} has {rlayer.units} units; "
                                 f"the runtime handles at most {MAX_UNITS}")
            layers.append(rlayer)
            cur_size = rlayer.units
            in_sequence = rlayer.return_sequences
        elif op.opcode == "STRIDED_SLICE":
            if not in_sequence or not layers:
                raise _unsupported(graph, op, "slice outside the LSTM output")
            start, stop = _strided_slice_range(graph, op)
            want = ((steps - 1) * cur_size, steps * cur_size)
            if (start, stop) != want:
                raise _unsupported(graph, op,
                                   "only the slice taking the last time step is supported")
            in_sequence = False
        elif op.opcode == "RESHAPE":
            if out_t.size != graph.tensors[cur].size:
                raise _unsupported(graph, op, "reshape that changes the element count")
            if in_sequence and graph.tensors[cur].size != steps * cur_size:
                raise _unsupported(graph, op, "reshape inside the sequence")
        elif op.opcode == "FULLY_CONNECTED":
            if in_sequence:
                raise _unsupported(graph, op, "dense layer applied to every time step "
                                   "(use an LSTM with return_sequences=False before the head)")
            fc = _lower_fc(graph, op, cur_size)
            if fc.out_size > MAX_CLASSES:
                raise LimitError(f"dense layer with {fc.out_size} outputs; limit {MAX_CLASSES}")
            head.append(fc)
            cur_size = fc.out_size
        elif op.opcode == "SOFTMAX":
            if in_sequence:
                raise _unsupported(graph, op, "softmax over a sequence")
            head.append(_lower_softmax(graph, op, cur_size))
        cur = op.outputs[0]
        if cur not in produced:
            raise UnsupportedModelError("graph wiring is inconsistent")
    if not layers:
        raise UnsupportedModelError("model has no UNIDIRECTIONAL_SEQUENCE_LSTM layer")
    if in_sequence:
        raise UnsupportedModelError(
            "model outputs the whole sequence; tinyrnn compiles classifiers that reduce the "
            "sequence to its last time step (LSTM return_sequences=False)"
        )
    unused = [op for op in graph.operators if op.index not in visited]
    if unused:
        raise _unsupported(graph, unused[0], "operator not on the path from input to output")
    out = graph.tensors[graph.outputs[0]]
    out_scale, out_zp = _q(out, "model output")
    return ModelPlan(steps, channels, in_scale, in_zp, out_scale, out_zp, layers, head)
