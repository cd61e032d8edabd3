"""``tinyrnn sweep``: a grid or a budget-constrained search over cells and sizes, with Optuna.

    tinyrnn sweep                           # the reduced frontier (what the main job runs)
    tinyrnn sweep --preset frontier         # the full frontier: 8-64 units, 5 seeds, 2 data sets
    tinyrnn sweep --preset memory           # delayed recall 20-160 steps, default vs chrono init
    tinyrnn sweep --datasets vowels --cells gru,lstm --units 8,16 --seeds 0,1
    tinyrnn sweep --datasets watch --units 8,16,32,64 --max-flash 20000 --max-ram 9500 \\
        --max-instructions 500000 --board mps2-an386     # most accurate model under a budget
    tinyrnn sweep --preset frontier --storage postgresql://user@host/sweeps   # many machines

Interrupted sweeps resume where they stopped: rerun the same command.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def _csv(kind):
    return lambda s: [kind(v) for v in s.split(",") if v]


def plan_from_args(args: argparse.Namespace):
    from tinyrnn.sweep.space import PRESETS, grid, preset_specs, specs_digest
    from tinyrnn.sweep.study import SweepPlan

    custom = any(getattr(args, k) is not None for k in ("datasets", "cells", "units", "seeds"))
    if custom:
        specs = grid(args.datasets or ["watch"], args.cells or ["lstm", "gru", "rnn"],
                     args.units or [32], args.seeds or [0], layers=args.layers or [1],
                     inits=args.inits or ["default"])
        measure = not args.no_costs
        name = args.study or f"grid-{specs_digest(specs)}"
    else:
        preset = args.preset or "reduced"
        specs = preset_specs(preset)
        measure = PRESETS[preset]["costs"] and not args.no_costs
        name = args.study or preset
    limits = {"flash_bytes": args.max_flash, "firmware_ram_bytes": args.max_ram,
              "instructions": args.max_instructions}
    if any(v is not None for v in limits.values()):
        name = args.study or f"{name}-budget-{specs_digest(specs)}-" + "-".join(
            str(v) for v in limits.values())
    return SweepPlan(study=name, specs=specs, measure_costs=measure, board=args.board,
                     max_steps=args.max_steps, limits=limits, n_trials=args.trials)


def cmd_sweep(args: argparse.Namespace) -> int:
    from tinyrnn.sweep.study import run_sweep

    plan = plan_from_args(args)
    out = run_sweep(plan, args.build, workers=args.workers, url=args.storage)
    print(f"[sweep] {out.study}: {out.complete}/{out.total} trials complete, {out.failed} failed,"
          f" {out.seconds:.0f} s")
    if out.best:
        c = out.best.get("costs") or {}
        print(f"[sweep] best: {out.best['model']}: int8 accuracy {out.best['int8_accuracy']:.4f}"
              + (f", flash {c['flash_bytes']:,} B, RAM {c['firmware_ram_bytes']:,} B, "
                 f"{c['instructions']:,} instructions (emulated) on {c['board']}" if c else ""))
    return 0 if out.complete == out.total else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    from tinyrnn.sweep.costs import DEFAULT_BOARD
    from tinyrnn.sweep.space import PRESETS

    p = subparsers.add_parser(
        "sweep", help="cost-accuracy sweep over cells and sizes (Optuna; resumable, parallel)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=list(PRESETS),
                   help="; ".join(f"{k}: {v['about']}" for k, v in PRESETS.items()))
    p.add_argument("--datasets", type=_csv(str), help="custom grid: data sets (watch, vowels, "
                   "recall<T>)")
    p.add_argument("--cells", type=_csv(str), help="custom grid: lstm,gru,rnn")
    p.add_argument("--units", type=_csv(int), help="custom grid: units, e.g. 8,16,32")
    p.add_argument("--layers", type=_csv(int), help="custom grid: stacked layers (default 1)")
    p.add_argument("--seeds", type=_csv(int), help="custom grid: seeds (default 0)")
    p.add_argument("--inits", type=_csv(str), help="custom grid: default,chrono")
    p.add_argument("--max-steps", type=int, help="gradient-step budget per model")
    p.add_argument("--board", default=DEFAULT_BOARD, help="emulated board for the costs")
    p.add_argument("--max-flash", type=int, help="budget: firmware flash bytes on the board")
    p.add_argument("--max-ram", type=int, help="budget: firmware RAM bytes (8 KB stack included)")
    p.add_argument("--max-instructions", type=int,
                   help="budget: instructions (emulated) per inference")
    p.add_argument("--trials", type=int,
                   help="search: this many trials sampled by Optuna (TPE) among the candidates "
                        "that fit the budget, instead of all of them")
    p.add_argument("--no-costs", action="store_true", help="skip the device cost measurement")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                   help="local worker processes (default: up to 2)")
    p.add_argument("--storage", help="Optuna RDB URL shared by several machines (default: a "
                   "journal file under build/sweep/)")
    p.add_argument("--study", help="study name (default: from the preset or grid)")
    p.set_defaults(func=cmd_sweep)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tinyrnn-sweep")
    p.add_argument("--build", type=Path, default=Path("build"))
    sub = p.add_subparsers(dest="command", required=True)
    register(sub)
    args = p.parse_args(["sweep", *(argv or [])])
    return args.func(args)
