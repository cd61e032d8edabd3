"""A one-time-step copy of a window model, for streaming on TensorFlow Lite Micro.

A TFLM graph takes whole windows ``[1, T, C]``; streaming means one frame per Invoke() with the
recurrent state kept between them. The fused LSTM keeps h and c in variable tensors and the
TINYRNN_GRU/RNN custom ops keep theirs in persistent kernel memory, both cleared only by the
interpreter's Reset(). So the same graph with T = 1 (same weights, same quantization) is the
streaming model: every tensor shaped ``[1, T, ...]`` becomes ``[1, 1, ...]``. The last-step slice
TF emits after the LSTM reads index -1 and stays valid.
"""

from __future__ import annotations

from pathlib import Path


class StepModelError(ValueError):
    """The graph cannot be cut to one step; says why."""


def one_step_tflite(data: bytes, steps: int) -> bytes:
    from tensorflow.lite.tools import flatbuffer_utils as fu

    model = fu.convert_bytearray_to_object(bytearray(data))
    if len(model.subgraphs) != 1:
        raise StepModelError("one-step copies are made for single-subgraph models only")
    changed = 0
    for t in model.subgraphs[0].tensors:
        shape = list(t.shape) if t.shape is not None else []
        if len(shape) == 3 and shape[0] == 1 and shape[1] == steps:
            t.shape[1] = 1
            if t.shapeSignature is not None and len(t.shapeSignature) == 3:
                t.shapeSignature[1] = 1
            changed += 1

    if changed == 0:
        raise StepModelError(f"no tensor shaped [1, {steps}, ...]: not a window model")
    if len(model.subgraphs[0].operators) > 8:
        # An unrolled graph spells every step out: cutting shapes would not make it one step.
        raise StepModelError("an unrolled graph has one operator chain per time step; only fused "
                             "or custom-op recurrent layers stream")
    return bytes(fu.convert_object_to_bytearray(model))


def write_one_step(src: Path, dst: Path, steps: int) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(one_step_tflite(Path(src).read_bytes(), steps))
    return dst
