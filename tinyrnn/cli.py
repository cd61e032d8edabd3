"""``tinyrnn``: one entry point, a subcommand per step, and ``all`` for the whole main job."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Subcommands contributed by the device-side packages, when present.
EXTENSIONS = ("convert.aot.cli", "convert.rnn_quant", "deploy.cli", "tinyrnn.sweep.cli")


def _csv(kind):
    return lambda s: [kind(v) for v in s.split(",") if v]


def cmd_data(args: argparse.Namespace) -> None:
    import json

    from train.sources import load_dataset

    print(json.dumps(load_dataset(args.dataset, seed=args.seed).summary(), indent=2))


def cmd_train(args: argparse.Namespace) -> None:
    from tinyrnn.pipeline import train_step

    train_step(args.dataset, args.cells, args.seeds, args.units, args.layers, args.epochs,
               args.build, args.force, patience=args.patience, init=args.init,
               max_steps=args.max_steps)


def _models(args: argparse.Namespace) -> list[Path]:
    from tinyrnn.pipeline import trained_models

    found = trained_models(args.build, args.models or None)
    if not found:
        raise FileNotFoundError(f"no trained models under {args.build}; run `tinyrnn train`")
    return found


def cmd_convert(args: argparse.Namespace) -> None:
    from convert.tflite_export import convert_model
    from tinyrnn.pipeline import c_arrays_step

    for d in _models(args):
        convert_model(d, force=args.force, probe_crashes=not args.no_crash_probe)
        for p in c_arrays_step(d):
            print(f"[c-array] {p}")


def cmd_inspect(args: argparse.Namespace) -> None:
    from convert.card import build_card

    for d in _models(args):
        card = build_card(d)
        print(f"[card] {d.name}: {card['keras_params']} params, "
              f"{card.get('int8_weight_bytes', 'n/a')} int8 weight bytes, "
              f"{card['macs_per_inference']} MACs, TFLM arena "
              f"{card.get('int8_tflm_arena_bytes', 'n/a')} B")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from tinyrnn.evaluate import evaluate_model

    for d in _models(args):
        evaluate_model(d, force=args.force)


def cmd_report(args: argparse.Namespace) -> None:
    from tinyrnn.report import write_report

    print(write_report(args.build))


def cmd_list(args: argparse.Namespace) -> None:
    from tinyrnn.pipeline import trained_models

    for d in trained_models(args.build):
        done = [f for f in ("int8.tflite", "card.json", "evaluation.json") if (d / f).is_file()]
        print(f"{d.name}: {', '.join(done) or 'trained only'}")


def cmd_all(args: argparse.Namespace) -> None:
    from tinyrnn.pipeline import run_all

    run_all(args.build, tuple(args.seeds), args.epochs, args.units, args.force)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tinyrnn", description=__doc__)
    p.add_argument("--build", type=Path, default=Path(os.environ.get("TINYRNN_BUILD", "build")),
                   help="build tree root (default: build/)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("data", help="load and validate a data set, print its summary")
    s.add_argument("--dataset", default="watch", help="watch, recall<T> or a path to an .npz")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_data)

    s = sub.add_parser("train", help="train classifiers (skips finished ones)")
    s.add_argument("--dataset", default="watch", help="watch, recall<T> or a path to an .npz")
    s.add_argument("--cells", type=_csv(str), default=["lstm", "gru", "rnn"])
    s.add_argument("--seeds", type=_csv(int), default=[0])
    s.add_argument("--units", type=int, default=32)
    s.add_argument("--layers", type=int, default=1)
    s.add_argument("--epochs", type=int, default=None,
                   help="fixed epoch cap (default: from --max-steps and the data size)")
    s.add_argument("--max-steps", type=int, default=None,
                   help="gradient-step budget (default 1500); batch adapts to tiny data")
    s.add_argument("--patience", type=int, default=None,
                   help="early-stopping patience in epochs (default: ~400 steps)")
    s.add_argument("--init", choices=("default", "chrono"), default="default",
                   help="gate biases: Keras default, or chrono (Tallec & Ollivier 2018)")
    s.add_argument("--force", action="store_true", help="retrain even if finished")
    s.set_defaults(func=cmd_train)

    for name, func, text in (
        ("convert", cmd_convert, "float/int8 .tflite (child processes) and TFLM C arrays"),
        ("inspect", cmd_inspect, "model cards: params, bytes, ops, MACs, TFLM arena"),
        ("evaluate", cmd_evaluate, "accuracy and agreement of Keras, TFLite and TFLM"),
    ):
        s = sub.add_parser(name, help=text)
        s.add_argument("models", nargs="*", help="model names (default: all trained)")
        s.add_argument("--force", action="store_true")
        if name == "convert":
            s.add_argument("--no-crash-probe", action="store_true",
                           help="skip int8 conversion of WHILE loops (crashes TF 2.21)")
        s.set_defaults(func=func)

    s = sub.add_parser("report", help="write build/report/report.md and plots")
    s.set_defaults(func=cmd_report)
    s = sub.add_parser("list", help="models in the build tree and their finished steps")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("all", help="the main job: train, convert, inspect, evaluate, report")
    s.add_argument("--seeds", type=_csv(int), default=[0, 1, 2])
    s.add_argument("--epochs", type=int, default=None)
    s.add_argument("--units", type=int, default=32)
    s.add_argument("--force", action="store_true")
    s.set_defaults(func=cmd_all)

    for module in EXTENSIONS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name and module.startswith(e.name):
                continue
            raise
        mod.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        # Steps report failure by raising; extension commands may also return an exit code.
        code = args.func(args)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"tinyrnn {args.command}: error: {e}", file=sys.stderr)
        return 1
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
