"""Write int8 fused-LSTM classifiers as `.tflite` directly, without TF's converter, so the
property tests (test_property_exact.py) can draw hundreds of LSTM models per run.

The flatbuffer has the structure TF's converter emits for a Keras LSTM stack quantized to int8
(checked against converted models by test_lstm_tflite.py)::

    window int8 [1, T, C]
      -> UNIDIRECTIONAL_SEQUENCE_LSTM (one per layer; 24 inputs, -1 for the absent optional ones)
           1-4  input weights int8 [U, n] (gates input, forget, cell, output; per-tensor scale)
           5-8  recurrent weights int8 [U, U]
           12-15 biases int32 [U] at input_scale * weight_scale
           18   hidden state int8 [1, U], variable      19 cell state int16 [1, U], variable,
                scale 2^p, zero point 0
           intermediates: 4 empty float32 + effective_hidden_scale (the hidden quantization)
           options: TANH, cell_clip, time_major false
           output int8 [1, T, U] with the hidden state's quantization
      -> STRIDED_SLICE (last time step: begin [0,-1,0], masks 5/5, shrink 2) int8 [1, U]
      -> FULLY_CONNECTED (per-channel weights, optional bias, NONE or RELU) ... -> [SOFTMAX]

What TFLM reads from it (tensorflow/lite/micro/kernels/lstm_eval_common.cc): the input, hidden
state and weight scales, the cell state's power-of-two scale, cell_clip and the bias data; gate
pre-activations are fixed at 2^-12 and the intermediates are not read.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import flatbuffers
import numpy as np

from tinyrnn.convert.rnn_tflite import vec_i32, write_buffers, write_tensors

_INT8, _INT16, _INT32, _FLOAT32 = 9, 7, 2, 0  # tflite.TensorType
_LSTM, _STRIDED_SLICE, _FC, _SOFTMAX = 44, 45, 9, 25  # tflite.BuiltinOperator
_OPT = {_LSTM: 71, _STRIDED_SLICE: 32, _FC: 8, _SOFTMAX: 9}  # tflite.BuiltinOptions
_VERSION = {_LSTM: 1, _STRIDED_SLICE: 2, _FC: 4, _SOFTMAX: 2}  # what the converter writes
_TANH, _RELU = 4, 1
GATES = ("input", "forget", "cell", "output")


@dataclass
class LstmLayerQ:
    w_in: np.ndarray          # int8 [4, U, n], gates in GATES order
    w_rec: np.ndarray         # int8 [4, U, U]
    w_in_scale: tuple[float, ...]   # 4 per-tensor scales
    w_rec_scale: tuple[float, ...]
    bias: np.ndarray          # int32 [4, U]
    hidden: tuple[float, int]  # hidden state (and output) scale, zero point
    cell_power: int           # cell state scale = 2^cell_power
    cell_clip: float          # 0 = none

    @property
    def units(self) -> int:
        return int(self.w_in.shape[1])


@dataclass
class DenseQ:
    weights: np.ndarray       # int8 [K, n]
    scales: tuple[float, ...]  # per output channel
    bias: np.ndarray | None   # int32 [K] at input_scale * scales[k]
    out: tuple[float, int]
    relu: bool


@dataclass
class LstmModelQ:
    steps: int
    channels: int
    input: tuple[float, int]
    layers: list[LstmLayerQ]
    dense: list[DenseQ]
    softmax: bool


class _Writer:
    def __init__(self) -> None:
        self.tensors: list[dict] = []
        self.buffers: list[bytes] = [b""]
        self.ops: list[tuple] = []
        self.codes: list[int] = []

    def tensor(self, name: str, shape: tuple[int, ...], dtype: int,
               q: tuple | None = None, data: np.ndarray | None = None,
               variable: bool = False) -> int:
        buf = 0
        if data is not None:
            self.buffers.append(np.ascontiguousarray(data).tobytes())
            buf = len(self.buffers) - 1
        self.tensors.append(dict(name=name, shape=shape, type=dtype, q=q, buffer=buf,
                                 variable=variable))
        return len(self.tensors) - 1

    def op(self, code: int, ins: list[int], outs: list[int], options: dict,
           intermediates: list[int] | None = None) -> None:
        if code not in self.codes:
            self.codes.append(code)
        self.ops.append((self.codes.index(code), code, ins, outs, options, intermediates or []))


def _q(scales, zps, axis: int = 0) -> tuple:
    return tuple(float(np.float32(s)) for s in scales), tuple(int(z) for z in zps), axis


def _graph(m: LstmModelQ) -> tuple[_Writer, int, int]:
    g = _Writer()
    x = g.tensor("window", (1, m.steps, m.channels), _INT8, _q([m.input[0]], [m.input[1]]))
    first, in_q = x, m.input
    for li, layer in enumerate(m.layers):
        U, n = layer.w_in.shape[1:]
        ins = [x] + [-1] * 23
        for k, gate in enumerate(GATES):
            ins[1 + k] = g.tensor(f"l{li}/{gate}/w_in", (U, n), _INT8,
                                  _q([layer.w_in_scale[k]], [0]), layer.w_in[k].astype(np.int8))
            ins[5 + k] = g.tensor(f"l{li}/{gate}/w_rec", (U, U), _INT8,
                                  _q([layer.w_rec_scale[k]], [0]),
                                  layer.w_rec[k].astype(np.int8))
            ins[12 + k] = g.tensor(f"l{li}/{gate}/bias", (U,), _INT32,
                                   _q([np.float32(in_q[0]) * np.float32(layer.w_in_scale[k])],
                                      [0]), layer.bias[k].astype("<i4"))
        hq = _q([layer.hidden[0]], [layer.hidden[1]])
        ins[18] = g.tensor(f"l{li}/hidden_state", (1, U), _INT8, hq, variable=True)
        ins[19] = g.tensor(f"l{li}/cell_state", (1, U), _INT16,
                           _q([2.0 ** layer.cell_power], [0]), variable=True)
        inter = [g.tensor(f"l{li}/input_to_{gate}_intermediate", (0,), _FLOAT32)
                 for gate in GATES]
        inter.append(g.tensor(f"l{li}/effective_hidden_scale_intermediate", (0,), _INT8, hq))
        y = g.tensor(f"l{li}/lstm", (1, m.steps, U), _INT8, hq)
        g.op(_LSTM, ins, [y], dict(clip=float(layer.cell_clip)), inter)
        x, in_q = y, layer.hidden
    U = m.layers[-1].units
    consts = [g.tensor(f"slice/{w}", (3,), _INT32, None, np.array(v, "<i4"))
              for w, v in (("begin", [0, -1, 0]), ("end", [0, 0, 0]), ("strides", [1, 1, 1]))]
    last = g.tensor("last_step", (1, U), _INT8, _q([in_q[0]], [in_q[1]]))
    g.op(_STRIDED_SLICE, [x, *consts], [last], {})
    x = last
    for di, d in enumerate(m.dense):
        K, n = d.weights.shape
        w = g.tensor(f"dense{di}/weights", (K, n), _INT8, _q(d.scales, [0] * K),
                     d.weights.astype(np.int8))
        b = -1
        if d.bias is not None:
            b = g.tensor(f"dense{di}/bias", (K,), _INT32,
                         _q([np.float32(in_q[0]) * np.float32(s) for s in d.scales], [0] * K),
                         d.bias.astype("<i4"))
        y = g.tensor(f"dense{di}/out", (1, K), _INT8, _q([d.out[0]], [d.out[1]]))
        g.op(_FC, [x, w, b], [y], dict(relu=d.relu))
        x, in_q = y, d.out
    if m.softmax:
        K = m.dense[-1].weights.shape[0]
        y = g.tensor("probabilities", (1, K), _INT8, _q([1.0 / 256.0], [-128]))
        g.op(_SOFTMAX, [x], [y], {})
        x = y
    return g, first, x


def _tables(b: flatbuffers.Builder, offsets: list[int], start) -> int:
    start(b, len(offsets))
    for o in reversed(offsets):
        b.PrependUOffsetTRelative(o)
    return b.EndVector()


def to_tflite(m: LstmModelQ) -> bytes:
    """Serialize; tables are built in a fixed order, so the same model gives the same bytes."""
    (TM, TO, TOC, TS, LO, SSO, FCO, SMO) = (
        importlib.import_module(f"tflite.{name}") for name in (
            "Model", "Operator", "OperatorCode", "SubGraph",
            "UnidirectionalSequenceLSTMOptions", "StridedSliceOptions",
            "FullyConnectedOptions", "SoftmaxOptions"))
    g, x_in, y_out = _graph(m)
    b = flatbuffers.Builder(4096)
    bufs = write_buffers(b, g.buffers)
    tens = write_tensors(b, g.tensors)
    ops = []
    for idx, code, ins, outs, options, inter in g.ops:
        ivec = vec_i32(b, TO.OperatorStartInputsVector, ins)
        ovec = vec_i32(b, TO.OperatorStartOutputsVector, outs)
        mvec = vec_i32(b, TO.OperatorStartIntermediatesVector, inter) if inter else None
        if code == _LSTM:
            LO.UnidirectionalSequenceLSTMOptionsStart(b)
            LO.UnidirectionalSequenceLSTMOptionsAddFusedActivationFunction(b, _TANH)
            LO.UnidirectionalSequenceLSTMOptionsAddCellClip(b, options["clip"])
            LO.UnidirectionalSequenceLSTMOptionsAddProjClip(b, 0.0)
            LO.UnidirectionalSequenceLSTMOptionsAddTimeMajor(b, False)
            opt = LO.UnidirectionalSequenceLSTMOptionsEnd(b)
        elif code == _STRIDED_SLICE:
            SSO.StridedSliceOptionsStart(b)
            SSO.StridedSliceOptionsAddBeginMask(b, 5)
            SSO.StridedSliceOptionsAddEndMask(b, 5)
            SSO.StridedSliceOptionsAddShrinkAxisMask(b, 2)
            opt = SSO.StridedSliceOptionsEnd(b)
        elif code == _FC:
            FCO.FullyConnectedOptionsStart(b)
            FCO.FullyConnectedOptionsAddFusedActivationFunction(
                b, _RELU if options["relu"] else 0)
            opt = FCO.FullyConnectedOptionsEnd(b)
        else:
            SMO.SoftmaxOptionsStart(b)
            SMO.SoftmaxOptionsAddBeta(b, 1.0)
            opt = SMO.SoftmaxOptionsEnd(b)
        TO.OperatorStart(b)
        TO.OperatorAddOpcodeIndex(b, idx)
        TO.OperatorAddInputs(b, ivec)
        TO.OperatorAddOutputs(b, ovec)
        TO.OperatorAddBuiltinOptionsType(b, _OPT[code])
        TO.OperatorAddBuiltinOptions(b, opt)
        if mvec is not None:
            TO.OperatorAddIntermediates(b, mvec)
        ops.append(TO.OperatorEnd(b))
    tvec = _tables(b, tens, TS.SubGraphStartTensorsVector)
    opvec = _tables(b, ops, TS.SubGraphStartOperatorsVector)
    ivec = vec_i32(b, TS.SubGraphStartInputsVector, [x_in])
    ovec = vec_i32(b, TS.SubGraphStartOutputsVector, [y_out])
    sname = b.CreateString("main")
    TS.SubGraphStart(b)
    TS.SubGraphAddTensors(b, tvec)
    TS.SubGraphAddInputs(b, ivec)
    TS.SubGraphAddOutputs(b, ovec)
    TS.SubGraphAddOperators(b, opvec)
    TS.SubGraphAddName(b, sname)
    sub = TS.SubGraphEnd(b)
    codes = []
    for code in g.codes:
        TOC.OperatorCodeStart(b)
        TOC.OperatorCodeAddDeprecatedBuiltinCode(b, code)
        TOC.OperatorCodeAddBuiltinCode(b, code)
        TOC.OperatorCodeAddVersion(b, _VERSION[code])
        codes.append(TOC.OperatorCodeEnd(b))
    cvec = _tables(b, codes, TM.ModelStartOperatorCodesVector)
    svec = _tables(b, [sub], TM.ModelStartSubgraphsVector)
    bvec = _tables(b, bufs, TM.ModelStartBuffersVector)
    desc = b.CreateString("tinyrnn test writer: int8 LSTM (converter layout)")
    TM.ModelStart(b)
    TM.ModelAddVersion(b, 3)
    TM.ModelAddOperatorCodes(b, cvec)
    TM.ModelAddSubgraphs(b, svec)
    TM.ModelAddDescription(b, desc)
    TM.ModelAddBuffers(b, bvec)
    b.Finish(TM.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def from_converted(source) -> LstmModelQ:
    """Read a converter-made int8 LSTM classifier back into an LstmModelQ (same weights and
    quantization), so writing it again must give a model TFLM runs identically."""
    from tinyrnn.convert.aot.graph import read_tflite
    from tinyrnn.convert.aot.quant import log2_exact

    graph = read_tflite(source)
    x = graph.tensors[graph.inputs[0]]

    def q1(t) -> tuple[float, int]:
        return t.quant.scale[0], t.quant.zero_point[0]

    layers, dense, softmax = [], [], False
    for op in graph.operators:
        t = graph.tensors
        if op.opcode == "UNIDIRECTIONAL_SEQUENCE_LSTM":
            w_in = [t[op.inputs[1 + k]] for k in range(4)]
            w_rec = [t[op.inputs[5 + k]] for k in range(4)]
            U = w_in[0].shape[0]
            bias = [t[op.inputs[12 + k]].data if op.inputs[12 + k] >= 0
                    else np.zeros(U, np.int32) for k in range(4)]
            c_scale = t[op.inputs[19]].quant.scale[0]
            layers.append(LstmLayerQ(
                np.stack([w.data for w in w_in]), np.stack([w.data for w in w_rec]),
                tuple(w.quant.scale[0] for w in w_in), tuple(w.quant.scale[0] for w in w_rec),
                np.stack(bias).astype(np.int32), q1(t[op.inputs[18]]),
                log2_exact(c_scale), float(op.options.get("CellClip", 0.0))))
        elif op.opcode == "FULLY_CONNECTED":
            w = t[op.inputs[1]]
            K = w.shape[0]
            scales = w.quant.scale if len(w.quant.scale) == K else w.quant.scale * K
            bias = t[op.inputs[2]].data if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
            dense.append(DenseQ(w.data, tuple(scales), bias, q1(t[op.outputs[0]]),
                                op.options.get("FusedActivationFunction", 0) == _RELU))
        elif op.opcode == "SOFTMAX":
            softmax = True
        elif op.opcode != "STRIDED_SLICE":
            raise ValueError(f"from_converted: unexpected operator {op.opcode}")
    return LstmModelQ(x.shape[1], x.shape[2], q1(x), layers, dense, softmax)
