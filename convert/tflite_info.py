"""Read what a ``.tflite`` holds (ops, tensors, constant bytes, I/O quantization) via its schema.

Parsing goes through the ``tflite`` schema package; a file that is not a TFLite flatbuffer, or
is cut short, raises :class:`TFLiteFormatError` before anything downstream sees it.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import tflite

TENSOR_TYPES = {v: k for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
FILE_IDENTIFIER = b"TFL3"


class TFLiteFormatError(ValueError):
    """The bytes are not a usable TFLite model."""


@dataclass(frozen=True)
class TensorQuant:
    dtype: str
    shape: list[int]
    scale: float | None
    zero_point: int | None


@dataclass
class TFLiteInfo:
    bytes: int
    ops: list[str]                    # one entry per operator, all subgraphs, in order
    subgraphs: int
    tensors: int
    constant_bytes_by_dtype: dict[str, int] = field(default_factory=dict)
    inputs: list[TensorQuant] = field(default_factory=list)
    outputs: list[TensorQuant] = field(default_factory=list)

    @property
    def op_set(self) -> list[str]:
        return sorted(set(self.ops))

    @property
    def op_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(self.ops).items()))

    @property
    def constant_bytes(self) -> int:
        return sum(self.constant_bytes_by_dtype.values())


def opcode_name(opcode: tflite.OperatorCode) -> str:
    # Builtin codes above 127 live in BuiltinCode; the deprecated int8 field caps at 127.
    code = max(opcode.BuiltinCode(), opcode.DeprecatedBuiltinCode())
    name = tflite.BUILTIN_OPCODE2NAME.get(code, f"BUILTIN_{code}")
    if name == "CUSTOM":
        custom = opcode.CustomCode()
        return f"CUSTOM:{custom.decode() if custom else '?'}"
    return name


def _tensor_quant(t: tflite.Tensor) -> TensorQuant:
    q = t.Quantization()
    scale = zp = None
    if q is not None and q.ScaleLength() > 0:
        scale = float(q.Scale(0))
        zp = int(q.ZeroPoint(0)) if q.ZeroPointLength() > 0 else 0
    return TensorQuant(
        dtype=TENSOR_TYPES.get(t.Type(), str(t.Type())),
        shape=[int(v) for v in t.ShapeAsNumpy()] if t.ShapeLength() else [],
        scale=scale,
        zero_point=zp,
    )


def load_model(data: bytes, source: str = "model") -> tflite.Model:
    if len(data) < 8 or data[4:8] != FILE_IDENTIFIER:
        raise TFLiteFormatError(
            f"{source}: not a TFLite flatbuffer (missing the 'TFL3' identifier, {len(data)} bytes);"
            " regenerate it with `tinyrnn convert`"
        )
    try:
        model = tflite.Model.GetRootAs(data, 0)
        # Touch every table once so a truncated file fails here rather than later.
        for s in range(model.SubgraphsLength()):
            sg = model.Subgraphs(s)
            for i in range(sg.TensorsLength()):
                sg.Tensors(i).Type()
            for i in range(sg.OperatorsLength()):
                sg.Operators(i).OpcodeIndex()
        for b in range(model.BuffersLength()):
            buf = model.Buffers(b)
            if buf.DataLength() and buf.Offset() == 0:
                buf.DataAsNumpy()
    except (struct.error, IndexError, ValueError, TypeError, UnicodeDecodeError) as e:
        # flatbuffers reads offsets blindly: a cut or garbled file fails with these.
        raise TFLiteFormatError(
            f"{source}: the TFLite flatbuffer is truncated or corrupted ({type(e).__name__}: {e}); "
            "regenerate it with `tinyrnn convert`"
        ) from e
    return model


def inspect_tflite(data: bytes, source: str = "model") -> TFLiteInfo:
    model = load_model(data, source)
    ops: list[str] = []
    tensors = 0
    const_bytes: Counter[str] = Counter()
    for s in range(model.SubgraphsLength()):
        sg = model.Subgraphs(s)
        tensors += sg.TensorsLength()
        for i in range(sg.OperatorsLength()):
            ops.append(opcode_name(model.OperatorCodes(sg.Operators(i).OpcodeIndex())))
        for i in range(sg.TensorsLength()):
            t = sg.Tensors(i)
            b = t.Buffer()
            if b > 0 and b < model.BuffersLength():
                n = model.Buffers(b).DataLength() or model.Buffers(b).Size()
                if n:
                    const_bytes[TENSOR_TYPES.get(t.Type(), str(t.Type()))] += int(n)
    main = model.Subgraphs(0)
    return TFLiteInfo(
        bytes=len(data),
        ops=ops,
        subgraphs=model.SubgraphsLength(),
        tensors=tensors,
        constant_bytes_by_dtype=dict(sorted(const_bytes.items())),
        inputs=[_tensor_quant(main.Tensors(main.Inputs(i))) for i in range(main.InputsLength())],
        outputs=[_tensor_quant(main.Tensors(main.Outputs(i))) for i in range(main.OutputsLength())],
    )


def structure_key(data: bytes) -> str:
    """A hash of the graph's structure (ops, tensor types and shapes), not of the weights.

    Two models with the same key need the same TFLM arena: the allocator plans from tensor
    sizes and lifetimes and each kernel's Prepare from shapes, never from values.
    """
    import hashlib

    model = load_model(data)
    parts: list[str] = []
    for s in range(model.SubgraphsLength()):
        sg = model.Subgraphs(s)
        for i in range(sg.OperatorsLength()):
            op = sg.Operators(i)
            ins = [op.Inputs(j) for j in range(op.InputsLength())]
            outs = [op.Outputs(j) for j in range(op.OutputsLength())]
            parts.append(f"{opcode_name(model.OperatorCodes(op.OpcodeIndex()))}{ins}{outs}")
        for i in range(sg.TensorsLength()):
            t = sg.Tensors(i)
            shape = t.ShapeAsNumpy().tolist() if t.ShapeLength() else []
            parts.append(f"{t.Type()}{shape}{t.IsVariable()}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def inspect_file(path: Path) -> TFLiteInfo:
    path = Path(path)
    if not path.is_file():
        raise TFLiteFormatError(f"{path}: no such file; run `tinyrnn convert` first")
    return inspect_tflite(path.read_bytes(), str(path))
