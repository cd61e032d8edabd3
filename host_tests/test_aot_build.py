"""Runtime and generated C under sanitizers, for Cortex-M4, and the DSP path's bit-exactness."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from aot_zoo import ZOO, ensure_models
from test_aot_exact import tflm_outputs, windows

from tinyrnn.convert.aot import compile_model
from tinyrnn.convert.aot.hostbuild import RUNTIME_SRC, HostModel, build_executable

ARM_FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-Os", "-std=c99", "-Wall", "-Wextra", "-Werror"]

# Portable definitions of the three ACLE intrinsics the DSP path uses, so that exact path can
# run on the host. They follow the Armv7E-M pseudocode: SXTB16 sign-extends bytes 0 and 2 into
# two halfwords; SMLAD adds both signed halfword products to the accumulator (mod 2^32).
DSP_EMULATION = r"""
#include <stdint.h>
static uint32_t __sxtb16(uint32_t v) {
  const uint32_t lo = (uint32_t)(int32_t)(int8_t)(v & 0xFFu) & 0xFFFFu;
  const uint32_t hi = (uint32_t)(int32_t)(int8_t)((v >> 16) & 0xFFu) & 0xFFFFu;
  return lo | (hi << 16);
}
static int32_t __smlad(uint32_t a, uint32_t b, int32_t acc) {
  const int32_t p0 = (int32_t)(int16_t)(a & 0xFFFFu) * (int32_t)(int16_t)(b & 0xFFFFu);
  const int32_t p1 = (int32_t)(int16_t)(a >> 16) * (int32_t)(int16_t)(b >> 16);
  return (int32_t)((uint32_t)acc + (uint32_t)p0 + (uint32_t)p1);
}
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    names = ["t12_c4_u6_l2", "t20_c6_u32_sat", "t40_c8_u24_l2_sat"]
    paths = ensure_models({n: ZOO[n] for n in names})
    root = tmp_path_factory.mktemp("aotbuild")
    for n in names:
        compile_model(paths[n], root / n, name=n)
    return {n: (paths[n], root / n) for n in names}


def run_exe(exe: Path, wins: list[np.ndarray], k: int, steps: int) -> np.ndarray:
    data = b"".join(w.astype(np.int8).tobytes() for w in wins)
    proc = subprocess.run([str(exe)], input=data, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    assert b"runtime error" not in proc.stderr, proc.stderr.decode()[-3000:]
    return np.frombuffer(proc.stdout, np.int8).reshape(len(wins), steps + 1, k)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["t12_c4_u6_l2", "t40_c8_u24_l2_sat"])
def test_sanitized_build_matches_tflm(name, models, tmp_path):
    path, model_dir = models[name]
    exe = build_executable(model_dir, tmp_path, cflags=[
        "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"])
    hm = HostModel(model_dir, tmp_path / "so")
    wins = windows(hm.steps, hm.channels, n_random=4)
    got = run_exe(exe, wins, hm.output_size, hm.steps)
    want = tflm_outputs(path, wins)
    for i, w in enumerate(want):
        assert np.array_equal(got[i, 0], w)      # invoke
        assert np.array_equal(got[i, -1], w)     # last step after reset


def test_dsp_path_bit_exact_on_host(models, tmp_path):
    path, model_dir = models["t20_c6_u32_sat"]
    header = tmp_path / "dsp_emulation.h"
    header.write_text(DSP_EMULATION)
    hm = HostModel(model_dir, tmp_path / "dsp",
                   cflags=[f'-DTINYRNN_DSP_INTRINSICS_HEADER="{header}"'])
    wins = windows(hm.steps, hm.channels, n_random=4)
    for w, want in zip(wins, tflm_outputs(path, wins), strict=True):
        assert np.array_equal(hm.invoke(w), want)


def test_generic_lstm_kernel_still_bit_exact(models, tmp_path, monkeypatch):
    """Layers outside the packed kernel's ranges fall back to tinyrnn_lstm_step(): keep it
    covered now that every zoo model takes the packed path."""
    import tinyrnn.convert.aot.emit as emit_mod

    path, _ = models["t40_c8_u24_l2_sat"]
    monkeypatch.setattr(emit_mod, "_packed_ok", lambda layer: False)
    model_dir = tmp_path / "generic"
    compile_model(path, model_dir, name="generic")
    assert "tinyrnn_lstm_packed_step" not in (model_dir / "tinyrnn_model.c").read_text()
    hm = HostModel(model_dir, tmp_path / "so")
    wins = windows(hm.steps, hm.channels, n_random=3)
    for w, want in zip(wins, tflm_outputs(path, wins), strict=True):
        assert np.array_equal(hm.invoke(w), want)


def test_scalar_path_bit_exact_on_host(models, tmp_path):
    """The packed LSTM's scalar loop (what Cortex-M0/M3 run) compiled for the host."""
    path, model_dir = models["t20_c6_u32_sat"]
    hm = HostModel(model_dir, tmp_path / "scalar", cflags=["-DTINYRNN_PACKED_SCALAR"])
    wins = windows(hm.steps, hm.channels, n_random=4)
    for w, want in zip(wins, tflm_outputs(path, wins), strict=True):
        assert np.array_equal(hm.invoke(w), want)


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="no Arm tool chain")
@pytest.mark.parametrize("dsp", [True, False], ids=["dsp", "portable"])
def test_cortex_m4_compile(models, tmp_path, dsp):
    _, model_dir = models["t40_c8_u24_l2_sat"]
    srcs = sorted(RUNTIME_SRC.glob("*.c")) + sorted(model_dir.glob("*.c"))
    for src in srcs:
        args = ["arm-none-eabi-gcc", *ARM_FLAGS, f"-I{RUNTIME_SRC}", f"-I{model_dir}", "-c",
                str(src), "-o", str(tmp_path / (src.stem + ".o"))]
        if not dsp:
            args.insert(1, "-DTINYRNN_NO_DSP")
        proc = subprocess.run(args, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    dis = subprocess.run(["arm-none-eabi-objdump", "-d", str(tmp_path / "tinyrnn_dot.o")],
                         capture_output=True, text=True).stdout
    assert ("smlad" in dis) == dsp


def test_host_gcc_warnings_clean(tmp_path):
    for src in sorted(RUNTIME_SRC.glob("*.c")):
        proc = subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic",
                               "-Wconversion", "-c", str(src), "-o", str(tmp_path / "x.o")],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
