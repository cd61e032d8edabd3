"""int8 GRU / SimpleRNN: the compiled C equals the numpy reference on every output byte, for
many shapes (units 1..96, channels 1..16, length 1..128, both reset_after, stacked layers, the
GRU with an int16 or an int8 state) on random, saturating and smooth windows; step == invoke;
reset restores the fresh state."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tinyrnn.convert.aot import compile_model
from tinyrnn.convert.aot.graph import read_tflite
from tinyrnn.convert.aot.hostbuild import HostModel, build_executable
from tinyrnn.convert.aot.plan import lower
from tinyrnn.convert.rnn_quant import FloatLayer, FloatModel, quantize_float_model
from tinyrnn.convert.rnn_reference import RecurrentReference, run_windows
from tinyrnn.convert.rnn_tflite import to_tflite

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "build" / "test-cache" / "rnn-int8-host"

# (cell, reset_after, steps, channels, units, classes, layers, weight scale)
SHAPES = {
    "gru_t1_c1_u1": ("gru", True, 1, 1, 1, 2, 1, 1.0),
    "gru0_t5_c1_u1": ("gru", False, 5, 1, 1, 2, 1, 1.0),
    "gru_t10_c3_u5": ("gru", True, 10, 3, 5, 4, 1, 1.0),
    "gru0_t12_c4_u7": ("gru", False, 12, 4, 7, 3, 1, 2.0),
    "gru_t100_c6_u32": ("gru", True, 100, 6, 32, 7, 1, 1.0),
    "gru0_t100_c6_u32_sat": ("gru", False, 100, 6, 32, 7, 1, 4.0),
    "gru_t128_c16_u16_sat": ("gru", True, 128, 16, 16, 3, 1, 6.0),
    "gru_t16_c2_u96": ("gru", True, 16, 2, 96, 5, 1, 1.0),
    "gru0_t9_c16_u96": ("gru", False, 9, 16, 96, 10, 1, 1.5),
    "gru_t20_c5_u12_l2": ("gru", True, 20, 5, 12, 6, 2, 2.0),
    "rnn_t1_c1_u1": ("rnn", False, 1, 1, 1, 2, 1, 1.0),
    "rnn_t30_c3_u9": ("rnn", False, 30, 3, 9, 4, 1, 1.0),
    "rnn_t128_c6_u32_sat": ("rnn", False, 128, 6, 32, 7, 1, 5.0),
    "rnn_t16_c16_u96": ("rnn", False, 16, 16, 96, 12, 1, 1.0),
    "rnn_t24_c4_u10_l2": ("rnn", False, 24, 4, 10, 5, 2, 2.0),
    # units that are not a multiple of the packed kernels' block of 4 (padded rows)
    "gru_t20_c6_u30": ("gru", True, 20, 6, 30, 7, 1, 1.0),
    "gru_t12_c7_u50_sat": ("gru", True, 12, 7, 50, 5, 1, 4.0),
    "rnn_t20_c6_u50": ("rnn", False, 20, 6, 50, 7, 1, 1.0),
    "rnn_t15_c5_u21_l2": ("rnn", False, 15, 5, 21, 4, 2, 2.0),
    # the edges of the Helium int8-row layout (TINYRNN_W8: at most 32 inputs and units, one or
    # two vectors each)
    "gru_t6_c17_u32_sat": ("gru", True, 6, 17, 32, 3, 1, 4.0),
    "rnn_t6_c32_u17": ("rnn", False, 6, 32, 17, 3, 1, 1.0),
    "gru_t5_c16_u33": ("gru", True, 5, 16, 33, 3, 1, 1.0),
    # GRU with an int8 state (quantizer state_bits=8, "_s8" in the name): h8 is the whole state
    "gru_t10_c3_u5_s8": ("gru", True, 10, 3, 5, 4, 1, 1.0),
    "gru0_t12_c4_u20_s8": ("gru", False, 12, 4, 20, 3, 1, 2.0),
    "gru_t20_c6_u30_s8_sat": ("gru", True, 20, 6, 30, 7, 1, 4.0),
    "gru_t100_c6_u32_s8": ("gru", True, 100, 6, 32, 7, 1, 1.0),
    "gru0_t100_c6_u32_s8_sat": ("gru", False, 100, 6, 32, 7, 1, 4.0),
    "gru_t20_c5_u12_l2_s8": ("gru", True, 20, 5, 12, 6, 2, 2.0),
    "gru0_t15_c5_u21_l2_s8": ("gru", False, 15, 5, 21, 4, 2, 2.0),
}
S8 = sorted(n for n in SHAPES if "_s8" in n)


def state_bits(name: str) -> int:
    """GRU state width of a SHAPES entry (the SimpleRNN state is int8 whatever is passed)."""
    return 8 if "_s8" in name else 16


def shape_tflite(name: str) -> bytes:
    """The custom-op .tflite of a SHAPES entry (random weights, fixed calibration sample)."""
    spec = SHAPES[name]
    calib = np.random.default_rng(1).normal(0, 1, (32, spec[2], spec[3])).astype(np.float32)
    return to_tflite(quantize_float_model(random_float_model(spec), calib, name=name,
                                          state_bits=state_bits(name)))


def random_float_model(spec: tuple, seed: int = 0) -> FloatModel:
    """Glorot-like random weights (times a scale that saturates gates when > 1)."""
    cell, reset_after, steps, channels, units, classes, n_layers, scale = spec
    rng = np.random.default_rng(seed)
    gates = 3 if cell == "gru" else 1
    layers = []
    n = channels
    for i in range(n_layers):
        lim = scale * np.sqrt(6.0 / (n + units))
        kernel = rng.uniform(-lim, lim, (n, gates * units)).astype(np.float32)
        rec = rng.uniform(-lim, lim, (units, gates * units)).astype(np.float32)
        shape = (2, gates * units) if reset_after and cell == "gru" else (gates * units,)
        bias = rng.normal(0, 0.3 * scale, shape).astype(np.float32)
        layers.append(FloatLayer(cell, reset_after and cell == "gru", i < n_layers - 1,
                                 kernel, rec, bias))
        n = units
    dw = rng.normal(0, 1.0, (units, classes)).astype(np.float32)
    db = rng.normal(0, 0.1, classes).astype(np.float32)
    return FloatModel(steps, channels, layers, dw, db, True)


def windows(steps: int, channels: int, n_random: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ws = [np.full((steps, channels), -128, np.int8), np.full((steps, channels), 127, np.int8),
          np.zeros((steps, channels), np.int8)]
    ws += list(rng.integers(-128, 128, (n_random, steps, channels), dtype=np.int8))
    # Alternating extremes (saturating every accumulator) and smooth sensor-like signals.
    t = np.arange(steps)[:, None]
    ws.append(np.where((t + np.arange(channels)) % 2 == 0, 127, -128).astype(np.int8))
    for k in range(8):
        ws.append(np.clip(np.round((20 + 15 * k) * np.sin(t / (2.0 + k) + np.arange(channels))),
                          -128, 127).astype(np.int8))
    return np.stack(ws)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> dict[str, tuple]:
    root = tmp_path_factory.mktemp("rnn_exact")
    out = {}
    for name in SHAPES:
        path = root / f"{name}.tflite"
        path.write_bytes(shape_tflite(name))
        compile_model(path, root / name, name=name)
        out[name] = (lower(read_tflite(path)), root / name)
    return out


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_c_equals_numpy_reference(compiled, name):
    plan, cdir = compiled[name]
    model = HostModel(cdir, BUILD, opt="-O2")
    wins = windows(plan.steps, plan.channels, 200, seed=len(name))
    ref = run_windows(plan, wins)
    got = np.stack([model.invoke(w) for w in wins])
    bad = np.argwhere(ref != got)
    assert bad.size == 0, (f"{name}: {len(bad)} of {ref.size} output bytes differ, first at "
                           f"window {bad[0][0]}: C {got[bad[0][0]]} vs numpy {ref[bad[0][0]]}")
    # The saturating windows do reach the int8 rails somewhere (the test is not vacuous).
    assert len(np.unique(ref)) > 1 or plan.output_size == 1


@pytest.mark.parametrize("name", ["gru_t10_c3_u5", "gru0_t12_c4_u7", "rnn_t30_c3_u9",
                                  "gru_t20_c5_u12_l2", "rnn_t24_c4_u10_l2", "gru_t10_c3_u5_s8",
                                  "gru0_t15_c5_u21_l2_s8"])
def test_step_equals_invoke_and_reset(compiled, name):
    plan, cdir = compiled[name]
    model = HostModel(cdir, BUILD, opt="-O2")
    wins = windows(plan.steps, plan.channels, 6, seed=3)
    ref = RecurrentReference(plan)
    fresh = model.invoke(wins[0])
    for w in wins:
        want = model.invoke(w)
        model.reset()
        ref.reset()
        for t in range(plan.steps):
            got = model.step(w[t])
            assert np.array_equal(got, ref.step(w[t])[0]), f"{name}: step {t} differs from numpy"
        assert np.array_equal(got, want), f"{name}: step over the window != invoke"
    # invoke resets first; an explicit reset after arbitrary steps restores the fresh state.
    for t in range(plan.steps):
        model.step(wins[-1][t])
    assert np.array_equal(model.invoke(wins[0]), fresh)
    model.reset()
    for t in range(plan.steps):
        out = model.step(wins[0][t])
    assert np.array_equal(out, fresh)


def test_compile_is_deterministic(compiled, tmp_path):
    name = "gru0_t12_c4_u7"
    spec = SHAPES[name]
    calib = np.random.default_rng(1).normal(0, 1, (32, spec[2], spec[3])).astype(np.float32)
    a = to_tflite(quantize_float_model(random_float_model(spec), calib, name=name))
    b = to_tflite(quantize_float_model(random_float_model(spec), calib, name=name))
    assert a == b
    (tmp_path / "m.tflite").write_bytes(a)
    compile_model(tmp_path / "m.tflite", tmp_path / "c", name=name)
    _, cdir = compiled[name]
    for f in ("tinyrnn_model.c", "tinyrnn_model.h"):
        assert (tmp_path / "c" / f).read_text() == (cdir / f).read_text()


def _run_exe(exe: Path, wins: np.ndarray, k: int, steps: int) -> np.ndarray:
    proc = subprocess.run([str(exe)], input=wins.astype(np.int8).tobytes(), capture_output=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    assert b"runtime error" not in proc.stderr, proc.stderr.decode()[-3000:]
    return np.frombuffer(proc.stdout, np.int8).reshape(len(wins), steps + 1, k)


@pytest.mark.parametrize("name", ["gru0_t12_c4_u7", "gru_t20_c5_u12_l2", "rnn_t24_c4_u10_l2",
                                  "gru_t20_c5_u12_l2_s8", "gru0_t15_c5_u21_l2_s8"])
def test_sanitized_build_matches_reference(compiled, name, tmp_path):
    plan, cdir = compiled[name]
    exe = build_executable(cdir, tmp_path, cflags=[
        "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"])
    wins = windows(plan.steps, plan.channels, 20, seed=5)
    got = _run_exe(exe, wins, plan.output_size, plan.steps)
    want = run_windows(plan, wins)
    assert np.array_equal(got[:, 0], want)    # invoke
    assert np.array_equal(got[:, -1], want)   # last step after reset


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_packed_kernel_for_every_shape(compiled, name):
    """The generic kernels are only the reference fallback: every layer of these shapes (any
    number of units, both reset_after settings, stacked) is compiled for a packed kernel."""
    plan, cdir = compiled[name]
    code = (cdir / "tinyrnn_model.c").read_text()
    packed = code.count("_packed_step(")
    generic = sum(code.count(f"tinyrnn_{k}_step(") for k in ("gru", "gru_s8", "rnn"))
    assert (packed, generic) == (len(plan.layers), 0)
    ra0 = "tinyrnn_gru_ra0_s8_packed_step(" if "_s8" in name else "tinyrnn_gru_ra0_packed_step("
    if name.startswith("gru0"):
        assert code.count(ra0) == len(plan.layers)
    if "_s8" in name:  # the int8-state kernels, and no int16 state array
        s8 = code.count("tinyrnn_gru_s8_packed_step(") + code.count(ra0)
        assert s8 == len(plan.layers) and "int16_t s0[" not in code


def test_int8_state_is_what_was_compiled(compiled):
    """The int8-state shapes really are int8-state models: their plans say state_bits=8, and on
    the long saturating windows the int16-state reference of the same weights gives other
    outputs, which the C (equal to the int8-state reference above) therefore does not."""
    from dataclasses import replace

    differ = 0
    for name in S8:
        plan, _ = compiled[name]
        assert all(la.state_bits == 8 for la in plan.layers), name
        p16 = replace(plan, layers=[replace(la, state_bits=16) for la in plan.layers])
        wins = windows(plan.steps, plan.channels, 50, seed=2)
        differ += int(np.any(run_windows(plan, wins) != run_windows(p16, wins)))
    assert differ >= 2, f"only {differ} of {len(S8)} int8-state shapes differ from int16"


@pytest.mark.parametrize("name", ["gru_t10_c3_u5", "gru0_t12_c4_u7", "gru_t20_c6_u30_s8_sat",
                                  "gru0_t100_c6_u32_s8_sat", "gru_t20_c5_u12_l2_s8",
                                  "gru0_t15_c5_u21_l2_s8"])
def test_generic_gru_kernel_bit_exact(name, tmp_path, monkeypatch):
    """Layers outside the packed kernels' ranges fall back to tinyrnn_gru_step() /
    tinyrnn_gru_s8_step() (the reference C): forced here, both state widths."""
    import tinyrnn.convert.aot.emit_rnn as emit_rnn

    monkeypatch.setattr(emit_rnn, "_packed_ok", lambda layer: False)
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(shape_tflite(name))
    compile_model(path, tmp_path / "c", name=name)
    code = (tmp_path / "c" / "tinyrnn_model.c").read_text()
    plan = lower(read_tflite(path))
    kernel = "tinyrnn_gru_s8_step(" if "_s8" in name else "tinyrnn_gru_step("
    assert code.count(kernel) == len(plan.layers) and "_packed_step(" not in code
    wins = windows(plan.steps, plan.channels, 40, seed=4)
    want = run_windows(plan, wins)
    model = HostModel(tmp_path / "c", tmp_path / "so", opt="-O2")
    assert np.array_equal(np.stack([model.invoke(w) for w in wins]), want)
    exe = build_executable(tmp_path / "c", tmp_path / "asan", cflags=[
        "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"])
    got = _run_exe(exe, wins[:8], plan.output_size, plan.steps)
    assert np.array_equal(got[:, 0], want[:8]) and np.array_equal(got[:, -1], want[:8])


@pytest.mark.parametrize("name", ["gru_t100_c6_u32", "gru0_t9_c16_u96", "rnn_t16_c16_u96",
                                  "gru_t20_c6_u30", "rnn_t15_c5_u21_l2", "gru_t10_c3_u5",
                                  "gru0_t100_c6_u32_sat", "gru0_t12_c4_u7", "gru_t10_c3_u5_s8",
                                  "gru0_t12_c4_u20_s8", "gru_t20_c6_u30_s8_sat",
                                  "gru_t100_c6_u32_s8", "gru0_t100_c6_u32_s8_sat",
                                  "gru_t20_c5_u12_l2_s8", "gru0_t15_c5_u21_l2_s8"])
def test_dsp_path_bit_exact_on_host(compiled, name, tmp_path):
    from test_aot_build import DSP_EMULATION

    plan, cdir = compiled[name]
    header = tmp_path / "dsp_emulation.h"
    header.write_text(DSP_EMULATION)
    model = HostModel(cdir, tmp_path / "dsp", opt="-O1",
                      cflags=[f'-DTINYRNN_DSP_INTRINSICS_HEADER="{header}"'])
    wins = windows(plan.steps, plan.channels, 30, seed=7)
    want = run_windows(plan, wins)
    got = np.stack([model.invoke(w) for w in wins])
    assert np.array_equal(got, want)


@pytest.mark.parametrize("name", ["gru_t20_c6_u30", "rnn_t15_c5_u21_l2", "gru_t10_c3_u5",
                                  "gru0_t12_c4_u7", "gru_t10_c3_u5_s8", "gru0_t12_c4_u20_s8",
                                  "gru_t20_c6_u30_s8_sat", "gru0_t100_c6_u32_s8_sat",
                                  "gru_t20_c5_u12_l2_s8", "gru0_t15_c5_u21_l2_s8"])
def test_scalar_path_bit_exact_on_host(compiled, name, tmp_path):
    """The packed kernels' scalar loop (what Cortex-M0/M3 run) on padded-unit shapes, with the
    Cortex-M0's rounded high product from 16-bit pieces (TINYRNN_MULHR16)."""
    plan, cdir = compiled[name]
    model = HostModel(cdir, tmp_path / "scalar", opt="-O1",
                      cflags=["-DTINYRNN_PACKED_SCALAR", "-DTINYRNN_MULHR16"])
    wins = windows(plan.steps, plan.channels, 30, seed=9)
    assert np.array_equal(np.stack([model.invoke(w) for w in wins]), run_windows(plan, wins))


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="no Arm tool chain")
@pytest.mark.parametrize("dsp", [True, False], ids=["dsp", "portable"])
def test_cortex_m4_compile(compiled, tmp_path, dsp):
    from tinyrnn.convert.aot.hostbuild import RUNTIME_SRC

    flags = ["-mcpu=cortex-m4", "-mthumb", "-Os", "-std=c99", "-Wall", "-Wextra", "-Werror"]
    srcs = [RUNTIME_SRC / "tinyrnn_gru.c", RUNTIME_SRC / "tinyrnn_rnn.c"]
    for name in ("gru_t20_c5_u12_l2", "gru0_t12_c4_u7", "rnn_t24_c4_u10_l2",
                 "gru_t20_c5_u12_l2_s8", "gru0_t15_c5_u21_l2_s8"):
        _, cdir = compiled[name]
        for src in [*srcs, cdir / "tinyrnn_model.c"]:
            args = ["arm-none-eabi-gcc", *flags, f"-I{RUNTIME_SRC}", f"-I{cdir}", "-c", str(src),
                    "-o", str(tmp_path / (src.stem + ".o"))]
            if not dsp:
                args.insert(1, "-DTINYRNN_NO_DSP")
            proc = subprocess.run(args, capture_output=True, text=True)
            assert proc.returncode == 0, proc.stderr
