"""Instruction budget and bit-exactness of the tinyrnn runtime on the emulated Cortex-M4.

The smartwatch-sized LSTM (32 units, 100 steps, 6 channels, 7 classes) runs on QEMU mps2-an386
with -icount shift=0, where SysTick counts guest instructions exactly, so the counts repeat from
run to run and a budget on them is a deterministic test (issue 4: at most 2 instructions per MAC
with the DSP path). Wall-clock host times are deliberately not asserted anywhere.

The firmware's DSP build must also give the same bytes as the host's portable build (and as
tflite-micro) on all -128, all 127, zero, random and smooth windows.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from aot_zoo import ZOO, ensure_models
from test_aot_exact import tflm_outputs, windows

from tinyrnn.convert.aot import compile_model
from tinyrnn.convert.aot.hostbuild import HostModel

pytestmark = [
    pytest.mark.device,
    pytest.mark.skipif(
        shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
        reason="needs arm-none-eabi-gcc and qemu-system-arm",
    ),
]

ENV = "mps2-an386"
MODEL = "t100_c6_u32"  # 100 steps x 6 channels, LSTM(32), Dense(7, softmax)
INSTR_PER_MAC_BUDGET = 2.0


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> tuple[Path, Path]:
    path = ensure_models({MODEL: ZOO[MODEL]})[MODEL]
    model_dir = tmp_path_factory.mktemp("speed") / MODEL
    compile_model(path, model_dir, name=MODEL)
    return path, model_dir


def _run(model_dir: Path, build_dir: Path, wins: list[np.ndarray], flags: str = ""):
    from tinyrnn.deploy.firmware import build
    from tinyrnn.deploy.session import open_device

    fw = build(ENV, model_dir, build_dir=build_dir,
               extra_env={"PLATFORMIO_BUILD_FLAGS": flags} if flags else None)
    with open_device(ENV, None, elf=fw.elf, timeout=120) as session:
        info = session.device.info
        results = [session.device.classify(w, 2) for w in wins]
    return fw, info, results


def test_dsp_build_budget_and_bit_exact(compiled, tmp_path):
    path, model_dir = compiled
    hm = HostModel(model_dir, tmp_path / "host")  # portable path, host gcc
    wins = windows(hm.steps, hm.channels, n_random=3)
    fw, info, results = _run(model_dir, tmp_path / "fw-dsp", wins)

    # The DSP path is what the firmware runs: SMLAD/SXTB16 in the linked image.
    dis = subprocess.run(["arm-none-eabi-objdump", "-d", str(fw.elf)], capture_output=True,
                         text=True, check=True).stdout
    assert re.search(r"\tsmlad\t", dis) and re.search(r"\tsxtb16\t", dis)

    host = [hm.invoke(w) for w in wins]
    tflm = tflm_outputs(path, wins)
    for i, (r, h, t) in enumerate(zip(results, host, tflm, strict=True)):
        assert r.output == h.tolist(), f"window {i}: device {r.output} != host {h.tolist()}"
        assert h.tolist() == t.tolist(), f"window {i}: host != tflite-micro"

    # Deterministic counts: both runs of every window agree; all windows cost the same.
    assert all(r.count_min == r.count_max for r in results)
    counts = {r.count for r in results}
    per_mac = max(counts) / info.macs
    print(f"\n{MODEL} on {ENV}: {max(counts)} instructions/inference, {info.macs} MACs, "
          f"{per_mac:.3f} instructions/MAC")
    assert info.macs == 486624
    assert per_mac <= INSTR_PER_MAC_BUDGET, (
        f"{per_mac:.3f} instructions/MAC exceeds the budget of {INSTR_PER_MAC_BUDGET}")


@pytest.mark.slow
def test_portable_build_on_device_bit_exact(compiled, tmp_path):
    """The portable path compiled for the Cortex-M4 (TINYRNN_NO_DSP) gives the same bytes."""
    _, model_dir = compiled
    hm = HostModel(model_dir, tmp_path / "host")
    wins = windows(hm.steps, hm.channels, n_random=1)
    fw, _, results = _run(model_dir, tmp_path / "fw-ref", wins, flags="-DTINYRNN_NO_DSP")
    dis = subprocess.run(["arm-none-eabi-objdump", "-d", str(fw.elf)], capture_output=True,
                         text=True, check=True).stdout
    assert not re.search(r"\tsmlad\t", dis)
    for r, w in zip(results, wins, strict=True):
        assert r.output == hm.invoke(w).tolist()
