"""The pipeline's step commands: data, train, convert, inspect, evaluate, report, list, all."""

from __future__ import annotations

import argparse
from pathlib import Path

from tinyrnn.core.buildtree import ModelFolder, trained_models
from tinyrnn.core.experiment import CELLS, DEFAULT_SEEDS, MAIN_DATASET

DATASET_HELP = "watch, recall<T> or a path to an .npz (x, y, optional groups, class_names, description)"


def cells_arg(text: str) -> list[str]:
    """--cells lstm,gru: checked here so a typo fails before any training starts."""
    cells = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in cells if c not in CELLS]
    if not cells or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown cell {', '.join(unknown) or '(none given)'}; choose from {', '.join(CELLS)}")
    return cells


def seeds_arg(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"bad seed list {text!r}: give whole numbers separated by commas, e.g. 0,1,2") from None
    if not seeds or any(s < 0 for s in seeds):
        raise argparse.ArgumentTypeError(f"bad seed list {text!r}: give one or more seeds >= 0")
    return seeds


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def cmd_data(args: argparse.Namespace) -> None:
    import json

    from tinyrnn.train.sources import load_dataset

    print(json.dumps(load_dataset(args.dataset, seed=args.seed).summary(), indent=2))


def cmd_train(args: argparse.Namespace) -> None:
    from tinyrnn.pipeline import train_step

    train_step(args.dataset, args.cells, args.seeds, args.units, args.layers, args.epochs,
               args.build, args.force, patience=args.patience, init=args.init,
               max_steps=args.max_steps)


def _models(args: argparse.Namespace) -> list[Path]:
    found = trained_models(args.build, args.models or None)
    if not found:
        raise FileNotFoundError(f"no trained models under {args.build}; run `tinyrnn train`")
    return found


def cmd_convert(args: argparse.Namespace) -> None:
    from tinyrnn.convert.tflite_export import convert_model
    from tinyrnn.pipeline import c_arrays_step

    for d in _models(args):
        convert_model(d, force=args.force, probe_crashes=not args.no_crash_probe)
        for p in c_arrays_step(d):
            print(f"[c-array] {p}")


def cmd_inspect(args: argparse.Namespace) -> None:
    from tinyrnn.convert.card import build_card

    for d in _models(args):
        card = build_card(d)
        print(f"[card] {d.name}: {card['keras_params']} params, "
              f"{card.get('int8_weight_bytes', 'n/a')} int8 weight bytes, "
              f"{card['macs_per_inference']} MACs, TFLM arena "
              f"{card.get('int8_tflm_arena_bytes', 'n/a')} B")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from tinyrnn.measure.evaluate import evaluate_model

    for d in _models(args):
        evaluate_model(d, force=args.force)


def cmd_report(args: argparse.Namespace) -> None:
    from tinyrnn.report import write_report

    print(write_report(args.build))


def cmd_list(args: argparse.Namespace) -> None:
    for d in trained_models(args.build):
        m = ModelFolder(d)
        done = [p.name for p in (m.int8_tflite, m.int8_custom_tflite, m.card_json,
                                 m.evaluation_json) if p.is_file()]
        print(f"{d.name}: {', '.join(done) or 'trained only'}")


def cmd_all(args: argparse.Namespace) -> None:
    from tinyrnn.pipeline import run_all

    run_all(args.build, tuple(args.seeds), args.epochs, args.units, args.force,
            dataset=args.dataset, cells=tuple(args.cells), layers=args.layers)


def register(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    s = sub.add_parser("data", help="load and validate a data set, print its summary",
                       formatter_class=fmt)
    s.add_argument("--dataset", default=MAIN_DATASET, help=DATASET_HELP)
    s.add_argument("--seed", type=int, default=0, help="seed of the train/test split")
    s.set_defaults(func=cmd_data)

    def model_args(s: argparse.ArgumentParser, seeds: list[int]) -> None:
        s.add_argument("--dataset", default=MAIN_DATASET, help=DATASET_HELP)
        s.add_argument("--cells", type=cells_arg, default=list(CELLS),
                       help=f"comma-separated cells from {', '.join(CELLS)}")
        s.add_argument("--seeds", type=seeds_arg, default=seeds, help="comma-separated seeds")
        s.add_argument("--units", type=positive_int, default=32, help="units per recurrent layer")
        s.add_argument("--layers", type=positive_int, default=1, help="stacked recurrent layers")
        s.add_argument("--epochs", type=positive_int, default=None,
                       help="fixed epoch cap (None: from --max-steps and the data size)")
        s.add_argument("--force", action="store_true", help="redo finished steps")

    s = sub.add_parser("train", help="train classifiers (skips finished ones)", formatter_class=fmt)
    model_args(s, [0])
    s.add_argument("--max-steps", type=positive_int, default=None,
                   help="gradient-step budget (None: 1500); the batch adapts to tiny data")
    s.add_argument("--patience", type=positive_int, default=None,
                   help="early-stopping patience in epochs (None: ~400 steps)")
    s.add_argument("--init", choices=("default", "chrono"), default="default",
                   help="gate biases: Keras default, or chrono (Tallec & Ollivier 2018)")
    s.set_defaults(func=cmd_train)

    for name, func, text in (
        ("convert", cmd_convert, "float/int8 .tflite (child processes) and TFLM C arrays"),
        ("inspect", cmd_inspect, "model cards: params, bytes, ops, MACs, TFLM arena"),
        ("evaluate", cmd_evaluate, "accuracy and agreement of Keras, TFLite and TFLM"),
    ):
        s = sub.add_parser(name, help=text, formatter_class=fmt)
        s.add_argument("models", nargs="*", help="model names (default: all trained)")
        s.add_argument("--force", action="store_true", help="redo finished steps")
        if name == "convert":
            s.add_argument("--no-crash-probe", action="store_true",
                           help="skip int8 conversion of WHILE loops (crashes TF 2.21)")
        s.set_defaults(func=func)

    s = sub.add_parser("report", help="write <build>/report/report.md and plots")
    s.set_defaults(func=cmd_report)
    s = sub.add_parser("list", help="models in the build tree and their finished steps")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("all", help="the main job: train, convert, inspect, evaluate, device, report",
                       formatter_class=fmt)
    model_args(s, list(DEFAULT_SEEDS))
    s.set_defaults(func=cmd_all)
