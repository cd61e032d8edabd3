"""Estimated cycles of one inference: QEMU's executed instruction stream folded with a core's
timing model (deploy/timing.py, documented in docs/cycle-model.md).

How the stream is obtained without a TCG plugin (Debian ships no qemu-plugin.h): QEMU logs every
translated block's guest instructions (``-d in_asm``) and every block it executes (``-d exec``,
with ``nochain`` so chained blocks are logged too), restricted with ``-dfilter`` to the address
ranges of the code the measured call can reach (found by following BL/B.W targets in the ELF's
disassembly from the entry symbol). One ``infer`` command then leaves exactly one inference in
the log. Block starts in order give the executed instructions and whether each block's closing
branch was taken (the next block does not start at the fall-through address).

Instruction counts from the trace are exact and are reported as "instructions (emulated)";
the timing model's sum is "cycles (estimated, <core> timing model)".
"""

from __future__ import annotations

import bisect
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinyrnn.deploy.timing import CoreTiming, Insn, is_branch, timing

_OBJDUMP_LINE = re.compile(r"^\s*([0-9a-f]+):\t([0-9a-f]{4})(?: ([0-9a-f]{4}))?\s*\t(\S+)\s*(.*)$")
_FUNC = re.compile(r"^([0-9a-f]+) <([^>]+)>:$")
_IN_ASM = re.compile(r"^0x([0-9a-f]+):\s")
_TRACE = re.compile(r"^Trace \d+: (0x[0-9a-f]+) \[[0-9a-f]+/([0-9a-f]+)/([0-9a-f]+)/([0-9a-f]+)\]")
# Logged when a block exits at its start (under -icount: the instruction budget ran out, QEMU
# refills it and runs the block again): the Trace line just before it did not execute.
_STOPPED = re.compile(r"^Stopped execution of TB chain before (0x[0-9a-f]+) ")
_CALL = re.compile(r"^\s*[0-9a-f]+:\t.*\t(?:bl|b\.w|b)\t[0-9a-f]+ <([^>+]+)>")

DEFAULT_ENTRY = "tinyrnn_model_invoke"


class CycleModelError(RuntimeError):
    """The trace or the ELF cannot be folded; the message says what is missing."""


@dataclass(frozen=True)
class Disassembly:
    insns: dict[int, Insn]
    functions: dict[str, tuple[int, int]]  # name -> [start, end)
    calls: dict[str, set[str]]


def disassemble(elf: Path) -> Disassembly:
    """objdump -d of the ELF: instructions by address, function ranges and direct calls."""
    tool = shutil.which("arm-none-eabi-objdump")
    if tool is None:
        raise CycleModelError("arm-none-eabi-objdump not found: run `bash scripts/install-toolchain.sh`")
    # Armv8.1-M decoding is a superset of v6-M/v7-M and knows MVE and low-overhead loops.
    raw = subprocess.run([tool, "-d", "-m", "armv8.1-m.main", str(elf)], capture_output=True,
                         text=True, check=False)
    if raw.returncode != 0:
        raise CycleModelError(f"arm-none-eabi-objdump failed on {elf}: {raw.stderr.strip()}")
    insns: dict[int, Insn] = {}
    starts: list[tuple[int, str]] = []
    calls: dict[str, set[str]] = {}
    current = ""
    for line in raw.stdout.splitlines():
        f = _FUNC.match(line)
        if f:
            current = f.group(2)
            starts.append((int(f.group(1), 16), current))
            calls.setdefault(current, set())
            continue
        m = _OBJDUMP_LINE.match(line)
        if not m or m.group(4).startswith("."):
            continue
        addr = int(m.group(1), 16)
        size = 4 if m.group(3) else 2
        operands = m.group(5).split("\t@")[0].strip()
        insns[addr] = Insn(addr, size, m.group(4), operands)
        c = _CALL.match(line)
        if c and current:
            calls[current].add(c.group(1))
    starts.sort()
    functions: dict[str, tuple[int, int]] = {}
    addrs = sorted(insns)
    for i, (start, name) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else (addrs[-1] + 4 if addrs else start)
        functions[name] = (start, end)
    return Disassembly(insns, functions, calls)


def reachable(dis: Disassembly, entry: str) -> list[str]:
    """Functions the entry can reach by direct calls and tail branches (entry included)."""
    if entry not in dis.functions:
        raise CycleModelError(f"no function {entry!r} in the ELF: is it a tinyrnn model firmware?")
    seen = {entry}
    todo = [entry]
    while todo:
        for callee in dis.calls.get(todo.pop(), ()):
            if callee in dis.functions and callee not in seen:
                seen.add(callee)
                todo.append(callee)
    return sorted(seen)


def dfilter_ranges(dis: Disassembly, functions: Iterable[str]) -> str:
    """QEMU -dfilter argument: merged [start, end) ranges as start..end-1 (inclusive)."""
    spans = sorted(dis.functions[f] for f in functions)
    merged: list[list[int]] = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return ",".join(f"0x{lo:x}..0x{hi - 1:x}" for lo, hi in merged)


@dataclass
class Trace:
    """Translated blocks by (start, cpu flags, cflags) -> instruction addresses, and the
    executed blocks in order (same keys). A block is logged (``IN:``) when translated, which
    is right before its first execution, so the next ``Trace`` line names its key: the same
    start may be translated more than once (other flags, an icount instruction limit)."""

    blocks: dict[tuple[int, int, int], list[int]]
    executed: list[tuple[int, int, int]]


def parse_log(lines: Iterable[str]) -> Trace:
    blocks: dict[tuple[int, int, int], list[int]] = {}
    executed: list[tuple[int, int, int]] = []
    current: list[int] | None = None
    pending: list[int] | None = None
    last_host = ""
    for line in lines:
        if line.startswith("Trace "):
            current = None
            m = _TRACE.match(line)
            if m:
                key = (int(m.group(2), 16), int(m.group(3), 16), int(m.group(4), 16))
                if pending and pending[0] == key[0]:
                    blocks[key] = pending
                pending = None
                executed.append(key)
                last_host = m.group(1)
            continue
        if line.startswith("Stopped "):
            m = _STOPPED.match(line)
            if m and executed and m.group(1) == last_host:
                executed.pop()
                last_host = ""
            continue
        if line.startswith("IN:"):
            current = []
            pending = current
            continue
        if current is not None:
            m = _IN_ASM.match(line)
            if m:
                current.append(int(m.group(1), 16))
            elif not line.strip():
                current = None
    return Trace(blocks, executed)


@dataclass
class Estimate:
    core: str
    instructions: int
    cycles: int
    by_class: dict[str, dict[str, int]] = field(default_factory=dict)
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "core": self.core,
            "timing_model": self.note,
            "instructions_emulated": self.instructions,
            "cycles_estimated": self.cycles,
            "cycles_per_instruction": round(self.cycles / self.instructions, 4)
            if self.instructions else None,
            "by_mnemonic": self.by_class,
        }


def _resolve_blocks(trace: Trace, insns: dict[int, Insn]) -> dict[tuple[int, int, int], list[int]]:
    """Each block's instructions from the ELF: QEMU's own disassembler may split instructions
    it does not know (MVE, LE) into halfwords, so only the span of its listing is trusted."""
    order = sorted(insns)
    out: dict[tuple[int, int, int], list[int]] = {}
    for key, listed in trace.blocks.items():
        lo = bisect.bisect_left(order, listed[0])
        hi = bisect.bisect_right(order, listed[-1])
        out[key] = order[lo:hi] or listed
    return out


def fold(trace: Trace, insns: dict[int, Insn], model: CoreTiming, start: int | None = None) -> Estimate:
    """Sum the model's cost over the executed blocks in order, from the first block at
    ``start`` (the measured function's entry: code in range that ran before it, such as the
    harness's own reset call, is not part of the measurement)."""
    total_insns = 0
    total_cycles = 0
    count: Counter[str] = Counter()
    cyc: Counter[str] = Counter()
    prev: Insn | None = None
    cache: dict[tuple[tuple[int, int, int], int, bool], tuple[int, int, list[tuple[str, int]]]] = {}
    for key in trace.executed:
        if key not in trace.blocks:
            raise CycleModelError(f"executed block at 0x{key[0]:x} was never logged as translated")
    blocks = _resolve_blocks(trace, insns)
    seq = trace.executed
    if start is not None:
        first = next((i for i, k in enumerate(seq) if k[0] == start), None)
        if first is None:
            raise CycleModelError(f"the traced run never entered 0x{start:x}")
        seq = seq[first:]
    for i, key in enumerate(seq):
        addrs = blocks[key]
        last = insns.get(addrs[-1])
        if last is None:
            raise CycleModelError(f"no disassembly at 0x{addrs[-1]:x}: log and ELF differ")
        nxt = seq[i + 1][0] if i + 1 < len(seq) else None
        taken = is_branch(last) and nxt != last.addr + last.size
        ckey = (key, prev.addr if prev is not None else -1, taken)
        hit = cache.get(ckey)
        if hit is None:
            n = c = 0
            parts: list[tuple[str, int]] = []
            p = prev
            for a in addrs:
                ins = insns.get(a)
                if ins is None:
                    raise CycleModelError(f"no disassembly at 0x{a:x}: log and ELF differ")
                k = model.cost(ins, p, taken if a == addrs[-1] else False)
                n += 1
                c += k
                parts.append((ins.base, k))
                p = ins
            hit = (n, c, parts)
            cache[ckey] = hit
        total_insns += hit[0]
        total_cycles += hit[1]
        for name, k in hit[2]:
            count[name] += 1
            cyc[name] += k
        prev = last
    by_class = {name: {"instructions": count[name], "cycles": cyc[name]}
                for name in sorted(count, key=lambda m: -cyc[m])}
    return Estimate(model.core, total_insns, total_cycles, by_class, model.note)


def trace_args(log: Path, ranges: str) -> list[str]:
    return ["-d", "in_asm,exec,nochain", "-D", str(log), "-dfilter", ranges]


def trace_program(elf: Path, machine: str, ranges: str, timeout: float = 60.0) -> Trace:
    """Run a bare program (no UART protocol) until it exits through semihosting; its trace."""
    with tempfile.TemporaryDirectory(prefix="tinyrnn-trace-") as tmp:
        log = Path(tmp) / "exec.log"
        cmd = ["qemu-system-arm", "-M", machine, "-nographic", "-monitor", "none", "-serial",
               "null", "-semihosting", "-icount", "shift=0", "-kernel", str(elf),
               *trace_args(log, ranges)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            raise CycleModelError(f"QEMU exited with {proc.returncode}: {proc.stderr.strip()[:300]}")
        with log.open(encoding="utf-8", errors="replace") as fh:
            return parse_log(fh)


def estimate_inference(elf: Path, machine: str, window: bytes | Sequence[int],
                       cores: Sequence[str], entry: str = DEFAULT_ENTRY,
                       timeout: float = 300.0) -> dict[str, Any]:
    """Run one ``infer`` of ``window`` on the emulated board with the trace on and fold it with
    every core's model. Returns the device's own instruction count beside the trace's."""
    from tinyrnn.deploy.link import QemuBoard

    dis = disassemble(Path(elf))
    funcs = reachable(dis, entry)
    ranges = dfilter_ranges(dis, funcs)
    with tempfile.TemporaryDirectory(prefix="tinyrnn-trace-") as tmp:
        log = Path(tmp) / "exec.log"
        board = QemuBoard(Path(elf), machine, timeout=timeout, extra_args=trace_args(log, ranges))
        with board as dev:
            dev.load(window)
            result = dev.infer(1)
            dev.exit(0)
        board.exit_code(timeout=10.0)
        with log.open(encoding="utf-8", errors="replace") as fh:
            trace = parse_log(fh)
    start = dis.functions[entry][0]
    estimates = {core: fold(trace, dis.insns, timing(core), start).to_json() for core in cores}
    first = next(iter(estimates.values()))
    return {
        "entry": entry,
        "functions": funcs,
        "device_count_instructions_emulated": result.count,
        "traced_instructions_emulated": first["instructions_emulated"],
        "output": result.output,
        "estimates": estimates,
    }


def register(device_subparsers: Any) -> None:
    """`tinyrnn device cycles`: one traced inference, instructions and estimated cycles."""
    from tinyrnn.deploy.firmware import DEFAULT_ENV

    p = device_subparsers.add_parser(
        "cycles", help="estimated cycles of one inference (QEMU trace x core timing model)",
        description="Builds the firmware for --model-dir, runs one inference of a seeded random "
        "window in QEMU with the instruction trace on and folds it with the timing model of the "
        "board's core (and any --core). Prints instructions (emulated) and cycles (estimated, "
        "<core> timing model); docs/cycle-model.md describes the models.")
    p.add_argument("--env", default=DEFAULT_ENV, help=f"QEMU board (default {DEFAULT_ENV})")
    p.add_argument("--model-dir", type=Path, required=True, help="tinyrnn C model folder")
    p.add_argument("--core", action="append", default=[], help="extra timing model(s)")
    p.add_argument("--out", type=Path, help="write the JSON here")
    p.set_defaults(func=_cmd_cycles)


def _cmd_cycles(args: Any) -> int:
    import json

    import numpy as np

    from tinyrnn.deploy.firmware import build, qemu_machine
    from tinyrnn.deploy.timing import BOARD_CORE

    try:  # the emulated boards and the chip ports that also run in QEMU
        machine = qemu_machine(args.env)
    except (OSError, KeyError, ValueError):  # ValueError: a board JSON without qemu.machine
        machine = ""
    if not machine or args.env not in BOARD_CORE:
        raise SystemExit(f"error: {args.env} has no QEMU machine with a timing model "
                         f"({', '.join(BOARD_CORE)}): cycles are estimated from QEMU traces only")
    fw = build(args.env, args.model_dir)
    summary = json.loads((Path(args.model_dir) / "summary.json").read_text(encoding="utf-8"))
    size = int(summary["steps"]) * int(summary["channels"])
    window = np.random.default_rng(0).integers(-128, 128, size).astype(np.int8).tobytes()
    cores = [BOARD_CORE[args.env], *[c for c in args.core if c != BOARD_CORE[args.env]]]
    res = estimate_inference(fw.elf, machine, window, cores)
    macs = int(summary.get("macs") or 0)
    res.update(env=args.env, model_dir=str(args.model_dir), macs=macs)
    for core, e in res["estimates"].items():
        per = f" ({e['instructions_emulated'] / macs:.3f} / {e['cycles_estimated'] / macs:.3f} " \
              f"per MAC)" if macs else ""
        print(f"{args.env}: {e['instructions_emulated']} instructions (emulated), "
              f"{e['cycles_estimated']} cycles (estimated, {core} timing model){per}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    return 0
