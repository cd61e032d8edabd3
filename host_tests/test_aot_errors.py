"""Bad input gives a clear AotError and never leaves an output folder behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from aot_zoo import BAD, ZOO, ensure_models

from tinyrnn.convert.aot import (
    AotError,
    LimitError,
    ModelFormatError,
    UnsupportedModelError,
    compile_model,
)
from tinyrnn.convert.aot import plan as plan_mod
from tinyrnn.convert.aot.arena import Buffer, plan_arena
from tinyrnn.convert.aot.emit import c_float, c_string
from tinyrnn.convert.aot.quant import quantize_multiplier


@pytest.fixture(scope="module")
def good() -> Path:
    return ensure_models({"t10_c3_u8": ZOO["t10_c3_u8"]})["t10_c3_u8"]


@pytest.fixture(scope="module")
def bad() -> dict[str, Path]:
    return ensure_models(BAD)


def compile_fails(src: Path, tmp_path: Path, exc: type[Exception], *words: str) -> str:
    out = tmp_path / "out"
    with pytest.raises(exc) as info:
        compile_model(src, out, name="x")
    msg = str(info.value)
    for w in words:
        assert w in msg, msg
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []
    return msg


def test_truncated(good, tmp_path):
    data = good.read_bytes()
    for cut in (10, len(data) // 3, len(data) - 7):
        src = tmp_path / f"cut{cut}.tflite"
        src.write_bytes(data[:cut])
        compile_fails(src, tmp_path, ModelFormatError)


def test_corrupted(good, tmp_path):
    data = bytearray(good.read_bytes())
    src = tmp_path / "bad_ident.tflite"
    src.write_bytes(bytes(data[:4]) + b"XXXX" + bytes(data[8:]))
    compile_fails(src, tmp_path, ModelFormatError, "TFL3")
    rng = np.random.default_rng(0)
    noise = bytearray(data)
    idx = rng.integers(16, len(noise), 400)
    noise_vals = rng.integers(0, 256, 400)
    for i, v in zip(idx, noise_vals, strict=True):
        noise[i] = int(v)
    src = tmp_path / "noise.tflite"
    src.write_bytes(bytes(noise))
    with pytest.raises(AotError):
        compile_model(src, tmp_path / "out", name="x")
    assert not (tmp_path / "out").exists()
    src = tmp_path / "missing.tflite"
    compile_fails(src, tmp_path, ModelFormatError, "cannot read")


def test_float_gru_model(bad, tmp_path):
    msg = compile_fails(bad["bad_gru_float"], tmp_path, UnsupportedModelError, "float")
    assert "int8" in msg


def test_unsupported_op_named(bad, tmp_path):
    msg = compile_fails(bad["bad_extra_tanh"], tmp_path, UnsupportedModelError, "TANH", "INT8")
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in msg  # the supported set is listed


def test_shape_over_limits(good, tmp_path, monkeypatch):
    monkeypatch.setattr(plan_mod, "MAX_UNITS", 4)
    compile_fails(good, tmp_path, LimitError, "8 units")


def test_bad_metadata_leaves_previous_output(good, tmp_path):
    out = tmp_path / "out"
    compile_model(good, out, name="x")
    before = (out / "tinyrnn_model.c").read_bytes()
    with pytest.raises(AotError, match="class names"):
        compile_model(good, out, name="x", class_names=["a"])
    with pytest.raises(AotError, match="channels"):
        compile_model(good, out, name="x", normalization={"mean": [0.0], "std": [1.0]})
    assert (out / "tinyrnn_model.c").read_bytes() == before


def test_metadata_in_header(good, tmp_path):
    out = tmp_path / "out"
    s = compile_model(good, out, name='we"ird', class_names=["up", "down", "left", "r\u00e9"],
                      normalization={"mean": [0.5, -1.0, 2.0], "std": [1.0, 2.0, 0.25]})
    c = (out / "tinyrnn_model.c").read_text()
    assert '"up"' in c and "0.25f" in c and "-1.0f" in c
    assert s.arena_bytes > 0 and s.state_bytes == 8 * 3 and s.macs == 10 * 4 * 8 * (3 + 8) + 32


def test_quantize_multiplier_and_formatting():
    assert quantize_multiplier(0.5) == (1 << 30, 0)
    assert quantize_multiplier(1.0) == (1 << 30, 1)
    m, s = quantize_multiplier(0.1)
    assert abs(m * 2.0 ** (s - 31) - 0.1) < 1e-9
    assert c_float(1.0) == "1.0f" and c_float(1e-5) == "9.99999975e-06f"
    assert c_string('a"b\\') == '"a\\"b\\\\"'


def test_arena_plan_never_overlaps_live_buffers():
    rng = np.random.default_rng(0)
    for _ in range(50):
        bufs = []
        for i in range(8):
            a, b = sorted(rng.integers(0, 10, 2))
            bufs.append(Buffer(f"b{i}", int(rng.integers(1, 100)), int(a), int(b)))
        offs, total = plan_arena(bufs)
        for x in bufs:
            assert offs[x.name] % 4 == 0 and offs[x.name] + x.size <= total
            for y in bufs:
                if x.name < y.name and not (x.last < y.first or y.last < x.first):
                    assert (offs[x.name] + x.size <= offs[y.name]
                            or offs[y.name] + y.size <= offs[x.name])
