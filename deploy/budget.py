"""Size budgets: build the firmware for fixed models on the emulated boards, measure flash, RAM,
model bytes and instructions per inference, and fail on any budget excess or on growth against a
stored baseline (the way TFLM's and Zephyr's CI size checks work).

    tinyrnn budget                      # check budgets.json and budgets/baseline.json
    tinyrnn budget --update-baseline    # after an intended change: store today's figures

The models are generated, not trained: a tf_keras classifier built from a fixed seed with
untrained weights, converted to int8 with seeded random calibration data and compiled to tinyrnn
C. Sizes and instruction counts depend on shapes, not on what the weights learned, so CI needs
no trained model and no data set. Instruction counts come from QEMU under ``-icount shift=0``
(exact and repeatable; every instruction counts 1, these are not cycles).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tinyrnn.core.resources import budgets_file
from tinyrnn.deploy.budget_records import Measurement
from tinyrnn.deploy.pio_bootstrap import build_root

BUDGETS_FILE = budgets_file()
METRICS: tuple[str, ...] = ("flash_bytes", "ram_bytes", "model_bytes", "instructions_per_inference",
                            "cycles_estimated_per_inference")
DEFAULT_THRESHOLD_PERCENT = 2.0
MEASURE_WINDOWS = 3
# Board/model pairs measured at a time: two keep a two-core machine busy, more only queue.
DEFAULT_JOBS = min(2, os.cpu_count() or 1)
# Part of the generated-model cache key: a new TF can convert the same Keras model differently.
GENERATOR_VERSION = "tensorflow-2.21.0/tf-keras-2.21.0/v1"


class BudgetError(RuntimeError):
    """The budget check cannot run (bad budgets file, model generation failed, ...)."""


# ---- models -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    name: str
    cell: str = "lstm"
    units: int = 32
    layers: int = 1
    steps: int = 100
    channels: int = 6
    classes: int = 7
    seed: int = 0
    backend: str = "tinyrnn"   # or tflm / tflm-cmsis-nn (deploy/budget_tflm.py)

    @classmethod
    def from_json(cls, name: str, d: dict[str, Any]) -> ModelSpec:
        unknown = set(d) - {f for f in cls.__dataclass_fields__ if f != "name"}
        if unknown:
            raise BudgetError(f"model {name!r} in the budgets file has unknown keys {sorted(unknown)}: "
                              f"use cell, units, layers, steps, channels, classes, seed, backend")
        try:
            spec = cls(name=name, **{k: (str(v) if k in ("cell", "backend") else int(v))
                                     for k, v in d.items()})
        except (TypeError, ValueError) as exc:
            raise BudgetError(f"model {name!r} in the budgets file: {exc}") from exc
        if spec.backend not in ("tinyrnn", "tflm", "tflm-cmsis-nn"):
            raise BudgetError(f"model {name!r}: backend {spec.backend!r} is not tinyrnn, tflm or "
                              f"tflm-cmsis-nn")
        if spec.cell not in ("lstm", "gru", "rnn"):
            raise BudgetError(f"model {name!r}: cell {spec.cell!r} is not lstm, gru or rnn")
        return spec

    def key(self) -> str:
        d = asdict(self)
        d.pop("name")
        d.pop("backend")  # the same generated model runs on every backend
        raw = json.dumps(d, sort_keys=True) + GENERATOR_VERSION
        return hashlib.sha256(raw.encode()).hexdigest()[:12]


def make_untrained_tflite_job(out_path: str, cell: str, units: int, layers: int, steps: int,
                              channels: int, classes: int, seed: int) -> dict:
    """Child process: seeded untrained classifier -> int8 .tflite (as convert does it)."""
    import numpy as np
    import tensorflow as tf

    from tinyrnn.train.fit import seed_everything
    from tinyrnn.train.models import build_classifier

    seed_everything(seed)
    model = build_classifier(cell, units, layers, steps, channels, classes, batch_size=1,
                             unroll=cell != "lstm")
    calib = np.random.default_rng(seed).standard_normal((32, steps, channels)).astype(np.float32)
    if cell != "lstm":
        # GRU/RNN: TF cannot quantize them; our quantizer and custom-op .tflite, as convert does
        from tinyrnn.convert.rnn_quant import float_model_from_keras, quantize_float_model
        from tinyrnn.convert.rnn_tflite import to_tflite

        data = to_tflite(quantize_float_model(float_model_from_keras(model), calib,
                                              name=f"{cell}{units}"))
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(out_path).with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(out_path)
        return {"bytes": len(data)}

    from tinyrnn.core.tflite_int8 import configure_int8

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    configure_int8(converter, calib)
    data = converter.convert()
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(out_path).with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(out_path)
    return {"bytes": len(data)}


def generate_model(spec: ModelSpec, root: Path | None = None) -> Path:
    """The spec's tinyrnn C folder; the .tflite is cached by spec, the C is compiled every time
    (so a compiler change shows up in the figures)."""
    from tinyrnn.convert.aot.compiler import compile_model
    from tinyrnn.convert.aot.errors import AotError
    from tinyrnn.convert.isolate import run_isolated

    base = (root or build_root() / "budget" / "models") / f"{spec.name}-{spec.key()}"
    tflite = base / "int8.tflite"
    same = sorted(base.parent.glob(f"*-{spec.key()}/int8.tflite")) if not tflite.is_file() else []
    if same:  # the same model under another name (e.g. its TFLM budget entry): no reconversion
        tflite.parent.mkdir(parents=True, exist_ok=True)
        tflite.write_bytes(same[0].read_bytes())
    if not tflite.is_file():
        print(f"[budget] generating {spec.name} ({spec.cell} {spec.units} units, {spec.steps} "
              f"steps x {spec.channels} channels, seed {spec.seed}, untrained)", flush=True)
        res = run_isolated("tinyrnn.deploy.budget:make_untrained_tflite_job", timeout=600,
                           out_path=str(tflite), **{k: v for k, v in asdict(spec).items()
                                                    if k not in ("name", "backend")})
        if not res.ok:
            raise BudgetError(f"could not make model {spec.name}: {res.error}")
    try:
        compile_model(tflite, base / "tinyrnn", name=spec.name)
    except AotError as exc:
        raise BudgetError(f"model {spec.name} ({spec.cell}) does not compile to tinyrnn C: {exc}. "
                          f"Remove it from the budgets file until the runtime supports it") from exc
    return base / "tinyrnn"


# ---- measuring --------------------------------------------------------------------------------




def firmware_build_dir(spec: ModelSpec, env: str) -> Path:
    """One folder per model and board, so pairs measured side by side never share one."""
    return build_root() / "budget" / "firmware" / f"{spec.name}-{env}"


def measure(spec: ModelSpec, model_c: Path, env: str) -> Measurement:
    """Build for env, read the ELF, run a few seeded windows in QEMU (largest count wins)."""
    import numpy as np

    from tinyrnn.deploy.elf import parameter_bytes
    from tinyrnn.deploy.firmware import build, memory_usage, qemu_machine
    from tinyrnn.deploy.link import QemuBoard

    fw = build(env, model_c, build_dir=firmware_build_dir(spec, env))
    mem = memory_usage(fw.elf)
    params = parameter_bytes(fw.elf)
    rng = np.random.default_rng(1234)
    windows = rng.integers(-128, 128, (MEASURE_WINDOWS, spec.steps, spec.channels), dtype=np.int8)
    with QemuBoard(fw.elf, qemu_machine(env)) as dev:
        info = dev.identify()
        results = [dev.classify(w, 2) for w in windows]
    count = max(r.count_max for r in results)
    from tinyrnn.deploy.cycles import estimate_inference
    from tinyrnn.deploy.timing import BOARD_CORE

    core = BOARD_CORE[env]
    cycles = estimate_inference(fw.elf, qemu_machine(env), windows[0].tobytes(), [core])
    est = cycles["estimates"][core]["cycles_estimated"]
    return Measurement(
        model=spec.name, env=env, flash_bytes=mem.flash, ram_bytes=mem.ram,
        model_bytes=params.total, instructions_per_inference=count, macs=info.macs,
        instructions_per_mac=round(count / info.macs, 3) if info.macs else 0.0,
        counter=info.counter_unit, counts_repeat=all(r.count_min == r.count_max for r in results),
        arena_bytes=info.arena_bytes, state_bytes=info.state_bytes,
        cycles_estimated_per_inference=est,
        cycles_estimated_per_mac=round(est / info.macs, 3) if info.macs else 0.0,
        timing_model=core,
    )


# ---- checking ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    env: str
    model: str
    metric: str
    value: int
    reference: int | None
    kind: str       # over_budget | growth | no_baseline | shrunk | not_repeatable
    fails: bool

    def describe(self) -> str:
        what = {
            "over_budget": f"{self.value:,} exceeds the budget {self.reference:,}",
            "growth": f"{self.value:,} grew {_pct(self.value, self.reference):+.2f}% over the "
                      f"baseline {self.reference:,}",
            "shrunk": f"{self.value:,} is {_pct(self.value, self.reference):+.2f}% against the "
                      f"baseline {self.reference:,}: run `tinyrnn budget --update-baseline` to "
                      f"lock the gain in",
            "no_baseline": f"{self.value:,} has no baseline yet (`tinyrnn budget --update-baseline`)",
            "not_repeatable": "instruction counts differed between two runs of the same window",
        }[self.kind]
        return f"{self.env} {self.model} {self.metric}: {what}"


def _pct(value: int, ref: int | None) -> float:
    return 100.0 * (value - ref) / ref if ref else float("inf")


@dataclass
class Budgets:
    path: Path
    models: dict[str, ModelSpec]
    boards: dict[str, dict[str, dict[str, int]]]
    threshold_percent: float
    baseline_path: Path

    @classmethod
    def load(cls, path: Path = BUDGETS_FILE) -> Budgets:
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise BudgetError(f"no budgets file at {path}: create one (see budgets.json in the "
                              f"repository root)") from exc
        except json.JSONDecodeError as exc:
            raise BudgetError(f"{path} is not valid JSON: {exc}") from exc
        try:
            models = {n: ModelSpec.from_json(n, d) for n, d in raw["models"].items()}
            boards = raw["boards"]
        except (KeyError, AttributeError) as exc:
            raise BudgetError(f"{path} needs 'models' and 'boards' objects ({exc})") from exc
        from tinyrnn.deploy.firmware import QEMU_ENVS

        for env, per_model in boards.items():
            if env not in QEMU_ENVS:
                raise BudgetError(f"{path}: board {env!r} is not an emulated board "
                                  f"({', '.join(QEMU_ENVS)}); budgets are measured in QEMU")
            for model, limits in per_model.items():
                if model not in models:
                    raise BudgetError(f"{path}: {env} budgets model {model!r}, which 'models' "
                                      f"does not define")
                bad = set(limits) - set(METRICS)
                if bad:
                    raise BudgetError(f"{path}: {env}/{model} has unknown metrics {sorted(bad)}; "
                                      f"known: {', '.join(METRICS)}")
        baseline = Path(raw.get("baseline", "budgets/baseline.json"))
        if not baseline.is_absolute():
            baseline = path.parent / baseline
        return cls(path, models, boards, float(raw.get("threshold_percent",
                                                       DEFAULT_THRESHOLD_PERCENT)), baseline)


def load_baseline(path: Path) -> dict[str, dict[str, int]] | None:
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8")).get("entries", {})


def check(measurements: list[Measurement], budgets: Budgets,
          baseline: dict[str, dict[str, int]] | None, threshold_percent: float) -> list[Finding]:
    findings: list[Finding] = []
    for m in measurements:
        limits = budgets.boards.get(m.env, {}).get(m.model, {})
        base = (baseline or {}).get(f"{m.env}/{m.model}")
        if not m.counts_repeat:
            findings.append(Finding(m.env, m.model, "instructions_per_inference",
                                    m.instructions_per_inference, None, "not_repeatable", True))
        for metric in METRICS:
            value = m.metric(metric)
            if metric in limits and value > int(limits[metric]):
                findings.append(Finding(m.env, m.model, metric, value, int(limits[metric]),
                                        "over_budget", True))
            if baseline is None:
                continue
            if base is None or metric not in base:
                findings.append(Finding(m.env, m.model, metric, value, None, "no_baseline", False))
                continue
            ref = int(base[metric])
            if value > ref * (1 + threshold_percent / 100.0):
                findings.append(Finding(m.env, m.model, metric, value, ref, "growth", True))
            elif value < ref * (1 - threshold_percent / 100.0):
                findings.append(Finding(m.env, m.model, metric, value, ref, "shrunk", False))
    return findings


@dataclass
class BudgetResult:
    measurements: list[Measurement]
    findings: list[Finding]
    budgets: Budgets
    baseline: dict[str, dict[str, int]] | None
    threshold_percent: float
    seconds: float
    baseline_written: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(f.fails for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        return {
            "budgets": str(self.budgets.path),
            "threshold_percent": self.threshold_percent,
            "passed": not self.failed,
            "seconds": round(self.seconds, 1),
            "counter": "instructions (emulated): QEMU -icount shift=0, every instruction counts 1",
            "measurements": [asdict(m) for m in self.measurements],
            "limits": {f"{m.env}/{m.model}": self.budgets.boards.get(m.env, {}).get(m.model, {})
                       for m in self.measurements},
            "baseline": self.baseline,
            "findings": [asdict(f) | {"text": f.describe()} for f in self.findings],
            "notes": self.notes,
        }


def write_baseline(path: Path, measurements: list[Measurement], threshold_percent: float) -> None:
    entries = {f"{m.env}/{m.model}": {k: m.metric(k) for k in METRICS} for m in measurements}
    old = load_baseline(path) or {}
    old.update(entries)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "about": "Measured by `tinyrnn budget --update-baseline`; `tinyrnn budget` fails when a "
                 "figure grows more than threshold_percent over these. Instructions are emulated "
                 "(QEMU -icount shift=0); cycles are estimated (QEMU trace x the core's timing model, "
                 "docs/cycle-model.md).",
        "threshold_percent": threshold_percent,
        "entries": dict(sorted(old.items())),
    }
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def run_budget(budgets_path: Path = BUDGETS_FILE, baseline_path: Path | None = None,
               envs: list[str] | None = None, update_baseline: bool = False,
               threshold_percent: float | None = None, results_path: Path | None = None,
               jobs: int | None = None) -> BudgetResult:
    """Measure every (board, model) of the budgets file and check limits and baseline; `jobs`
    pairs at a time (each build and QEMU run keeps one core busy; instruction counts under
    -icount do not depend on the load)."""
    start = time.monotonic()
    budgets = Budgets.load(budgets_path)
    threshold = budgets.threshold_percent if threshold_percent is None else threshold_percent
    base_path = baseline_path or budgets.baseline_path
    selected = envs or list(budgets.boards)
    unknown = [e for e in selected if e not in budgets.boards]
    if unknown:
        raise BudgetError(f"no budgets for {', '.join(unknown)} in {budgets.path} "
                          f"(it has {', '.join(budgets.boards)})")
    model_c: dict[str, Path] = {}
    pairs: list[tuple[str, ModelSpec]] = []
    skipped: list[str] = []
    for env in selected:
        for model in budgets.boards[env]:
            spec = budgets.models[model]
            if model not in model_c:
                model_c[model] = generate_model(spec)
            if spec.backend != "tinyrnn":
                from tinyrnn.deploy.tflm_lib import unavailable_reason

                reason = unavailable_reason()
                if reason:
                    skipped.append(f"{env}/{model} not measured: {reason}")
                    continue
            pairs.append((env, spec))

    def measure_pair(pair: tuple[str, ModelSpec]) -> Measurement:
        env, spec = pair
        if spec.backend != "tinyrnn":
            from tinyrnn.deploy.budget_tflm import measure_tflm

            print(f"[budget] measuring {spec.name} on {env} (TFLM, {spec.backend})", flush=True)
            return measure_tflm(spec, model_c[spec.name].parent / "int8.tflite", env,
                                MEASURE_WINDOWS, firmware_build_dir(spec, env))
        print(f"[budget] measuring {spec.name} on {env}", flush=True)
        return measure(spec, model_c[spec.name], env)

    # A TFLM library is built once per core under a lock, so parallel pairs only wait for it.
    with ThreadPoolExecutor(max_workers=max(1, jobs or DEFAULT_JOBS)) as pool:
        measurements = list(pool.map(measure_pair, pairs))  # the budgets file's order
    baseline = load_baseline(base_path)
    findings = check(measurements, budgets, None if update_baseline else baseline, threshold)
    result = BudgetResult(measurements, findings, budgets, baseline, threshold,
                          time.monotonic() - start)
    result.notes += skipped
    if baseline is None and not update_baseline:
        result.notes.append(f"no baseline at {base_path}: growth not checked; store one with "
                            f"`tinyrnn budget --update-baseline`")
    if update_baseline:
        write_baseline(base_path, measurements, threshold)
        result.baseline_written = base_path
    out = results_path or build_root() / "budget" / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    return result


def format_table(result: BudgetResult) -> str:
    base = result.baseline or {}
    head = (f"{'board':<12} {'model':<16} {'metric':<27} {'value':>11} {'budget':>11} "
            f"{'baseline':>11} {'change':>8}  status")
    lines = [head, "-" * len(head)]
    bad = {(f.env, f.model, f.metric): f.kind for f in result.findings}
    for m in result.measurements:
        limits = result.budgets.boards.get(m.env, {}).get(m.model, {})
        b = base.get(f"{m.env}/{m.model}", {})
        for metric in METRICS:
            v = m.metric(metric)
            lim = limits.get(metric)
            ref = b.get(metric)
            change = f"{_pct(v, ref):+.1f}%" if ref else ""
            status = bad.get((m.env, m.model, metric), "ok")
            label = metric.replace("instructions_per_inference", "instructions/inference (emu)"
                                   ).replace("cycles_estimated_per_inference", "cycles/inference (est)")
            lines.append(f"{m.env:<12} {m.model:<16} {label:<27} {v:>11,} "
                         f"{(f'{int(lim):,}' if lim is not None else '-'):>11} "
                         f"{(f'{int(ref):,}' if ref is not None else '-'):>11} {change:>8}  "
                         f"{status}")
        lines.append(f"{'':<12} {'':<16} {'instructions/MAC (emu)':<27} "
                     f"{m.instructions_per_mac:>11}")
        lines.append(f"{'':<12} {'':<16} {'cycles/MAC (est)':<27} "
                     f"{m.cycles_estimated_per_mac:>11}  {m.timing_model} timing model")
    return "\n".join(lines)


def _cmd_budget(args: argparse.Namespace) -> int:
    from tinyrnn.deploy.firmware import BuildError
    from tinyrnn.deploy.link import DeviceError
    from tinyrnn.deploy.pio_bootstrap import BootstrapError

    try:
        result = run_budget(args.budgets, args.baseline, args.env, args.update_baseline,
                            args.threshold, args.json, jobs=args.jobs)
    except (BudgetError, BuildError, BootstrapError, DeviceError) as exc:
        print(f"tinyrnn budget: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    print(format_table(result))
    for note in result.notes:
        print(f"note: {note}")
    for f in result.findings:
        print(f"{'FAIL' if f.fails else 'note'}: {f.describe()}")
    if result.baseline_written:
        print(f"baseline written: {result.baseline_written}")
    print(f"budget check {'FAILED' if result.failed else 'passed'} "
          f"({len(result.measurements)} board/model pairs, {result.seconds:.0f} s)")
    if result.failed:
        raise SystemExit(1)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "budget", help="check flash/RAM/model bytes/instructions against budgets.json (CI)",
        description="Builds the firmware for the budgets file's models on its emulated boards, "
        "measures flash, RAM, model bytes and instructions (emulated) per inference, prints a "
        "table and exits 1 on any budget excess or growth beyond the threshold against the "
        "baseline; 2 when it cannot measure.")
    p.add_argument("--budgets", type=Path, default=BUDGETS_FILE, help="budgets file (JSON)")
    p.add_argument("--baseline", type=Path, help="baseline file (default: as the budgets file says)")
    p.add_argument("--env", action="append", help="only this board (repeatable)")
    p.add_argument("--threshold", type=float, help="allowed growth over the baseline, percent")
    p.add_argument("--update-baseline", action="store_true",
                   help="store the measured figures as the new baseline (budgets still checked)")
    p.add_argument("--json", type=Path, help="write the results here (default build/budget/results.json)")
    p.add_argument("--jobs", type=int, default=DEFAULT_JOBS,
                   help="board/model pairs measured at a time (default: 2, or 1 on one core)")
    p.set_defaults(func=_cmd_budget)
