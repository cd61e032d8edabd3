"""The packed kernels' table activations equal TFLM's int16 sigmoid/tanh for every input.

tinyrnn_sigmoid_fast / tinyrnn_tanh_fast / tinyrnn_tanh_abs
(tinyrnn_lstm_packed.h, tables in tinyrnn_lstm_packed.c) replace TFLM's branchy interpolation by
signed or pre-folded tables; the reference is tinyrnn_sigmoid_s16 / tinyrnn_tanh_s16
(tinyrnn_activation.h, TFLite's sigmoid_table_uint16 arithmetic, checked against tflite-micro
end to end by test_aot_exact.py). Exhaustive over int16 and over the tanh scale powers -20..0
(gate tanh -12; the cell tanh uses the cell state's power)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tinyrnn.convert.aot.hostbuild import RUNTIME_SRC

PROGRAM = r"""
#include <stdio.h>
#include "tinyrnn_lstm_packed.h"

int main(void) {
  long bad = 0, checked = 0;
  int32_t x, sp;
  for (x = -32768; x <= 32767; ++x) {
    const int32_t s = tinyrnn_sigmoid_s16((int16_t)x);
    checked += 1;
    if (tinyrnn_sigmoid_fast(x) != s && bad++ < 5) printf("sigmoid_fast(%d)\n", (int)x);
    for (sp = -20; sp <= 0; ++sp) {
      const int32_t t = tinyrnn_tanh_s16((int16_t)x, sp);
      checked += 2;
      if (tinyrnn_tanh_fast(x, sp) != t && bad++ < 5) printf("tanh_fast(%d, %d)\n", (int)x, (int)sp);
      if (tinyrnn_tanh_abs(x, sp) != t && bad++ < 5) printf("tanh_abs(%d, %d)\n", (int)x, (int)sp);
    }
  }
  printf("checked %ld differing %ld\n", checked, bad);
  return bad != 0;
}
"""


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a host gcc")
@pytest.mark.parametrize("extra", [[], ["-DTINYRNN_PACKED_SCALAR"]], ids=["portable", "scalar"])
def test_table_activations_equal_tflm_for_every_int16(tmp_path: Path, extra: list[str]):
    src = tmp_path / "act.c"
    src.write_text(PROGRAM)
    exe = tmp_path / "act"
    subprocess.run(["gcc", "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", *extra,
                    f"-I{RUNTIME_SRC}", str(src), str(RUNTIME_SRC / "tinyrnn_lstm_packed.c"),
                    str(RUNTIME_SRC / "tinyrnn_activation.c"), "-o", str(exe)], check=True)
    proc = subprocess.run([str(exe)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout
    assert f"checked {65536 * (1 + 21 * 2)} differing 0" in proc.stdout
