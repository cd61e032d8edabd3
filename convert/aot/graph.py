"""Read a .tflite flatbuffer (through the maintained ``tflite`` schema package) into a small
typed graph. Every later stage works on these dataclasses, never on the flatbuffer."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelFormatError

_DTYPES: dict[str, Any] = {
    "FLOAT32": np.float32,
    "FLOAT16": np.float16,
    "INT32": np.int32,
    "UINT8": np.uint8,
    "INT64": np.int64,
    "BOOL": np.bool_,
    "INT16": np.int16,
    "INT8": np.int8,
    "FLOAT64": np.float64,
    "UINT32": np.uint32,
    "UINT16": np.uint16,
}


@dataclass(frozen=True)
class Quant:
    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1


@dataclass
class Tensor:
    index: int
    name: str
    dtype: str  # schema name, e.g. "INT8"
    shape: tuple[int, ...]
    data: np.ndarray | None
    quant: Quant | None
    is_variable: bool

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    def describe(self) -> str:
        return f"{self.name or '#' + str(self.index)}:{self.dtype}{list(self.shape)}"


@dataclass
class Operator:
    index: int
    opcode: str
    version: int
    inputs: tuple[int, ...]  # -1 marks an omitted optional input
    outputs: tuple[int, ...]
    intermediates: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Graph:
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    num_subgraphs: int

    def tensor(self, index: int) -> Tensor | None:
        return None if index < 0 else self.tensors[index]

    def consumers(self, tensor_index: int) -> list[Operator]:
        return [op for op in self.operators if tensor_index in op.inputs]


def _enum_names(enum_cls: type) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


def _options(op: Any, opcode: str) -> dict[str, Any]:
    import tflite

    table = op.BuiltinOptions()
    if table is None:
        return {}
    readers: dict[str, tuple[Any, list[str]]] = {
        "UNIDIRECTIONAL_SEQUENCE_LSTM": (
            tflite.UnidirectionalSequenceLSTMOptions,
            ["FusedActivationFunction", "CellClip", "ProjClip", "TimeMajor",
             "AsymmetricQuantizeInputs", "DiagonalRecurrentTensors"],
        ),
        "FULLY_CONNECTED": (
            tflite.FullyConnectedOptions,
            ["FusedActivationFunction", "WeightsFormat", "KeepNumDims",
             "AsymmetricQuantizeInputs"],
        ),
        "SOFTMAX": (tflite.SoftmaxOptions, ["Beta"]),
        "STRIDED_SLICE": (
            tflite.StridedSliceOptions,
            ["BeginMask", "EndMask", "EllipsisMask", "NewAxisMask", "ShrinkAxisMask", "Offset"],
        ),
    }
    if opcode not in readers:
        return {}
    cls, fields = readers[opcode]
    obj = cls()
    obj.Init(table.Bytes, table.Pos)
    out: dict[str, Any] = {}
    for name in fields:
        getter = getattr(obj, name, None)
        if getter is not None:
            out[name] = getter()
    return out


# Zero-point ranges TFLite defines per storage type; other types carry no zero point to check.
_ZP_RANGE = {"INT8": (-128, 127), "UINT8": (0, 255), "INT16": (0, 0)}


def _check_quant(index: int, dtype: str, quant: Quant) -> None:
    """Scales must be finite and not negative, zero points inside the type: anything else would
    reach the fixed-point arithmetic as an undefined rescale."""
    bad = [s for s in quant.scale if not (math.isfinite(s) and s >= 0.0)]
    if bad:
        raise ModelFormatError(
            f"tensor {index} ({dtype}) has quantization scale {bad[0]!r}: scales must be finite "
            "and positive (re-export the model)")
    lo, hi = _ZP_RANGE.get(dtype, (-(1 << 63), (1 << 63) - 1))
    off = [z for z in quant.zero_point if not lo <= z <= hi]
    if off:
        raise ModelFormatError(
            f"tensor {index} ({dtype}) has zero point {off[0]}, outside {lo}..{hi} for its type")
    if len(quant.zero_point) != len(quant.scale):
        raise ModelFormatError(
            f"tensor {index} ({dtype}) has {len(quant.scale)} scales but "
            f"{len(quant.zero_point)} zero points")


def _parse(buf: bytes) -> Graph:
    import tflite
    from tflite.BuiltinOperator import BuiltinOperator
    from tflite.TensorType import TensorType

    op_names = _enum_names(BuiltinOperator)
    type_names = _enum_names(TensorType)
    model = tflite.Model.GetRootAsModel(buf, 0)
    if model.SubgraphsLength() < 1:
        raise ModelFormatError("model has no subgraph")
    sub = model.Subgraphs(0)
    tensors: list[Tensor] = []
    for i in range(sub.TensorsLength()):
        t = sub.Tensors(i)
        dtype = type_names.get(t.Type(), f"TYPE{t.Type()}")
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        q = t.Quantization()
        quant = None
        if q is not None and q.ScaleLength() > 0:
            quant = Quant(
                scale=tuple(float(s) for s in q.ScaleAsNumpy()),
                zero_point=tuple(int(z) for z in q.ZeroPointAsNumpy())
                if q.ZeroPointLength() else (0,) * q.ScaleLength(),
                axis=int(q.QuantizedDimension()),
            )
        if quant is not None:
            _check_quant(i, dtype, quant)
        data = None
        bidx = t.Buffer()
        if bidx > 0:
            if bidx >= model.BuffersLength():
                raise ModelFormatError(f"tensor {i} points at buffer {bidx} that does not exist")
            b = model.Buffers(bidx)
            raw: bytes | None = None
            if b.Offset() > 1:  # large models keep weights after the flatbuffer
                end = b.Offset() + b.Size()
                if end > len(buf):
                    raise ModelFormatError(f"buffer {bidx} extends past the end of the file")
                raw = buf[b.Offset():end]
            elif b.DataLength() > 0:
                raw = b.DataAsNumpy().tobytes()
            if raw is not None:
                np_type = _DTYPES.get(dtype)
                if np_type is None:
                    raise ModelFormatError(
                        f"tensor {i} has constant data of unreadable type {dtype}")
                want = int(np.prod(shape, dtype=np.int64)) * np.dtype(np_type).itemsize
                if len(raw) != want:
                    raise ModelFormatError(
                        f"tensor {i} ({dtype}{list(shape)}) needs {want} bytes of data, "
                        f"buffer {bidx} holds {len(raw)}"
                    )
                data = np.frombuffer(raw, dtype=np_type).reshape(shape).copy()
        name = t.Name()
        tensors.append(Tensor(
            index=i, name=name.decode("utf-8", "replace") if name else "", dtype=dtype,
            shape=shape, data=data, quant=quant, is_variable=bool(t.IsVariable()),
        ))
    ops: list[Operator] = []
    n_tensors = len(tensors)
    for i in range(sub.OperatorsLength()):
        o = sub.Operators(i)
        idx = o.OpcodeIndex()
        if idx >= model.OperatorCodesLength():
            raise ModelFormatError(f"operator {i} uses opcode index {idx} that does not exist")
        oc = model.OperatorCodes(idx)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        opcode = op_names.get(code, f"BUILTIN_{code}")
        if opcode == "CUSTOM":
            cc = oc.CustomCode()
            opcode = f"CUSTOM({cc.decode('utf-8', 'replace') if cc else '?'})"
        ins = tuple(int(x) for x in o.InputsAsNumpy()) if o.InputsLength() else ()
        outs = tuple(int(x) for x in o.OutputsAsNumpy()) if o.OutputsLength() else ()
        inter = tuple(int(x) for x in o.IntermediatesAsNumpy()) if o.IntermediatesLength() else ()
        for t_idx in (*ins, *outs, *inter):
            if t_idx >= n_tensors or t_idx < -1:
                raise ModelFormatError(f"operator {i} ({opcode}) refers to tensor {t_idx}")
        options = _options(o, opcode)
        if opcode.startswith("CUSTOM(") and o.CustomOptionsLength() > 0:
            options["custom_options"] = o.CustomOptionsAsNumpy().tobytes()
        ops.append(Operator(i, opcode, int(oc.Version()), ins, outs, inter, options))
    ins = tuple(int(x) for x in sub.InputsAsNumpy()) if sub.InputsLength() else ()
    outs = tuple(int(x) for x in sub.OutputsAsNumpy()) if sub.OutputsLength() else ()
    for t_idx in (*ins, *outs):
        if not 0 <= t_idx < n_tensors:
            raise ModelFormatError(f"graph input/output refers to tensor {t_idx}")
    return Graph(tensors, ops, ins, outs, model.SubgraphsLength())


def read_tflite(source: Path | bytes) -> Graph:
    """Parse a .tflite file or its bytes. Any damage becomes a ModelFormatError."""
    if isinstance(source, bytes | bytearray):
        buf, where = bytes(source), "model bytes"
    else:
        path = Path(source)
        try:
            buf = path.read_bytes()
        except OSError as exc:
            raise ModelFormatError(f"cannot read {path}: {exc}") from exc
        where = str(path)
    if len(buf) < 16:
        raise ModelFormatError(f"{where}: {len(buf)} bytes is too short for a TFLite model")
    if buf[4:8] != b"TFL3":
        raise ModelFormatError(
            f"{where}: not a TFLite flatbuffer (file identifier {buf[4:8]!r}, expected b'TFL3')"
        )
    root = int.from_bytes(buf[0:4], "little")
    if root >= len(buf):
        raise ModelFormatError(f"{where}: root table offset {root} lies beyond the file end "
                               f"({len(buf)} bytes): truncated?")
    try:
        return _parse(buf)
    except ModelFormatError as exc:
        raise ModelFormatError(f"{where}: {exc}") from exc
    except Exception as exc:  # the flatbuffer reader raises anything on damaged input
        raise ModelFormatError(
            f"{where}: damaged or truncated TFLite flatbuffer ({type(exc).__name__}: {exc})"
        ) from exc
