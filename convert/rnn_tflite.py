"""Write a QuantizedModel (convert/rnn_quant.py) as a standard TFLite flatbuffer.

Graph (one subgraph, schema version 3)::

    window int8 [1, T, C]
      -> CUSTOM "TINYRNN_GRU" | "TINYRNN_RNN"   (one per recurrent layer)
           inputs : x, w_in int8 [G, U, n], w_rec int8 [G, U, U], b_in int32 [G, U],
                    b_rec int32 [G, U] (GRU reset_after only, else -1)
           outputs: h int8 [1, U] (last layer) or [1, T, U] (return_sequences)
           custom_options: flexbuffer map {cell, reset_after, return_sequences, state_bits,
                    units, version} (format FLEXBUFFERS)
      -> FULLY_CONNECTED int8 (per-channel weights) -> SOFTMAX int8 (1/256, -128)

Weights carry per-channel quantization along axis 0 (one scale per gate matrix); biases are
int32 at input_scale * weight_scale, with the zero-point terms *not* folded in, exactly like
TFLite's own int8 tensors, so any TFLite reader sees ordinary quantized tensors. Constant
buffers are 16-byte aligned. The builder is deterministic: same model, same bytes.
"""

from __future__ import annotations

import importlib

import flatbuffers
import numpy as np
from flatbuffers import flexbuffers

from .rnn_int8 import SCHEME_VERSION, QParams, QuantizedModel

_INT8, _INT32 = 9, 2  # tflite.TensorType
_FULLY_CONNECTED, _SOFTMAX, _CUSTOM = 9, 25, 32
_OPT_FC, _OPT_SOFTMAX = 8, 9
_FLEXBUFFERS = 0  # CustomOptionsFormat


def custom_options(layer) -> bytes:
    return bytes(flexbuffers.Dumps({
        "cell": layer.cell,
        "reset_after": bool(layer.reset_after),
        "return_sequences": bool(layer.return_sequences),
        "state_bits": int(layer.state_bits),
        "units": int(layer.units),
        "version": SCHEME_VERSION,
    }))


class _Graph:
    def __init__(self) -> None:
        self.tensors: list[dict] = []
        self.buffers: list[bytes] = [b""]  # buffer 0: the empty sentinel
        self.ops: list[tuple[int, list[int], list[int], bytes | None]] = []
        self.opcodes: list[tuple[int, str | None]] = []

    def tensor(self, name: str, shape: tuple[int, ...], dtype: int, q: tuple | None,
               data: np.ndarray | None = None) -> int:
        buf = 0
        if data is not None:
            self.buffers.append(np.ascontiguousarray(data).tobytes())
            buf = len(self.buffers) - 1
        self.tensors.append({"name": name, "shape": shape, "type": dtype, "q": q, "buffer": buf})
        return len(self.tensors) - 1

    def op(self, code: int, custom: str | None, ins: list[int], outs: list[int],
           options: bytes | None = None) -> None:
        key = (code, custom)
        if key not in self.opcodes:
            self.opcodes.append(key)
        self.ops.append((self.opcodes.index(key), ins, outs, options))


def _q(scales, zps, axis: int = 0) -> tuple:
    return (tuple(float(s) for s in scales), tuple(int(z) for z in zps), axis)


def _qp(p: QParams) -> tuple:
    return _q([p.scale], [p.zero_point])


def _graph(m: QuantizedModel) -> tuple[_Graph, int, int]:
    import tflite

    g = _Graph()
    x = g.tensor("window", (1, m.steps, m.channels), _INT8, _qp(m.input))
    first = x
    for i, layer in enumerate(m.layers):
        G, U, n = layer.w_in.shape
        pre = f"{layer.cell}{i}"
        wi = g.tensor(f"{pre}/w_in", (G, U, n), _INT8, _q(layer.w_in_scale, [0] * G),
                      layer.w_in.astype(np.int8))
        wr = g.tensor(f"{pre}/w_rec", (G, U, U), _INT8, _q(layer.w_rec_scale, [0] * G),
                      layer.w_rec.astype(np.int8))
        bs = [np.float32(layer.input.scale) * np.float32(s) for s in layer.w_in_scale]
        bi = g.tensor(f"{pre}/b_in", (G, U), _INT32, _q(bs, [0] * G),
                      layer.b_in.astype("<i4"))
        br = -1
        if layer.b_rec is not None:
            rs = [np.float32(layer.hidden.scale) * np.float32(s) for s in layer.w_rec_scale]
            br = g.tensor(f"{pre}/b_rec", (G, U), _INT32, _q(rs, [0] * G),
                          layer.b_rec.astype("<i4"))
        shape = (1, m.steps, U) if layer.return_sequences else (1, U)
        h = g.tensor(f"{pre}/h", shape, _INT8, _qp(layer.hidden))
        g.op(_CUSTOM, layer.custom_code, [x, wi, wr, bi, br], [h], custom_options(layer))
        x = h
    hd = m.head
    K, U = hd.weights.shape
    w = g.tensor("head/weights", (K, U), _INT8, _q(hd.w_scale, [0] * K),
                 hd.weights.astype(np.int8))
    bs = [np.float32(hd.input.scale) * np.float32(s) for s in hd.w_scale]
    b = g.tensor("head/bias", (K,), _INT32, _q(bs, [0] * K), hd.bias.astype("<i4"))
    logits = g.tensor("head/logits", (1, K), _INT8, _qp(hd.output))
    g.op(_FULLY_CONNECTED, None, [x, w, b], [logits])
    out = logits
    if hd.softmax:
        out = g.tensor("probabilities", (1, K), _INT8, _qp(QParams(1.0 / 256.0, -128)))
        g.op(_SOFTMAX, None, [logits], [out])
    assert tflite  # the schema package defines the enum values used above
    return g, first, out


def vec_i32(b: flatbuffers.Builder, start, values: list[int]) -> int:
    start(b, len(values))
    for v in reversed(values):
        b.PrependInt32(v)
    return b.EndVector()


def write_buffers(b: flatbuffers.Builder, buffers: list[bytes]) -> list[int]:
    """The model's Buffer tables; data 16-byte aligned for TFLM's int32 and SIMD loads."""
    TB = importlib.import_module("tflite.Buffer")
    offs = []
    for data in buffers:
        dvec = None
        if data:
            b.StartVector(1, len(data), 16)
            b.head = b.head - len(data)
            b.Bytes[b.head:b.head + len(data)] = data
            dvec = b.EndVector()
        TB.BufferStart(b)
        if dvec is not None:
            TB.BufferAddData(b, dvec)
        offs.append(TB.BufferEnd(b))
    return offs


def write_tensors(b: flatbuffers.Builder, tensors: list[dict]) -> list[int]:
    """Tensor tables from dicts with name, shape, type, buffer, q = (scales, zero points, axis)
    or None, and optionally variable (TFLM's persistent state tensors)."""
    TQ = importlib.import_module("tflite.QuantizationParameters")
    TT = importlib.import_module("tflite.Tensor")
    offs = []
    for t in tensors:
        name = b.CreateString(t["name"])
        shape = vec_i32(b, TT.TensorStartShapeVector, list(t["shape"]))
        qoff = None
        if t["q"] is not None:
            scales, zps, axis = t["q"]
            TQ.QuantizationParametersStartScaleVector(b, len(scales))
            for s in reversed(scales):
                b.PrependFloat32(s)
            svec = b.EndVector()
            TQ.QuantizationParametersStartZeroPointVector(b, len(zps))
            for z in reversed(zps):
                b.PrependInt64(z)
            zvec = b.EndVector()
            TQ.QuantizationParametersStart(b)
            TQ.QuantizationParametersAddScale(b, svec)
            TQ.QuantizationParametersAddZeroPoint(b, zvec)
            TQ.QuantizationParametersAddQuantizedDimension(b, axis)
            qoff = TQ.QuantizationParametersEnd(b)
        TT.TensorStart(b)
        TT.TensorAddShape(b, shape)
        TT.TensorAddType(b, t["type"])
        TT.TensorAddBuffer(b, t["buffer"])
        TT.TensorAddName(b, name)
        if qoff is not None:
            TT.TensorAddQuantization(b, qoff)
        if t.get("variable"):
            TT.TensorAddIsVariable(b, True)
        offs.append(TT.TensorEnd(b))
    return offs


def to_tflite(m: QuantizedModel, description: str = "tinyrnn int8 GRU/RNN (custom ops)"
              ) -> bytes:
    """Serialize; every table is built in a fixed order so the output is byte-deterministic."""
    # The package re-exports each table's class under the module's name: import the modules.
    FCO, TM, TO, TOC, SMO, TS = (importlib.import_module(f"tflite.{m}") for m in (
        "FullyConnectedOptions", "Model", "Operator", "OperatorCode", "SoftmaxOptions",
        "SubGraph"))

    g, x_in, y_out = _graph(m)
    b = flatbuffers.Builder(1024)
    buf_offs = write_buffers(b, g.buffers)
    t_offs = write_tensors(b, g.tensors)
    # Operators.
    op_offs = []
    for idx, ins, outs, options in g.ops:
        code, _custom = g.opcodes[idx]
        ivec = vec_i32(b, TO.OperatorStartInputsVector, ins)
        ovec = vec_i32(b, TO.OperatorStartOutputsVector, outs)
        cvec = b.CreateByteVector(options) if options is not None else None
        opt = None
        if code == _FULLY_CONNECTED:
            FCO.FullyConnectedOptionsStart(b)
            opt = FCO.FullyConnectedOptionsEnd(b)
        elif code == _SOFTMAX:
            SMO.SoftmaxOptionsStart(b)
            SMO.SoftmaxOptionsAddBeta(b, 1.0)
            opt = SMO.SoftmaxOptionsEnd(b)
        TO.OperatorStart(b)
        TO.OperatorAddOpcodeIndex(b, idx)
        TO.OperatorAddInputs(b, ivec)
        TO.OperatorAddOutputs(b, ovec)
        if opt is not None:
            TO.OperatorAddBuiltinOptionsType(b, _OPT_FC if code == _FULLY_CONNECTED
                                             else _OPT_SOFTMAX)
            TO.OperatorAddBuiltinOptions(b, opt)
        if cvec is not None:
            TO.OperatorAddCustomOptions(b, cvec)
            TO.OperatorAddCustomOptionsFormat(b, _FLEXBUFFERS)
        op_offs.append(TO.OperatorEnd(b))
    # Subgraph.
    TS.SubGraphStartTensorsVector(b, len(t_offs))
    for o in reversed(t_offs):
        b.PrependUOffsetTRelative(o)
    tvec = b.EndVector()
    TS.SubGraphStartOperatorsVector(b, len(op_offs))
    for o in reversed(op_offs):
        b.PrependUOffsetTRelative(o)
    opvec = b.EndVector()
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
    # Operator codes.
    oc_offs = []
    for code, custom in g.opcodes:
        cstr = b.CreateString(custom) if custom is not None else None
        TOC.OperatorCodeStart(b)
        TOC.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
        TOC.OperatorCodeAddBuiltinCode(b, code)
        TOC.OperatorCodeAddVersion(b, 1)
        if cstr is not None:
            TOC.OperatorCodeAddCustomCode(b, cstr)
        oc_offs.append(TOC.OperatorCodeEnd(b))
    TM.ModelStartOperatorCodesVector(b, len(oc_offs))
    for o in reversed(oc_offs):
        b.PrependUOffsetTRelative(o)
    ocvec = b.EndVector()
    TM.ModelStartSubgraphsVector(b, 1)
    b.PrependUOffsetTRelative(sub)
    subvec = b.EndVector()
    TM.ModelStartBuffersVector(b, len(buf_offs))
    for o in reversed(buf_offs):
        b.PrependUOffsetTRelative(o)
    bvec = b.EndVector()
    desc = b.CreateString(description)
    TM.ModelStart(b)
    TM.ModelAddVersion(b, 3)
    TM.ModelAddOperatorCodes(b, ocvec)
    TM.ModelAddSubgraphs(b, subvec)
    TM.ModelAddDescription(b, desc)
    TM.ModelAddBuffers(b, bvec)
    root = TM.ModelEnd(b)
    b.Finish(root, file_identifier=b"TFL3")
    return bytes(b.Output())
