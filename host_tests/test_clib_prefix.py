"""Generated C as a library: a per-model symbol prefix (two models in one program, each giving
its reference outputs) and the input quantization functions of the generated header (bit-equal
with tinyrnn/core/quantization.py on random inputs and exact ties)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from clib_models import gru_folder, lstm_folder

from tinyrnn.convert.aot import compile_model
from tinyrnn.convert.aot.errors import AotError
from tinyrnn.convert.aot.graph import read_tflite
from tinyrnn.convert.aot.hostbuild import RUNTIME_SRC, WARNINGS
from tinyrnn.convert.aot.plan import lower
from tinyrnn.convert.aot.reference import ReferenceModel
from tinyrnn.convert.rnn_reference import run_windows
from tinyrnn.core.quantization import quantize
from tinyrnn.train.normalization import Normalization

PREFIXES = {"lstm": "alpha_lstm", "gru": "beta_gru"}
# A scale where every k + 0.5 step below 2**20 is a float32 value: ties are plentiful.
TIE_SCALE = 0.046875

_TWO_MODELS = r"""
/* Both models in one program, driven in lock step: steps interleaved frame by frame, then a
 * whole-window invoke of each. Per window: A steps' last output, B's, A invoke, B invoke. */
#include <stdio.h>
#include "alpha_lstm.h"
#include "beta_gru.h"

int main(void) {
  static int8_t a_in[ALPHA_LSTM_INPUT_SIZE], b_in[BETA_GRU_INPUT_SIZE];
  int8_t a_out[ALPHA_LSTM_OUTPUT_SIZE], b_out[BETA_GRU_OUTPUT_SIZE];
  int t;
  if (alpha_lstm_init() != 0 || beta_gru_init() != 0) return 2;
  while (fread(a_in, 1, sizeof a_in, stdin) == sizeof a_in &&
         fread(b_in, 1, sizeof b_in, stdin) == sizeof b_in) {
    alpha_lstm_reset();
    beta_gru_reset();
    for (t = 0; t < ALPHA_LSTM_STEPS || t < BETA_GRU_STEPS; ++t) {
      if (t < ALPHA_LSTM_STEPS && alpha_lstm_step(a_in + t * ALPHA_LSTM_CHANNELS, a_out)) return 3;
      if (t < BETA_GRU_STEPS && beta_gru_step(b_in + t * BETA_GRU_CHANNELS, b_out)) return 3;
    }
    fwrite(a_out, 1, sizeof a_out, stdout);
    fwrite(b_out, 1, sizeof b_out, stdout);
    if (alpha_lstm_invoke(a_in, a_out) != 0 || beta_gru_invoke(b_in, b_out) != 0) return 4;
    fwrite(a_out, 1, sizeof a_out, stdout);
    fwrite(b_out, 1, sizeof b_out, stdout);
  }
  return 0;
}
"""

_QUANTIZE = r"""
/* stdin: uint32 count, then count float32 (normalized), then count float32 (raw); stdout: the
 * int8 of PREFIX_quantize_input and of PREFIX_quantize_raw_input. */
#include <stdio.h>
#include <stdlib.h>
#include "HEADER"

int main(void) {
  uint32_t n;
  float *x, *raw;
  int8_t *q;
  if (fread(&n, 4, 1, stdin) != 1 || n % CHANNELS != 0) return 2;
  x = malloc(n * sizeof *x);
  raw = malloc(n * sizeof *raw);
  q = malloc(n);
  if (!x || !raw || !q) return 3;
  if (fread(x, sizeof *x, n, stdin) != n || fread(raw, sizeof *raw, n, stdin) != n) return 4;
  PREFIX_quantize_input(x, q, n / CHANNELS);
  fwrite(q, 1, n, stdout);
  PREFIX_quantize_raw_input(raw, q, n / CHANNELS);
  fwrite(q, 1, n, stdout);
  free(x);
  free(raw);
  free(q);
  return 0;
}
"""


def _gcc(args: list[str]) -> None:
    proc = subprocess.run(["gcc", *WARNINGS, "-O2", *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, tuple]:
    """{cell: (model folder, C dir with the prefixed model, plan)}."""
    root = tmp_path_factory.mktemp("clib")
    out = {}
    for cell, make in (("lstm", lstm_folder), ("gru", gru_folder)):
        folder = make(root / "models")
        tflite = folder.deployable_tflite()
        cdir = root / "c" / cell
        compile_model(tflite, cdir, name=folder.name, normalization=folder.normalization(),
                      symbol_prefix=PREFIXES[cell])
        out[cell] = (folder, cdir, lower(read_tflite(tflite)))
    return out


def _windows(plan, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = rng.integers(-128, 128, (n, plan.steps, plan.channels), dtype=np.int8)
    w[0] = 127
    w[1] = -128
    return w


def test_two_models_link_into_one_program(models, tmp_path):
    (tmp_path / "main.c").write_text(_TWO_MODELS)
    srcs = [*sorted(RUNTIME_SRC.glob("*.c")), models["lstm"][1] / "alpha_lstm.c",
            models["gru"][1] / "beta_gru.c", tmp_path / "main.c"]
    exe = tmp_path / "two"
    _gcc([f"-I{RUNTIME_SRC}", f"-I{models['lstm'][1]}", f"-I{models['gru'][1]}",
          *map(str, srcs), "-o", str(exe)])
    pa, pb = models["lstm"][2], models["gru"][2]
    n = 24
    wa, wb = _windows(pa, n, 1), _windows(pb, n, 2)
    stdin = b"".join(a.tobytes() + b.tobytes() for a, b in zip(wa, wb, strict=True))
    proc = subprocess.run([str(exe)], input=stdin, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    ka, kb = pa.output_size, pb.output_size
    got = np.frombuffer(proc.stdout, np.int8).reshape(n, 2 * (ka + kb))
    ref_a = ReferenceModel(pa)
    want_a = np.stack([ref_a.invoke(w) for w in wa]).astype(np.int8)
    want_b = run_windows(pb, wb)
    steps_a, steps_b = got[:, :ka], got[:, ka:ka + kb]
    inv_a, inv_b = got[:, ka + kb:2 * ka + kb], got[:, 2 * ka + kb:]
    for name, have, want in (("LSTM steps", steps_a, want_a), ("GRU steps", steps_b, want_b),
                             ("LSTM invoke", inv_a, want_a), ("GRU invoke", inv_b, want_b)):
        assert np.array_equal(have, want), f"{name}: {np.sum(have != want)} bytes differ"
    assert len(np.unique(want_a)) > 1 and len(np.unique(want_b)) > 1


@pytest.mark.parametrize("cell", sorted(PREFIXES))
def test_every_external_symbol_has_the_prefix(models, cell, tmp_path):
    cdir, prefix = models[cell][1], PREFIXES[cell]
    obj = tmp_path / "m.o"
    _gcc(["-c", f"-I{RUNTIME_SRC}", f"-I{cdir}", str(cdir / f"{prefix}.c"), "-o", str(obj)])
    nm = subprocess.run(["nm", "-g", "--defined-only", str(obj)], capture_output=True, text=True,
                        check=True).stdout
    names = [line.split()[-1] for line in nm.splitlines() if line.strip()]
    assert f"{prefix}_invoke" in names and f"{prefix}_quantize_raw_input" in names
    assert [s for s in names if not s.startswith(prefix + "_")] == []
    header = (cdir / f"{prefix}.h").read_text()
    macros = [line.split()[1] for line in header.splitlines() if line.startswith("#define")]
    assert len(macros) > 15
    assert [m for m in macros if not m.startswith(prefix.upper() + "_")] == []
    assert sorted(p.name for p in cdir.iterdir()) == sorted(
        [f"{prefix}.c", f"{prefix}.h", "summary.json"])


def _ties(scale: float) -> np.ndarray:
    """float32 x with x / scale (in double) exactly k + 0.5: where half-to-even and
    half-away-from-zero differ. A generic scale has few (always +-scale/2)."""
    k = np.arange(-140, 140)
    x = ((k + 0.5) * np.float64(scale)).astype(np.float32)
    return x[x.astype(np.float64) / np.float64(scale) == k + 0.5]


def _quantize_exe(cdir: Path, prefix: str, tmp_path: Path) -> Path:
    src = (_QUANTIZE.replace("HEADER", f"{prefix}.h").replace("PREFIX", prefix)
           .replace("CHANNELS", f"{prefix.upper()}_CHANNELS"))
    (tmp_path / "q.c").write_text(src)
    exe = tmp_path / "q"
    _gcc([f"-I{RUNTIME_SRC}", f"-I{cdir}", *map(str, sorted(RUNTIME_SRC.glob("*.c"))),
          str(cdir / f"{prefix}.c"), str(tmp_path / "q.c"), "-o", str(exe)])
    return exe


def _run_quantize(exe: Path, x: np.ndarray, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    stdin = np.uint32(len(x)).tobytes() + x.tobytes() + raw.tobytes()
    proc = subprocess.run([str(exe)], input=stdin, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    got = np.frombuffer(proc.stdout, np.int8).reshape(2, -1)
    return got[0], got[1]


@pytest.mark.parametrize("cell", sorted(PREFIXES))
def test_quantize_functions_equal_the_python_rule(models, cell, tmp_path):
    folder, cdir, plan = models[cell]
    exe = _quantize_exe(cdir, PREFIXES[cell], tmp_path)
    C, scale, zp = plan.channels, plan.input_scale, plan.input_zp
    rng = np.random.default_rng(7)
    ties = _ties(scale)
    assert len(ties) >= 2
    x = np.concatenate([rng.normal(0, 2, 3000).astype(np.float32), ties,
                        np.float32([0.0, -0.0, 1e30, -1e30, np.inf, -np.inf])])
    x = np.resize(x, (len(x) + C - 1) // C * C).astype(np.float32)
    norm = folder.normalization()
    mean = np.resize(np.float32(norm["mean"]), len(x))
    std = np.resize(np.float32(norm["std"]), len(x))
    raw = (rng.normal(0, 3, len(x)) * std + mean).astype(np.float32)
    got_x, got_raw = _run_quantize(exe, x, raw)
    want_x = quantize(x, scale, zp)
    want_raw = quantize(Normalization.from_json(norm).apply(raw.reshape(-1, C)), scale, zp)
    assert np.array_equal(got_x, want_x), f"{np.sum(got_x != want_x)} normalized inputs differ"
    assert np.array_equal(got_raw, want_raw.reshape(-1)), \
        f"{np.sum(got_raw != want_raw.reshape(-1))} raw inputs differ"
    assert len(np.unique(got_x)) > 100 and {-128, 127} <= set(got_x.tolist())


def test_quantize_ties_round_away_from_zero(models, tmp_path):
    """The generated function with an input scale where ties are common (the same C, its
    INPUT_SCALE line changed): every tie rounds away from zero, as the Python rule does."""
    _, cdir, plan = models["lstm"]
    prefix = PREFIXES["lstm"]
    patched = tmp_path / "c"
    shutil.copytree(cdir, patched)
    header = patched / f"{prefix}.h"
    line = f"#define {prefix.upper()}_INPUT_SCALE "
    text = header.read_text()
    old = next(ln for ln in text.splitlines() if ln.startswith(line))
    header.write_text(text.replace(old, f"{line}{TIE_SCALE}f"))
    exe = _quantize_exe(patched, prefix, tmp_path)
    ties = _ties(TIE_SCALE)
    assert len(ties) == 280
    x = np.resize(ties, (len(ties) + plan.channels - 1) // plan.channels * plan.channels)
    got, _ = _run_quantize(exe, x, x)
    assert np.array_equal(got, quantize(x, TIE_SCALE, plan.input_zp))
    even = np.clip(np.round(x.astype(np.float64) / TIE_SCALE) + plan.input_zp, -128, 127)
    assert np.sum(got != even) > 100  # half to even would be wrong here


def test_no_normalization_means_no_raw_function(models, tmp_path):
    folder = models["lstm"][0]
    compile_model(folder.deployable_tflite(), tmp_path / "c", name="plain",
                  symbol_prefix="plain_model")
    header = (tmp_path / "c" / "plain_model.h").read_text()
    assert "#define PLAIN_MODEL_HAS_NORMALIZATION 0" in header
    assert "plain_model_quantize_input(" in header
    assert "void plain_model_quantize_raw_input(" not in header
    assert "quantize_raw_input" not in (tmp_path / "c" / "plain_model.c").read_text()


def test_default_prefix_keeps_the_harness_names(models, tmp_path):
    folder = models["gru"][0]
    compile_model(folder.deployable_tflite(), tmp_path / "c", name="d")
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [
        "summary.json", "tinyrnn_model.c", "tinyrnn_model.h"]
    header = (tmp_path / "c" / "tinyrnn_model.h").read_text()
    assert "int  tinyrnn_model_invoke(const int8_t *input, int8_t *output);" in header
    assert "#define TINYRNN_MODEL_STEPS " in header and "#ifndef TINYRNN_MODEL_H" in header


@pytest.mark.parametrize("prefix", ["Gesture", "1model", "a-b", "trailing_", "dou__ble",
                                    "tinyrnn", "tinyrnn_lstm", "x" * 41])
def test_bad_prefix_is_refused_before_anything_is_written(models, prefix, tmp_path):
    folder = models["lstm"][0]
    with pytest.raises(AotError, match="prefix"):
        compile_model(folder.deployable_tflite(), tmp_path / "c", name="x", symbol_prefix=prefix)
    assert not (tmp_path / "c").exists()


_FIRMWARE_MAIN = r"""
/* Bare-metal Cortex-M4F program (QEMU mps2-an386): both models and the raw-input quantizer on
 * the target, each result a hex line through semihosting SYS_WRITE0. */
#include <stdint.h>
#include "alpha_lstm.h"
#include "beta_gru.h"
#include "windows.h"

static void write0(const char *s) {
  register uint32_t r0 __asm__("r0") = 0x04u;
  register const char *r1 __asm__("r1") = s;
  __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
}

static void put(char tag, const int8_t *v, int n) {
  static const char hex[] = "0123456789abcdef";
  static char line[2 * 512 + 3];
  int i;
  line[0] = tag;
  for (i = 0; i < n; ++i) {
    line[1 + 2 * i] = hex[((uint8_t)v[i]) >> 4];
    line[2 + 2 * i] = hex[((uint8_t)v[i]) & 15u];
  }
  line[1 + 2 * n] = '\n';
  line[2 + 2 * n] = 0;
  write0(line);
}

int main(void) {
  static int8_t out_a[ALPHA_LSTM_OUTPUT_SIZE], out_b[BETA_GRU_OUTPUT_SIZE];
  static int8_t q[ALPHA_LSTM_INPUT_SIZE];
  int w;
  if (alpha_lstm_init() != 0 || beta_gru_init() != 0) return 2;
  for (w = 0; w < N_WINDOWS; ++w) {
    alpha_lstm_invoke(A_WINDOWS[w], out_a);
    beta_gru_invoke(B_WINDOWS[w], out_b);
    put('A', out_a, ALPHA_LSTM_OUTPUT_SIZE);
    put('B', out_b, BETA_GRU_OUTPUT_SIZE);
    alpha_lstm_quantize_raw_input(A_RAW[w], q, ALPHA_LSTM_STEPS);
    put('Q', q, ALPHA_LSTM_INPUT_SIZE);
  }
  return 0;
}
"""


def test_two_models_in_one_cortex_m4_firmware(models, tmp_path):
    """The same two models and the raw-input quantizer built for Cortex-M4F with the firmware's
    startup and linker script, run in QEMU: every output equals the host references."""
    from tinyrnn.convert.aot.emit import c_float
    from tinyrnn.core.resources import firmware_dir

    platform = firmware_dir() / "platforms" / "tinyrnn-qemu"
    (folder_a, cdir_a, pa), (_, cdir_b, pb) = models["lstm"], models["gru"]
    n = 6
    wa, wb = _windows(pa, n, 4), _windows(pb, n, 5)
    norm = folder_a.normalization()
    rng = np.random.default_rng(6)
    raw = (rng.normal(0, 2, (n, pa.steps, pa.channels)) * np.float32(norm["std"])
           + np.float32(norm["mean"])).astype(np.float32)

    def rows(a: np.ndarray, fmt) -> str:
        return ",\n".join("  {" + ", ".join(fmt(v) for v in w.reshape(-1)) + "}" for w in a)

    (tmp_path / "windows.h").write_text(
        f"#define N_WINDOWS {n}\n"
        f"static const int8_t A_WINDOWS[{n}][ALPHA_LSTM_INPUT_SIZE] = {{\n{rows(wa, str)}}};\n"
        f"static const int8_t B_WINDOWS[{n}][BETA_GRU_INPUT_SIZE] = {{\n{rows(wb, str)}}};\n"
        f"static const float A_RAW[{n}][ALPHA_LSTM_INPUT_SIZE] = {{\n{rows(raw, c_float)}}};\n")
    (tmp_path / "main.c").write_text(_FIRMWARE_MAIN)
    elf = tmp_path / "two.elf"
    cpu = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
    srcs = [*sorted(RUNTIME_SRC.glob("*.c")), *sorted(RUNTIME_SRC.glob("*.S")),
            cdir_a / "alpha_lstm.c", cdir_b / "beta_gru.c", tmp_path / "main.c",
            platform / "startup" / "startup_cortexm.c"]
    proc = subprocess.run(
        ["arm-none-eabi-gcc", *cpu, "-std=c99", "-Os", *WARNINGS[1:], "-ffunction-sections",
         "-fdata-sections", "-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs",
         "-Wl,--gc-sections", f"-L{platform / 'ldscripts'}", "-T", "mps2-an386.ld",
         f"-I{RUNTIME_SRC}", f"-I{cdir_a}", f"-I{cdir_b}", f"-I{tmp_path}", *map(str, srcs),
         "-o", str(elf)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    run = subprocess.run(["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none",
                          "-serial", "null", "-semihosting", "-kernel", str(elf)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    # QEMU sends the semihosting console to stderr here
    text = run.stdout + run.stderr
    lines = [ln for ln in text.splitlines() if ln[:1] in ("A", "B", "Q")]
    assert len(lines) == 3 * n, text[-2000:]

    def ints(line: str) -> np.ndarray:
        return np.frombuffer(bytes.fromhex(line[1:]), np.int8)

    ref_a = ReferenceModel(pa)
    want_b = run_windows(pb, wb)
    want_q = quantize(Normalization.from_json(norm).apply(raw), pa.input_scale, pa.input_zp)
    for w in range(n):
        a, b, q = lines[3 * w: 3 * w + 3]
        assert np.array_equal(ints(a), ref_a.invoke(wa[w]).astype(np.int8)), f"LSTM window {w}"
        assert np.array_equal(ints(b), want_b[w]), f"GRU window {w}"
        assert np.array_equal(ints(q), want_q[w].reshape(-1)), f"raw quantization window {w}"
