"""The packed GRU/RNN kernels on shapes the block-of-four kernels once refused (units not a
multiple of 4, GRU reset_after=False, stacked layers, the int8-state GRU), run in QEMU on a DSP
core (Cortex-M4, SMLAD path), a Thumb-2 core without DSP (Cortex-M3, inline-asm scalar dot), a Thumb-1 core
(Cortex-M0 on micro:bit, tinyrnn_dot_pairs_t1.S) and the Cortex-M55: every output byte equals
the numpy reference (convert/rnn_reference.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_rnn_int8_exact import shape_tflite, windows

from tinyrnn.convert.aot import compile_model
from tinyrnn.convert.aot.graph import read_tflite
from tinyrnn.convert.aot.plan import lower
from tinyrnn.convert.rnn_reference import run_windows

pytestmark = [
    pytest.mark.device,
    pytest.mark.skipif(
        shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
        reason="needs arm-none-eabi-gcc and qemu-system-arm",
    ),
]

NAMES = ["gru0_t100_c6_u32_sat", "gru_t20_c6_u30", "rnn_t15_c5_u21_l2",
         # int8-state GRU (state_bits=8): reset_after=True with 30 units, saturating weights;
         # reset_after=False, 2 stacked layers of 21 units
         "gru_t20_c6_u30_s8_sat", "gru0_t15_c5_u21_l2_s8"]
# The Cortex-M55's own element-wise code (four units per Helium vector) on the remaining shapes:
# single units, padded blocks, saturating gates, 96 units, 16 inputs (full and tail groups),
# stacked layers.
MVE_NAMES = ["gru_t1_c1_u1", "gru0_t5_c1_u1", "gru_t10_c3_u5", "gru0_t12_c4_u7",
             "gru_t128_c16_u16_sat", "gru_t16_c2_u96", "gru_t20_c5_u12_l2", "gru_t12_c7_u50_sat",
             "rnn_t1_c1_u1", "rnn_t30_c3_u9", "rnn_t128_c6_u32_sat", "rnn_t16_c16_u96",
             "rnn_t24_c4_u10_l2", "rnn_t20_c6_u50", "gru_t10_c3_u5_s8", "gru_t100_c6_u32_s8",
             "gru_t20_c5_u12_l2_s8", "gru_t6_c17_u32_sat", "rnn_t6_c32_u17", "gru_t5_c16_u33"]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, tuple]:
    root = tmp_path_factory.mktemp("packed_shapes")
    out = {}
    for name in NAMES + MVE_NAMES:
        path = root / f"{name}.tflite"
        path.write_bytes(shape_tflite(name))
        compile_model(path, root / name, name=name)
        out[name] = (lower(read_tflite(path)), root / name)
    return out


def _board(env: str, elf: Path):
    """The emulated board directly (any board JSON with a QEMU machine, also the chip ports)."""
    from tinyrnn.deploy.firmware import qemu_machine
    from tinyrnn.deploy.link import QemuBoard

    return QemuBoard(elf, qemu_machine(env), timeout=120)


@pytest.mark.parametrize("env", ["mps2-an386", "lm3s6965evb", "microbit", "mps3-an547"])
def test_packed_shapes_on_device(models, env, tmp_path):
    from tinyrnn.deploy.firmware import build

    for name in NAMES + (MVE_NAMES if env == "mps3-an547" else []):
        plan, cdir = models[name]
        code = (Path(cdir) / "tinyrnn_model.c").read_text()
        assert "_packed_step(" in code
        assert ("_s8_packed_step(" in code) == ("_s8" in name)
        wins = windows(plan.steps, plan.channels, 3, seed=11)
        want = run_windows(plan, wins)
        fw = build(env, cdir, build_dir=tmp_path / name)
        with _board(env, fw.elf) as dev:
            for i, w in enumerate(wins):
                got = dev.classify(w).output
                assert got == want[i].tolist(), f"{name} on {env}, window {i}"


@pytest.mark.parametrize("env", ["lm3s6965evb", "microbit", "mps3-an547"])
def test_packed_lstm_scalar_path_on_device(env, tmp_path):
    """The packed LSTM on cores without DSP (Thumb-2 and Thumb-1 scalar dots) and with Helium
    (MVE dot) equals tflite-micro."""
    from aot_zoo import ZOO, ensure_models
    from test_aot_exact import tflm_outputs
    from test_aot_exact import windows as lstm_windows

    from tinyrnn.deploy.firmware import build

    names = ["t20_c6_u32_sat", "t12_c4_u6_l2"]
    if env == "mps3-an547":
        # the Helium kernel's own cases: a single unit (one partial block, one-pair tails),
        # 8 and 16 units with 2-3 inputs (input tails of one and two pairs), saturating gates,
        # 96 units (full and tail groups on the recurrent side), stacked layers on 16 inputs
        names += ["t1_c1_u1", "t10_c3_u8", "t8_c3_u16_sat8", "t16_c2_u96", "t40_c8_u24_l2_sat",
                  "t30_c16_u64_l2", "t6_c32_u17_sat", "t6_c17_u33"]
    paths = ensure_models({n: ZOO[n] for n in names})
    for name in names:
        cdir = tmp_path / name
        compile_model(paths[name], cdir, name=name)
        assert "tinyrnn_lstm_packed_step(" in (cdir / "tinyrnn_model.c").read_text(), name
        plan = lower(read_tflite(paths[name]))
        wins = lstm_windows(plan.steps, plan.channels, n_random=2)
        want = tflm_outputs(paths[name], wins)
        fw = build(env, cdir, build_dir=tmp_path / f"fw-{name}")
        with _board(env, fw.elf) as dev:
            for i, w in enumerate(wins):
                got = dev.classify(w).output
                assert got == want[i].tolist(), f"{name} on {env}, window {i}"
