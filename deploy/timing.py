"""Per-core instruction timing models: what one executed Thumb instruction costs in cycles.

QEMU counts instructions, not cycles. These tables turn an executed instruction stream (see
deploy/cycles.py) into "cycles (estimated, <core> timing model)". They follow the instruction
timing tables of Arm's technical reference manuals (Cortex-M0 DDI 0432, Cortex-M3 DDI 0337,
Cortex-M4 DDI 0439) with the simplifications listed in docs/cycle-model.md: zero wait states, a
taken branch refills the pipeline in a fixed P cycles, no bus contention, no interrupts. The
Cortex-M7, M33 and M55 manuals publish no per-instruction table; their models are coarse and
say so in their ``note``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CONDS = ("eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt",
          "gt", "le", "al")
_REG = re.compile(r"\b(r1[0-5]|r[0-9]|sp|lr|pc|ip|fp|sl|sb)\b")
_REG_ALIAS = {"sb": "r9", "sl": "r10", "fp": "r11", "ip": "r12", "sp": "r13", "lr": "r14",
              "pc": "r15"}

# Mnemonic families (condition code, .w/.n width and the flag-setting "s" removed).
_MUL = {"mul"}
_MLA = {"mla", "mls"}
_LONG_MUL = {"smull", "umull"}
_LONG_MLA = {"smlal", "umlal", "umaal"}
_DIV = {"sdiv", "udiv"}
_LOAD = {"ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "ldrex", "ldrexb", "ldrexh"}
_STORE = {"str", "strb", "strh", "strex", "strexb", "strexh"}
_LOAD_MULTI = {"ldm", "ldmia", "ldmfd", "ldmdb", "pop"}
_STORE_MULTI = {"stm", "stmia", "stmea", "stmdb", "stmfd", "push"}
_BRANCH = {"b", "bl", "bx", "blx", "cbz", "cbnz", "tbb", "tbh"}
# Every mnemonic that may end with a flag-setting "s" (so "muls" -> "mul", but not "bls").
_FLAG_SETTING = {"add", "adc", "sub", "sbc", "rsb", "mov", "mvn", "and", "orr", "orn", "eor",
                 "bic", "lsl", "lsr", "asr", "ror", "rrx", "mul", "mla", "smull", "umull",
                 "smlal", "umlal", "neg"}


@dataclass(frozen=True)
class Insn:
    """One disassembled instruction (objdump's text)."""

    addr: int
    size: int
    mnemonic: str
    operands: str

    @property
    def base(self) -> str:
        return base_mnemonic(self.mnemonic)

    @property
    def registers(self) -> list[str]:
        return [_REG_ALIAS.get(r, r) for r in _REG.findall(self.operands.split(";")[0])]

    @property
    def register_list(self) -> list[str]:
        """Registers of a {..} list (LDM/STM/PUSH/POP), ranges expanded."""
        m = re.search(r"\{([^}]*)\}", self.operands)
        if m is None:
            return []
        out: list[str] = []
        for part in m.group(1).split(","):
            part = part.strip()
            if "-" in part:
                lo, hi = (int(_REG_ALIAS.get(p, p)[1:]) for p in part.split("-"))
                out.extend(f"r{i}" for i in range(lo, hi + 1))
            elif part:
                out.append(_REG_ALIAS.get(part, part))
        return out

    @property
    def is_vector(self) -> bool:
        """An MVE (Helium) instruction: V* with an integer or lane-size type suffix."""
        return self.base.startswith(("v", "lctp", "wls", "dls", "le", "letp")) and (
            re.search(r"\.(s|u|i)(8|16|32|64)\b|^v(ldr|str|ld|st)", self.mnemonic) is not None
            or self.base in ("vpst", "vpt", "vmov", "vdup", "vctp", "vaddv", "vmladav")
        )


def base_mnemonic(mnemonic: str) -> str:
    """ldr.w -> ldr, bne.n -> b, movs -> mov, smlad -> smlad, addeq -> add."""
    m = mnemonic.lower().split(".")[0]
    if m in _BRANCH or m in ("bkpt", "bics"):
        return "bic" if m == "bics" else m
    for c in _CONDS:
        if len(m) > 2 and m.endswith(c):
            stem = m[: -len(c)]
            if stem in _BRANCH or stem in _FLAG_SETTING or stem in _LOAD or stem in _STORE \
                    or stem in ("it", "cmp", "cmn", "tst", "teq", "mov", "ssat", "usat", "smlad",
                                "sxtb16", "qadd16", "smmulr", "smmul", "bx", "pop", "push"):
                m = stem
                break
    if m.endswith("s") and m[:-1] in _FLAG_SETTING:
        m = m[:-1]
    return m


def is_branch(insn: Insn) -> bool:
    """Whether the instruction can change the program counter."""
    b = insn.base
    if b in _BRANCH:
        return True
    if b in _LOAD_MULTI:
        return "r15" in insn.register_list
    if b in _LOAD:
        regs = insn.registers
        return bool(regs) and regs[0] == "r15"
    return b in ("le", "letp", "wls", "wlstp")


def is_conditional_branch(insn: Insn) -> bool:
    m = insn.mnemonic.lower().split(".")[0]
    if m in ("cbz", "cbnz"):
        return True
    return m.startswith("b") and m[1:] in _CONDS and m[1:] != "al"


@dataclass(frozen=True)
class CoreTiming:
    """Cycles per instruction class for one core. ``refill`` is P, the pipeline refill of a
    taken branch; ``ldst_pipelined``: a load/store single right after a load single costs one
    cycle less (Cortex-M3/M4 "LDR [any] are pipelined"); ``agu_stall``: +1 when a load/store
    address register was written by the instruction just before (no forwarding path)."""

    core: str
    refill: int
    alu: int = 1
    mul: int = 1
    mla: int = 2
    long_mul: int = 1
    long_mla: int = 1
    div: int = 12
    load: int = 2
    store: int = 1
    load_dual: int = 3
    multi_base: int = 1
    multi_per_reg: int = 1
    ldst_pipelined: bool = True
    agu_stall: bool = True
    branch_base: int = 1
    bl_extra: int = 0
    vector: int = 2
    vector_overlap: int = 1
    note: str = ""

    def cost(self, insn: Insn, prev: Insn | None, taken: bool) -> int:
        b = insn.base
        if insn.is_vector:
            # Dual-beat Helium: a 4-beat vector instruction takes 2 cycles; one that follows a
            # vector instruction of the other kind (memory vs arithmetic) overlaps it by one.
            if prev is not None and prev.is_vector and (_is_vmem(prev) != _is_vmem(insn)):
                return self.vector - self.vector_overlap
            return self.vector
        cycles = self._base_cost(insn, b)
        if is_branch(insn) and taken:
            cycles += self.refill
        if prev is not None and (b in _LOAD or b in _STORE or b in ("ldrd", "strd")):
            addr_regs = _address_registers(insn)
            if self.agu_stall and prev.base not in _LOAD and prev.base not in _LOAD_MULTI \
                    and not is_branch(prev) and _dest(prev) in addr_regs:
                cycles += 1
            if self.ldst_pipelined and prev.base in _LOAD and b in (_LOAD | _STORE) \
                    and "!" not in prev.operands and "], #" not in prev.operands \
                    and _dest(prev) not in addr_regs and b not in _STORE:
                cycles -= 1
        return max(cycles, 1)

    def _base_cost(self, insn: Insn, b: str) -> int:
        if b in _MUL:
            return self.mul
        if b in _MLA:
            return self.mla
        if b in _LONG_MUL:
            return self.long_mul
        if b in _LONG_MLA:
            return self.long_mla
        if b in _DIV:
            return self.div
        if b in ("ldrd",):
            return self.load_dual
        if b in ("strd",):
            return self.load_dual
        if b in _LOAD:
            return self.load
        if b in _STORE:
            return self.store
        if b in _LOAD_MULTI or b in _STORE_MULTI:
            return self.multi_base + self.multi_per_reg * len(insn.register_list)
        if b in _BRANCH:
            return self.branch_base + (self.bl_extra if b == "bl" else 0)
        return self.alu


def _is_vmem(insn: Insn) -> bool:
    return insn.base.startswith(("vldr", "vstr", "vld", "vst"))


def _dest(insn: Insn) -> str | None:
    regs = insn.registers
    b = insn.base
    if not regs or b in _STORE or b in _STORE_MULTI or b in ("cmp", "cmn", "tst", "teq", "it"):
        return None
    return regs[0]


def _address_registers(insn: Insn) -> set[str]:
    m = re.search(r"\[([^\]]*)\]", insn.operands)
    if m is None:
        return set()
    return {_REG_ALIAS.get(r, r) for r in _REG.findall(m.group(1))}


# Cortex-M4 (DDI 0439 table 3-1, load/store timings in DDI 0337 3.3): single-cycle 32x32 and
# 32x32->64 multiply(-accumulate) and all DSP instructions (SMLAD, SMMULR, SXTB16, QADD16),
# MLA 2, LDR 2 (pipelined after LDR: 1), STR 1 (write buffer), LDRD/STRD 3, LDM/STM/PUSH/POP
# 1+N, taken branch 1+P with P = 2 (the manual gives 1..3), SDIV/UDIV 2..12 (12 assumed).
CORTEX_M4 = CoreTiming(core="cortex-m4", refill=2,
                       note="Cortex-M4 TRM table 3-1; P = 2, zero wait states")
# Cortex-M3 (DDI 0337 table 18-1): as the M4 but long multiplies take 3..5 (SMULL/UMULL) and
# 4..7 (SMLAL/UMLAL) cycles by early termination: the upper bounds are assumed. No DSP
# instructions exist there.
CORTEX_M3 = CoreTiming(core="cortex-m3", refill=2, long_mul=5, long_mla=7,
                       note="Cortex-M3 TRM table 18-1; long multiplies at their upper bound")
# Cortex-M33 (Armv8-M Mainline with DSP): its TRM has no cycle table; the M4 table is assumed
# (3-stage pipeline, single-cycle MAC).
CORTEX_M33 = CoreTiming(core="cortex-m33", refill=2,
                        note="coarse: the Cortex-M4 table (the M33 TRM publishes none)")
# Cortex-M7: dual issue with a branch predictor and 64-bit loads; its TRM has no cycle table.
# Coarse: one instruction per cycle except multi-register transfers (2 registers per cycle),
# MLA 1, loads 1 (TCM), predicted branches without refill. An upper bound on a dual-issue core.
CORTEX_M7 = CoreTiming(core="cortex-m7", refill=0, mla=1, load=1, store=1, load_dual=1,
                       multi_base=1, multi_per_reg=1, ldst_pipelined=False, agu_stall=False,
                       note="coarse: single issue, loads 1 cycle, predicted branches")
# Cortex-M0 (DDI 0432 table 3-1): loads/stores 2, LDM/STM/PUSH/POP 1+N, taken branches 3
# (B<cc> 1 not taken), BL 4, BX/BLX 3, POP {..,pc} 4+N, MULS 1 (fast multiplier) or 32 (small).
CORTEX_M0 = CoreTiming(core="cortex-m0", refill=2, mla=1, load=2, store=2, load_dual=3,
                       ldst_pipelined=False, agu_stall=False, bl_extra=1,
                       note="Cortex-M0 TRM table 3-1, single-cycle multiplier")
CORTEX_M0_SMALLMUL = CoreTiming(core="cortex-m0-smallmul", refill=2, mul=32, load=2, store=2,
                                load_dual=3, ldst_pipelined=False, agu_stall=False, bl_extra=1,
                                note="Cortex-M0 TRM table 3-1, 32-cycle small multiplier")
# Cortex-M55 (Helium, dual beat): scalar code as the M4; a 128-bit MVE instruction is 4 beats =
# 2 cycles, and overlaps by one cycle with a preceding one of the other kind (load/store vs ALU
# or MAC), the documented steady state of interleaved VLDR/VMLA loops.
CORTEX_M55 = CoreTiming(core="cortex-m55", refill=2,
                        note="coarse: M4 table for scalar code, MVE 2 cycles (dual beat), "
                             "1 when overlapping a vector op of the other kind")

TIMINGS: dict[str, CoreTiming] = {t.core: t for t in (
    CORTEX_M0, CORTEX_M0_SMALLMUL, CORTEX_M3, CORTEX_M4, CORTEX_M7, CORTEX_M33, CORTEX_M55)}

# QEMU board -> the timing model of its core.
BOARD_CORE: dict[str, str] = {
    "mps2-an386": "cortex-m4",
    "netduinoplus2": "cortex-m4",
    "mps2-an500": "cortex-m7",
    "mps2-an505": "cortex-m33",
    "lm3s6965evb": "cortex-m3",
    "microbit": "cortex-m0",
    "mps3-an547": "cortex-m55",
}


def timing(core: str) -> CoreTiming:
    try:
        return TIMINGS[core]
    except KeyError:
        raise ValueError(f"no timing model for core {core!r}: known {', '.join(TIMINGS)}") from None
