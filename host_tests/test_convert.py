"""Conversion plumbing: crash isolation, format checks, fused-op assertion, C arrays."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tinyrnn.convert.carray import CArrayMeta, parse_c_array, render_header, render_source
from tinyrnn.convert.isolate import run_isolated
from tinyrnn.convert.tflite_export import ConversionError, assert_fused_lstm
from tinyrnn.convert.tflite_info import TFLiteFormatError, inspect_tflite


@pytest.fixture(autouse=True)
def _jobs_importable(monkeypatch):
    """The child imports the jobs below from this file's folder."""
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))


def segfault_job() -> dict:
    import ctypes

    ctypes.string_at(0)  # reads address 0: SIGSEGV, like the int8 calibrator on WHILE loops
    return {}


def failing_job(message: str) -> dict:
    raise ValueError(message)


def sleep_job(seconds: float) -> dict:
    import time

    time.sleep(seconds)
    return {}


def echo_job(value: int) -> dict:
    return {"twice": 2 * value}


def test_child_crash_is_reported_not_fatal():
    res = run_isolated("test_convert:segfault_job", timeout=60)
    assert not res.ok and res.crashed
    assert "SIGSEGV" in res.error


def test_child_exception_and_value_pass_through():
    res = run_isolated("test_convert:failing_job", timeout=60, message="bad calibration data")
    assert not res.ok and not res.crashed
    assert "bad calibration data" in res.error
    ok = run_isolated("test_convert:echo_job", timeout=60, value=21)
    assert ok.ok and ok.value == {"twice": 42}


def test_child_timeout_is_reported():
    res = run_isolated("test_convert:sleep_job", timeout=2, seconds=30)
    assert not res.ok and "timed out" in res.error


def test_truncated_and_foreign_files_are_refused(tiny_build):
    data = (tiny_build / "models").glob("*-lstm-*/int8.tflite").__next__().read_bytes()
    assert inspect_tflite(data).ops
    for bad in (data[: len(data) // 3], data[:100], b"", b"\x00" * 64, b"PK\x03\x04" * 10):
        with pytest.raises(TFLiteFormatError):
            inspect_tflite(bad)


def test_fused_lstm_assertion_accepts_fused_and_rejects_while(tiny_build):
    models = tiny_build / "models"
    lstm = next(models.glob("*-lstm-*")) / "int8.tflite"
    gru_float = next(models.glob("*-gru-*")) / "float.tflite"
    assert_fused_lstm(inspect_tflite(lstm.read_bytes()), str(lstm))
    with pytest.raises(ConversionError, match=r"WHILE loop.*tf_keras"):
        assert_fused_lstm(inspect_tflite(gru_float.read_bytes()), str(gru_float))


def _meta() -> CArrayMeta:
    return CArrayMeta("m", 100, 6, ["a", 'q"uote', "c"], [0.5] * 6, [2.0] * 6)


def test_c_array_round_trip_through_the_parser(tiny_build):
    for path in (tiny_build / "models").glob("*/*.tflite"):
        data = path.read_bytes()
        assert parse_c_array(render_source(data, _meta())) == data


def test_generated_c_array_compiles_and_reproduces_the_file(tiny_build, tmp_path):
    """The real round trip: a C++ compiler reads the array and writes the bytes back out."""
    model = next((tiny_build / "models").glob("*-lstm-*"))
    src_dir = model / "tflm" / "int8"
    data = (model / "int8.tflite").read_bytes()
    main = tmp_path / "dump.cc"
    main.write_text(
        '#include <cstdio>\n#include <cstdint>\n#include "model_data.h"\n'
        "int main() {\n"
        "  if (reinterpret_cast<std::uintptr_t>(tinyrnn_model_tflite) % 16) return 2;\n"
        "  fwrite(tinyrnn_model_tflite, 1, tinyrnn_model_tflite_len, stdout);\n"
        "  return tinyrnn_model_norm_std[0] > 0 ? 0 : 3;\n}\n")
    exe = tmp_path / "dump"
    subprocess.run(["g++", "-std=c++11", "-Wall", "-Wextra", "-Werror", f"-I{src_dir}",
                    str(main), str(src_dir / "model_data.cc"), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], capture_output=True, check=True).stdout
    assert out == data


def test_header_carries_shape_quantization_and_is_deterministic(tiny_build):
    model = next((tiny_build / "models").glob("*-lstm-*"))
    data = (model / "int8.tflite").read_bytes()
    header = render_header(data, _meta())
    info = inspect_tflite(data)
    assert "#define TINYRNN_TFLM_STEPS 100" in header
    assert "#define TINYRNN_TFLM_CHANNELS 6" in header
    assert f"#define TINYRNN_TFLM_INPUT_ZERO_POINT {info.inputs[0].zero_point}" in header
    assert "TINYRNN_TFLM_INPUT_TYPE_INT8" in header
    assert render_header(data, _meta()) == header
    assert render_source(data, _meta()) == render_source(data, _meta())
    assert r'"q\"uote"' in render_source(data, _meta())
