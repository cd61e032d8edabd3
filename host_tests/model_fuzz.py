"""Structure-aware fuzzing of the `.tflite` reader and the AOT compiler.

A valid model is mutated in place at field positions found through the flatbuffer schema (the
`tflite` package's readers): tensor type enums, shape dimensions, buffer indices, quantization
scales / zero points / axes, operator opcode indices and tensor references, builtin-code enums,
builtin-option scalars, graph inputs/outputs, weight and bias bytes. Every mutant must either be
refused with an AotError whose message names the problem, or compile to C that builds with
-Werror and equals the numpy reference (convert/aot/reference.py for LSTM, pinned to TFLM by
test_aot_exact; convert/rnn_reference.py for GRU/SimpleRNN) on random windows.

    PYTHONPATH=. .venv/bin/python host_tests/model_fuzz.py --mutants 3000 [--seed 1]

runs the longer campaign over every base model and prints the counts (see firmware/test/fuzz)."""

from __future__ import annotations

import argparse
import math
import random
import struct
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

REPO = HERE.parent


@dataclass(frozen=True)
class Site:
    """One mutable field: its absolute byte position, struct format and what it means."""

    pos: int
    fmt: str
    kind: str
    what: str


def _field(tab, slot: int) -> int | None:
    o = tab.Offset(slot)
    return None if o == 0 else tab.Pos + o


def _vector(tab, slot: int) -> tuple[int, int] | None:
    o = tab.Offset(slot)
    if o == 0:
        return None
    return tab.Vector(o), tab.VectorLen(o)


def collect_sites(buf: bytes) -> list[Site]:
    """Every in-place mutable field of a valid model, found through the schema's vtables."""
    import tflite

    model = tflite.Model.GetRootAsModel(buf, 0)
    sites: list[Site] = []

    def scalar(tab, slot: int, fmt: str, kind: str, what: str) -> None:
        pos = _field(tab, slot)
        if pos is not None:
            sites.append(Site(pos, fmt, kind, what))

    def vector(tab, slot: int, fmt: str, kind: str, what: str) -> None:
        v = _vector(tab, slot)
        if v is not None:
            start, n = v
            size = struct.calcsize("<" + fmt)
            sites.extend(Site(start + i * size, fmt, kind, f"{what}[{i}]") for i in range(n))

    for c in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(c)
        scalar(oc._tab, 4, "b", "enum", f"opcode {c} deprecated_builtin_code")
        scalar(oc._tab, 10, "i", "enum", f"opcode {c} builtin_code")
        scalar(oc._tab, 8, "i", "small", f"opcode {c} version")
    sub = model.Subgraphs(0)
    n_tensors = sub.TensorsLength()
    vector(sub._tab, 6, "i", "index", "graph inputs")
    vector(sub._tab, 8, "i", "index", "graph outputs")
    for i in range(n_tensors):
        t = sub.Tensors(i)
        vector(t._tab, 4, "i", "dim", f"tensor {i} shape")
        scalar(t._tab, 6, "b", "enum", f"tensor {i} type")
        scalar(t._tab, 8, "I", "index", f"tensor {i} buffer")
        scalar(t._tab, 14, "b", "bool", f"tensor {i} is_variable")
        q = t.Quantization()
        if q is not None:
            vector(q._tab, 8, "f", "scale", f"tensor {i} scale")
            vector(q._tab, 10, "q", "zero_point", f"tensor {i} zero_point")
            scalar(q._tab, 16, "i", "small", f"tensor {i} quantized_dimension")
    for k in range(sub.OperatorsLength()):
        op = sub.Operators(k)
        scalar(op._tab, 4, "I", "index", f"operator {k} opcode_index")
        vector(op._tab, 6, "i", "index", f"operator {k} inputs")
        vector(op._tab, 8, "i", "index", f"operator {k} outputs")
        vector(op._tab, 20, "i", "index", f"operator {k} intermediates")
        scalar(op._tab, 10, "B", "enum", f"operator {k} builtin_options_type")
        vector(op._tab, 14, "B", "byte", f"operator {k} custom_options")
        opts = op.BuiltinOptions()
        if opts is not None:
            from flatbuffers.table import Table

            tab = Table(opts.Bytes, opts.Pos)
            for slot in (4, 6, 8, 10, 12):
                pos = _field(tab, slot)
                if pos is not None:
                    sites.append(Site(pos, "b", "enum", f"operator {k} option slot {slot}"))
    for b in range(model.BuffersLength()):
        buffer = model.Buffers(b)
        v = _vector(buffer._tab, 4)
        if v is not None and v[1] > 0:
            start, n = v
            sites.extend(Site(start + j, "B", "byte", f"buffer {b} byte {j}")
                         for j in range(min(n, 64)))
    return sites


def _value(rng: random.Random, site: Site, old: float | int) -> float | int:
    if site.kind == "scale":
        return rng.choice([0.0, -float(old), math.nan, math.inf, -math.inf, 1e-38, 1e38, 1e-45,
                           float(old) * 2.0 ** rng.randint(-20, 20), rng.uniform(0, 1)])
    if site.kind == "zero_point":
        return rng.choice([-129, 128, 127, -128, 0, 255, 1 << 40, -(1 << 40), int(old) + 1,
                           rng.randint(-300, 300)])
    if site.kind == "dim":
        return rng.choice([0, -1, 1, int(old) + 1, int(old) - 1, 2 * int(old), 65536, 2**31 - 1])
    if site.kind == "index":
        if site.fmt == "I":
            return rng.choice([0, 1, int(old) + 1, int(old) - 1 if int(old) > 0 else 0,
                               rng.randint(0, 64), 2**32 - 1, 2**31])
        return rng.choice([-1, -2, 0, int(old) + 1, int(old) - 1, rng.randint(0, 64),
                           2**31 - 1, -(2**31)])
    if site.kind == "enum":
        lo, hi = (-128, 127) if site.fmt in ("b",) else (0, 255) if site.fmt == "B" else (-5, 300)
        return rng.choice([int(old) + 1, int(old) - 1, rng.randint(lo, hi), 0]) if rng.random() < 0.9 \
            else rng.randint(lo, hi)
    if site.kind == "bool":
        return rng.choice([0, 1, 2, -1])
    if site.kind == "small":
        return rng.choice([-1, 0, 1, 2, 3, 100, int(old) + 1])
    return rng.randrange(256)  # byte


def mutate(buf: bytes, sites: list[Site], rng: random.Random) -> tuple[bytes, list[str]]:
    """1-3 in-place field edits; returns the mutant and what was changed."""
    data = bytearray(buf)
    changes = []
    for site in rng.sample(sites, k=min(len(sites), rng.choice((1, 1, 1, 2, 3)))):
        fmt = "<" + site.fmt
        (old,) = struct.unpack_from(fmt, data, site.pos)
        new = _value(rng, site, old)
        lim = {"b": (-128, 127), "B": (0, 255), "i": (-(2**31), 2**31 - 1), "I": (0, 2**32 - 1),
               "q": (-(2**63), 2**63 - 1)}
        if site.fmt in lim:
            lo, hi = lim[site.fmt]
            new = min(max(int(new), lo), hi)
        struct.pack_into(fmt, data, site.pos, new)
        changes.append(f"{site.what}: {old} -> {new}")
    return bytes(data), changes


@dataclass
class Outcome:
    refused: Counter = field(default_factory=Counter)
    compiled: int = 0
    equal: int = 0
    findings: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.refused.values()) + self.compiled


def _windows(steps: int, channels: int, rng: np.random.Generator) -> np.ndarray:
    ws = [np.full((steps, channels), -128, np.int8), np.full((steps, channels), 127, np.int8)]
    ws += list(rng.integers(-128, 128, (4, steps, channels), dtype=np.int8))
    return np.stack(ws)


def check_mutant(data: bytes, work: Path, tag: str, outcome: Outcome,
                 build: Callable[[Path], object]) -> None:
    """Applies the oracle to one mutant and records the result in outcome."""
    from tinyrnn.convert.aot import AotError, compile_model
    from tinyrnn.convert.aot.emit_rnn import is_recurrent_plan
    from tinyrnn.convert.aot.graph import read_tflite
    from tinyrnn.convert.aot.plan import lower
    from tinyrnn.convert.aot.reference import ReferenceModel
    from tinyrnn.convert.rnn_reference import run_windows

    src = work / f"{tag}.tflite"
    src.write_bytes(data)
    out = work / tag
    try:
        compile_model(src, out, name="fuzz")
    except AotError as exc:
        msg = str(exc)
        if len(msg) < 12 or "Traceback" in msg:
            outcome.findings.append(f"{tag}: refusal without a useful message: {msg!r}")
        outcome.refused[type(exc).__name__] += 1
        return
    except Exception:
        outcome.findings.append(f"{tag}: traceback\n{traceback.format_exc(limit=6)}")
        outcome.refused["traceback"] += 1
        return
    outcome.compiled += 1
    try:
        model = build(out)
    except Exception as exc:
        outcome.findings.append(f"{tag}: compiled C does not build: {str(exc)[:1500]}")
        return
    plan = lower(read_tflite(src))
    wins = _windows(plan.steps, plan.channels, np.random.default_rng(len(tag)))
    got = np.stack([model.invoke(w) for w in wins])
    if is_recurrent_plan(plan):
        want = run_windows(plan, wins)
    else:
        ref = ReferenceModel(plan)
        want = np.stack([ref.invoke(w) for w in wins])
    if np.array_equal(got, want):
        outcome.equal += 1
    else:
        outcome.findings.append(f"{tag}: C differs from the reference ({got[0]} vs {want[0]})")


def base_models(work: Path) -> dict[str, bytes]:
    """Small valid models: two int8 LSTMs (TFLite converter) and GRU (both reset_after) and
    SimpleRNN custom-op models from tinyrnn's own quantizer."""
    from aot_zoo import ZOO, ensure_models
    from test_rnn_int8_exact import random_float_model

    from tinyrnn.convert.rnn_quant import quantize_float_model
    from tinyrnn.convert.rnn_tflite import to_tflite

    out = {name: path.read_bytes() for name, path in ensure_models(
        {k: ZOO[k] for k in ("t10_c3_u8", "t12_c4_u6_l2")}).items()}
    specs = {"gru_t6_c3_u5": ("gru", True, 6, 3, 5, 4, 1, 1.0),
             "gru0_t5_c2_u4_l2": ("gru", False, 5, 2, 4, 3, 2, 2.0),
             "rnn_t7_c3_u6": ("rnn", False, 7, 3, 6, 4, 1, 1.0)}
    for name, spec in specs.items():
        calib = np.random.default_rng(1).normal(0, 1, (16, spec[2], spec[3])).astype(np.float32)
        out[name] = to_tflite(quantize_float_model(random_float_model(spec), calib, name=name))
    return out


class FastHostModel:
    """The generated C built with the same warnings as convert/aot/hostbuild.py (-Werror
    -pedantic) but against a runtime archive compiled once, so a mutant costs one gcc call."""

    def __init__(self, model_dir: Path, runtime: Path, index: int) -> None:
        import ctypes
        import re
        import subprocess

        from tinyrnn.convert.aot.hostbuild import RUNTIME_SRC, WARNINGS

        lib = model_dir.parent / f"lib{model_dir.name}-{index}.so"
        proc = subprocess.run(["gcc", *WARNINGS, "-O0", "-fPIC", "-shared", f"-I{RUNTIME_SRC}",
                               f"-I{model_dir}", str(model_dir / "tinyrnn_model.c"), str(runtime),
                               "-o", str(lib)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-3000:])
        header = (model_dir / "tinyrnn_model.h").read_text()
        self.output_size = int(re.search(r"#define TINYRNN_MODEL_OUTPUT_SIZE (\d+)", header)[1])
        self._lib = ctypes.CDLL(str(lib))
        self._i8p = ctypes.POINTER(ctypes.c_int8)
        self._lib.tinyrnn_model_invoke.argtypes = [self._i8p, self._i8p]
        if self._lib.tinyrnn_model_init() != 0:
            raise RuntimeError("tinyrnn_model_init failed")

    def invoke(self, window: np.ndarray) -> np.ndarray:
        w = np.ascontiguousarray(window, dtype=np.int8).reshape(-1)
        out = np.zeros(self.output_size, np.int8)
        if self._lib.tinyrnn_model_invoke(w.ctypes.data_as(self._i8p),
                                          out.ctypes.data_as(self._i8p)) != 0:
            raise RuntimeError("tinyrnn_model_invoke failed")
        return out


def runtime_archive(work: Path) -> Path:
    """The C runtime compiled once (-Werror -pedantic, -fPIC) into an archive."""
    import subprocess

    from tinyrnn.convert.aot.hostbuild import RUNTIME_SRC, WARNINGS

    objs = []
    (work / "runtime").mkdir(parents=True, exist_ok=True)
    for src in sorted(RUNTIME_SRC.glob("*.c")):
        obj = work / "runtime" / f"{src.stem}.o"
        subprocess.run(["gcc", *WARNINGS, "-O0", "-fPIC", f"-I{RUNTIME_SRC}", "-c", str(src), "-o",
                        str(obj)], check=True, capture_output=True)
        objs.append(str(obj))
    archive = work / "runtime" / "libtinyrnn_runtime.a"
    archive.unlink(missing_ok=True)
    subprocess.run(["ar", "rcs", str(archive), *objs], check=True)
    return archive


def campaign(mutants: int, seed: int, work: Path, verbose: bool = False) -> Outcome:
    work.mkdir(parents=True, exist_ok=True)
    outcome = Outcome()
    bases = base_models(work)
    runtime = runtime_archive(work)
    counter = iter(range(1 << 30))

    def build(model_dir: Path) -> object:
        return FastHostModel(model_dir, runtime, next(counter))

    for name, buf in bases.items():  # the unmutated models must pass, or nothing is tested
        check_mutant(buf, work, f"{name}-base", outcome, build)
        if outcome.equal != outcome.compiled or outcome.findings or outcome.refused:
            raise RuntimeError(f"base model {name} does not compile and match: "
                               f"{outcome.findings or dict(outcome.refused)}")
    outcome = Outcome()
    rng = random.Random(seed)
    per_base = {name: collect_sites(buf) for name, buf in bases.items()}
    names = sorted(bases)
    for i in range(mutants):
        name = names[i % len(names)]
        data, changes = mutate(bases[name], per_base[name], rng)
        before = len(outcome.findings)
        check_mutant(data, work, f"{name}-{i}", outcome, build)
        if len(outcome.findings) > before:
            outcome.findings[-1] += "\n  changes: " + "; ".join(changes)
            (work / f"finding-{name}-{i}.tflite").write_bytes(data)
        if verbose and (i + 1) % 100 == 0:
            print(f"{i + 1}/{mutants} mutants: {outcome.compiled} compiled, "
                  f"{outcome.equal} equal, {len(outcome.findings)} findings", flush=True)
    return outcome


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mutants", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", type=Path, default=REPO / "build" / "fuzz" / "models")
    args = ap.parse_args()
    start = time.monotonic()
    outcome = campaign(args.mutants, args.seed, args.work, verbose=True)
    print(f"{outcome.total} mutants in {time.monotonic() - start:.0f} s: refused "
          f"{dict(outcome.refused)}, compiled {outcome.compiled}, equal to the reference "
          f"{outcome.equal}, findings {len(outcome.findings)}")
    for f in outcome.findings:
        print("FINDING", f)
    return 1 if outcome.findings else 0


if __name__ == "__main__":
    sys.exit(main())
