"""The test-side LSTM writer (lstm_tflite.py) against TF's converter: a converter-made model read
back and written again has the converter's structure and runs identically in the tflite-micro
interpreter, so property cases written without the converter test what users deploy."""

from __future__ import annotations

import numpy as np
import pytest
from aot_zoo import ZOO, ensure_models
from lstm_tflite import from_converted, to_tflite
from property_cases import LstmCase, lstm_model, windows

from tinyrnn.convert.aot.graph import read_tflite
from tinyrnn.convert.aot.plan import lower

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def zoo() -> dict:
    return ensure_models(ZOO)


def _structure(data: bytes) -> list:
    """Operators with, per input/output/intermediate, everything but names and weight values."""
    g = read_tflite(data)

    def sig(i: int):
        if i < 0:
            return None
        t = g.tensors[i]
        q = None if t.quant is None else (len(t.quant.scale), t.quant.axis)
        return (t.dtype, t.shape, q, t.is_variable, t.data is not None)

    return [(op.opcode, op.version, [sig(i) for i in op.inputs], [sig(i) for i in op.outputs],
             [sig(i) for i in op.intermediates], op.options) for op in g.operators]


@pytest.mark.parametrize("name", sorted(ZOO))
def test_rewritten_converter_model_runs_identically(zoo, name: str) -> None:
    from tflite_micro import runtime

    original = zoo[name].read_bytes()
    m = from_converted(original)
    rewritten = to_tflite(m)
    assert _structure(rewritten) == _structure(original)
    a, b = (lower(read_tflite(x)) for x in (original, rewritten))
    assert (a.input_scale, a.input_zp, a.output_scale, a.output_zp) == \
        (b.input_scale, b.input_zp, b.output_scale, b.output_zp)
    assert repr(a.layers) == repr(b.layers) and repr(a.head) == repr(b.head)
    its = [runtime.Interpreter.from_bytes(x, arena_size=1 << 22) for x in (original, rewritten)]
    outs = set()
    for k, w in enumerate(windows(m.steps, m.channels, 5, seed=7)):
        got = []
        for it in its:
            it.reset()
            it.set_input(w[None], 0)
            it.invoke()
            got.append(it.get_output(0).copy())
        assert np.array_equal(*got), f"{name} window {k}: converter {got[0]} != writer {got[1]}"
        outs.add(got[0].tobytes())
    assert len(outs) > 1 or m.steps == 1, "windows did not move the output: weak comparison"


def test_writer_is_deterministic() -> None:
    case = LstmCase(steps=9, channels=3, units=(5, 7), classes=4, head="mlp", weight_scale=2.0,
                    input_scale=0.03, input_zp=-5, bias_spread=1.0, hidden_range=0.8, cell_power=-12,
                    cell_clip=10.0, seed=3)
    assert to_tflite(lstm_model(case)) == to_tflite(lstm_model(case))
