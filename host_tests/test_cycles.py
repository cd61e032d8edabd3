"""The cycle estimate (deploy/cycles.py + deploy/timing.py) against hand-counted loops.

Tiny bare-metal programs are assembled, run in QEMU with the trace on and folded with each core's
timing model; the expected figures are counted by hand from the tables in docs/cycle-model.md
(comments give the count per instruction). A device test checks that the traced instruction
count of a real inference equals the firmware's own -icount counter (up to its resolution).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tinyrnn.deploy.cycles import dfilter_ranges, disassemble, fold, parse_log, trace_program
from tinyrnn.deploy.timing import Insn, base_mnemonic, timing

needs_arm = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="needs arm-none-eabi-gcc and qemu-system-arm",
)

LINKER = "ENTRY(reset)\nSECTIONS { . = 0; .vectors : { KEEP(*(.vectors)) } .text : { *(.text*) } }\n"
HEAD = """  .syntax unified
  .thumb
  .section .vectors,"a"
  .word 0x20001000
  .word reset+1
  .text
  .thumb_func
  .global reset
reset:
"""
EXIT = """  movs r0, #0x18
  ldr r1, =0x20026
  bkpt 0xab
  .ltorg
"""

# Thumb-1 only (runs on every Cortex-M). Per core: M4/M3 | M0 | M0 with the small multiplier.
THUMB1 = HEAD + """  movs r0, #10            @ 1 | 1
  movs r1, #0             @ 1 | 1
  ldr r2, =data           @ 2 | 2
loop:
  ldr r3, [r2]            @ 2 | 2
  ldr r4, [r2, #4]        @ 1 (pipelined after LDR) | 2
  muls r3, r4, r3         @ 1 | 1 | 32
  adds r1, r1, r3         @ 1
  subs r0, #1             @ 1
  bne loop                @ 3 taken, 1 not taken (x10: 9 taken)
  push {r4, r5}           @ 3 (1+N)
  bl func                 @ 3 | 4
  pop {r4, r5}            @ 3
""" + EXIT + """  .thumb_func
func:
  adds r1, #1             @ 1
  bx lr                   @ 3
  .align 2
data: .word 3, 5
"""
THUMB1_INSNS = 3 + 10 * 6 + 5 + 3
THUMB1_CYCLES = {
    "cortex-m4": 4 + 9 * 9 + 7 + 13 + 4,         # 109
    "cortex-m3": 109,
    "cortex-m0": 4 + 9 * 10 + 8 + 14 + 4,        # 120
    "cortex-m0-smallmul": 120 + 10 * 31,         # 430
}

# Thumb-2 (Cortex-M3/M4): LDRD, a long multiply, LDM, CBZ.
THUMB2 = HEAD + """  movs r0, #4             @ 1
  ldr r2, =data           @ 2
loop:
  ldrd r3, r4, [r2]       @ 3
  smull r5, r6, r3, r4    @ 1 (M4) | 5 (M3 upper bound)
  ldmia r2, {r3, r4, r5, r6}  @ 5
  subs r0, #1             @ 1
  cbz r0, out             @ 1 not taken, 3 taken (last)
  b loop                  @ 3
out:
""" + EXIT + """  .align 2
data: .word 3, 5, 7, 9
"""
THUMB2_INSNS = 2 + 3 * 6 + 5 + 3
THUMB2_CYCLES = {"cortex-m4": 3 + 3 * 14 + 13 + 4, "cortex-m3": 3 + 3 * 18 + 17 + 4}


def _assemble(tmp: Path, source: str, cpu: str) -> Path:
    (tmp / "t.S").write_text(source, encoding="utf-8")
    (tmp / "t.ld").write_text(LINKER, encoding="utf-8")
    elf = tmp / "t.elf"
    subprocess.run(["arm-none-eabi-gcc", f"-mcpu={cpu}", "-mthumb", "-nostdlib", "-T",
                    str(tmp / "t.ld"), "-o", str(elf), str(tmp / "t.S")], check=True)
    return elf


@needs_arm
@pytest.mark.parametrize("source,cpu,insns,expected", [
    (THUMB1, "cortex-m0", THUMB1_INSNS, THUMB1_CYCLES),
    (THUMB2, "cortex-m4", THUMB2_INSNS, THUMB2_CYCLES),
], ids=["thumb1", "thumb2"])
def test_hand_counted_loops(tmp_path, source, cpu, insns, expected):
    elf = _assemble(tmp_path, source, cpu)
    dis = disassemble(elf)
    trace = trace_program(elf, "mps2-an386", dfilter_ranges(dis, [f for f in dis.functions
                                                                  if f != "data"]))
    for core, cycles in expected.items():
        est = fold(trace, dis.insns, timing(core))
        assert est.instructions == insns, core
        assert est.cycles == cycles, f"{core}: {est.cycles} != hand count {cycles}"


def test_mnemonic_classes():
    assert base_mnemonic("bne.n") == "b"
    assert base_mnemonic("movs") == "mov"
    assert base_mnemonic("ldr.w") == "ldr"
    assert base_mnemonic("addeq") == "add"
    assert base_mnemonic("bls") == "b"
    assert base_mnemonic("smlad") == "smlad"
    assert base_mnemonic("muls") == "mul"
    m4, m0 = timing("cortex-m4"), timing("cortex-m0")
    pop_pc = Insn(0, 2, "pop", "{r4, r5, pc}")
    assert m4.cost(pop_pc, None, taken=True) == 1 + 3 + 2
    assert m0.cost(Insn(0, 4, "bl", "100 <f>"), None, taken=True) == 4
    with pytest.raises(ValueError, match="no timing model"):
        timing("cortex-m99")


def test_aborted_blocks_are_not_counted():
    """Under -icount QEMU logs a block, stops before running it (instruction budget refill) and
    logs it again: only the "Stopped execution" line tells it from a one-block loop."""
    head = """----------------
IN: f
0x00000010:  2001       movs     r0, #1
0x00000012:  e7fd       b        #0x10

"""
    run = "Trace 0: 0x7f00 [00800408/00000010/00000110/ff020200] f\n"
    stop = "Stopped execution of TB chain before 0x7f00 [00000010] f\n"
    insns = {0x10: Insn(0x10, 2, "movs", "r0, #1"), 0x12: Insn(0x12, 2, "b.n", "10 <f>")}
    m4 = timing("cortex-m4")
    aborted = fold(parse_log((head + run + stop + run).splitlines()), insns, m4)
    assert aborted.instructions == 2
    loop = fold(parse_log((head + run + run).splitlines()), insns, m4)
    assert loop.instructions == 4 and loop.cycles == 2 * (1 + 3)  # MOVS 1, taken B 1 + P


@needs_arm
@pytest.mark.device
@pytest.mark.parametrize("env,core", [("mps2-an386", "cortex-m4"), ("mps3-an547", "cortex-m55"),
                                      ("microbit", "cortex-m0")])
def test_traced_inference_equals_device_count(tmp_path, env, core):
    """One LSTM inference per core class (DSP, Helium with low-overhead loops, Thumb-1): the
    trace's instruction count equals the firmware's -icount counter up to the counter's
    resolution (whole SysTick ticks of 31..80 instructions) and its own start/read overhead."""
    from tinyrnn.deploy.budget import ModelSpec, generate_model
    from tinyrnn.deploy.cycles import estimate_inference
    from tinyrnn.deploy.firmware import build, qemu_machine

    spec = ModelSpec(name="cycles-lstm8", cell="lstm", units=8, steps=10, channels=3, classes=4)
    model = generate_model(spec, root=Path(__file__).resolve().parents[1] / "build" / "test-cache"
                           / "cycles")
    fw = build(env, model, build_dir=tmp_path / "fw")
    window = np.random.default_rng(0).integers(-128, 128, 30).astype(np.int8).tobytes()
    res = estimate_inference(fw.elf, qemu_machine(env), window, [core, "cortex-m0"])
    traced = res["traced_instructions_emulated"]
    assert -160 < res["device_count_instructions_emulated"] - traced < 160
    est = res["estimates"][core]
    assert est["instructions_emulated"] == traced
    # Loads, LDM and taken branches cost more than one cycle: cycles > instructions.
    assert est["cycles_estimated"] > traced
    if core == "cortex-m4":
        assert est["by_mnemonic"]["smlad"]["cycles"] == est["by_mnemonic"]["smlad"]["instructions"]
    if core == "cortex-m55":
        assert est["by_mnemonic"]["vmlava"]["instructions"] > 0


def test_cycles_cli_refuses_a_board_without_qemu(tmp_path, capsys):
    from tinyrnn.deploy.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["device", "cycles", "--env", "esp32dev", "--model-dir", str(tmp_path)])
    assert "no QEMU machine with a timing model" in str(exc.value.code)
