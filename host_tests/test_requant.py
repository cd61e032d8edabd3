"""tinyrnn_srdhm / tinyrnn_rdbypot / tinyrnn_mbqm (tinyrnn_requant.h) against TFLite's
SaturatingRoundingDoublingHighMul, RoundingDivideByPOT and MultiplyByQuantizedMultiplier written
out in Python integers (gemmlowp fixedpoint.h, TFLite common.h), on the int32 extremes, values
around the rounding ties and 200,000 pseudo-random pairs; and the packed kernels' rounded high
product tinyrnn_mulhr (tinyrnn_lstm_packed.h) in its Cortex-M0 form from 16-bit halves
(TINYRNN_MULHR16, compiled on the host) against (t * m + 2^31) >> 32 on the same pairs."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from tinyrnn.convert.aot.hostbuild import RUNTIME_SRC

PROGRAM = r"""
#include <inttypes.h>
#include <stdio.h>
#include "tinyrnn_requant.h"

int main(void) {
  long a, b, s;
  while (scanf("%ld %ld %ld", &a, &b, &s) == 3) {
    printf("%" PRId32 " %" PRId32 "\n", tinyrnn_srdhm((int32_t)a, (int32_t)b),
           tinyrnn_mbqm((int32_t)a, (int32_t)b, (int32_t)s));
  }
  return 0;
}
"""

MULHR_PROGRAM = r"""
#include <inttypes.h>
#include <stdio.h>
#include "tinyrnn_lstm_packed.h"

int main(void) {
  long t, m;
  while (scanf("%ld %ld", &t, &m) == 2) {
    printf("%" PRId32 "\n", tinyrnn_mulhr((int32_t)t, (int32_t)m));
  }
  return 0;
}
"""

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1


def wrap32(v: int) -> int:
    return (v + (1 << 31)) % (1 << 32) - (1 << 31)


def srdhm(a: int, b: int) -> int:
    if a == b == I32_MIN:
        return I32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    q = abs(ab + nudge) >> 31  # C's division truncates toward zero
    return q if ab + nudge >= 0 else -q


def rdbypot(x: int, e: int) -> int:
    mask = (1 << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if remainder > threshold else 0)


def mbqm(x: int, m: int, s: int) -> int:
    if s > 0:
        return srdhm(wrap32(x << s), m)
    return rdbypot(srdhm(x, m), -s)


def cases() -> list[tuple[int, int, int]]:
    rng = random.Random(12)
    edges = [I32_MIN, I32_MIN + 1, -(1 << 30), -1, 0, 1, 1 << 30, I32_MAX - 1, I32_MAX]
    out = [(a, b, s) for a in edges for b in edges for s in (-31, -8, 0, 3)]
    for _ in range(200_000):
        kind = rng.randrange(3)
        if kind == 0:  # anything
            a, b = rng.randint(I32_MIN, I32_MAX), rng.randint(I32_MIN, I32_MAX)
        elif kind == 1:  # requantization-like: positive multiplier, moderate values
            a, b = rng.randint(-(1 << 20), 1 << 20), rng.randint(1 << 30, I32_MAX)
        else:  # products at (or next to) a rounding tie: ab = k * 2^31 +- 2^30 (+- 1)
            b = 1 << rng.randint(0, 30)
            k = rng.randint(-(1 << 20), 1 << 20)
            target = k * (1 << 31) + rng.choice((-1, 1)) * (1 << 30) + rng.choice((-1, 0, 1))
            a = max(I32_MIN, min(I32_MAX, target // b))
        out.append((a, b, rng.randint(-31, 7)))
    return out


def _run_c(tmp_path: Path, program: str, rows: list[tuple[int, ...]],
           defines: tuple[str, ...] = ()) -> list[str]:
    """Compile program against the runtime headers, feed it rows (one per line of its stdin)
    and return its output lines, one per row."""
    src = tmp_path / "prog.c"
    src.write_text(program)
    exe = tmp_path / "prog"
    subprocess.run(["gcc", "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", *defines,
                    f"-I{RUNTIME_SRC}", str(src), "-o", str(exe)], check=True)
    proc = subprocess.run([str(exe)], input="".join(" ".join(map(str, r)) + "\n" for r in rows),
                          capture_output=True, text=True, check=True)
    got = proc.stdout.split("\n")[:-1]
    assert len(got) == len(rows)
    return got


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a host gcc")
def test_requantization_equals_tflite_integer_arithmetic(tmp_path: Path):
    cs = cases()
    got = _run_c(tmp_path, PROGRAM, cs)
    bad = [(c, g) for c, g in zip(cs, got, strict=True)
           if g != f"{srdhm(c[0], c[1])} {mbqm(*c)}"]
    assert not bad, f"{len(bad)} of {len(cs)} differ, first: {bad[:3]}"


def _halves_edges() -> list[int]:
    """int32 values at the boundaries of the 16-bit halves (low half +-2^15, high half at its
    extremes) and the int32 extremes."""
    out = {I32_MIN, I32_MIN + 1, I32_MAX - 1, I32_MAX, 0, 1, -1}
    for hi in (-(1 << 15), -1, 0, 1, (1 << 15) - 1):
        for lo in (-(1 << 15) - 1, -(1 << 15), -(1 << 15) + 1, -1, 0, (1 << 15) - 1, 1 << 15):
            v = hi * (1 << 16) + lo
            if I32_MIN <= v <= I32_MAX:
                out.add(v)
    return sorted(out)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a host gcc")
def test_m0_rounded_high_product_equals_64_bit_formula(tmp_path: Path):
    edges = _halves_edges()
    pairs = [(t, m) for t in edges for m in edges] + [(a, b) for a, b, _ in cases()]
    got = _run_c(tmp_path, MULHR_PROGRAM, pairs, ("-DTINYRNN_MULHR16",))
    bad = [(p, g) for p, g in zip(pairs, got, strict=True)
           if int(g) != (p[0] * p[1] + (1 << 31)) >> 32]
    assert not bad, f"{len(bad)} of {len(pairs)} differ, first: {bad[:3]}"
