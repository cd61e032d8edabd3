"""argparse subcommands: ``compile`` and ``bench-aot`` (wired into tinyrnn's CLI by register)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .compiler import compile_model, sanitize_name
from .errors import AotError


def _resolve(model: Path) -> tuple[Path, Path, str, dict | None, list[str] | None]:
    """Model dir (build/models/<name>/) or .tflite -> (tflite, out, name, norm, classes)."""
    if model.is_dir():
        tflite = model / "int8.tflite"
        if not tflite.exists():
            raise AotError(f"{model} has no int8.tflite (train and convert the model first)")
        norm = None
        if (model / "normalization.json").exists():
            norm = json.loads((model / "normalization.json").read_text())
        classes = None
        if (model / "config.json").exists():
            classes = json.loads((model / "config.json").read_text()).get("class_names")
        return tflite, model / "tinyrnn", sanitize_name(model.name), norm, classes
    if not model.exists():
        raise AotError(f"{model} does not exist")
    return model, model.with_name(model.stem + "_tinyrnn"), sanitize_name(model.stem), None, None


def cmd_compile(args: argparse.Namespace) -> int:
    try:
        tflite, out, name, norm, classes = _resolve(Path(args.model))
        if args.normalization:
            norm = json.loads(Path(args.normalization).read_text())
        if args.class_names:
            classes = [c.strip() for c in args.class_names.split(",")]
        summary = compile_model(tflite, Path(args.out) if args.out else out,
                                name=args.name or name, normalization=norm, class_names=classes)
    except (AotError, OSError, ValueError) as exc:
        print(f"tinyrnn compile: error: {exc}", file=sys.stderr)
        return 2
    print(summary.one_line())
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import bench_aot

    try:
        tflite, _out, _name, _norm, _classes = _resolve(Path(args.model))
        result = bench_aot(tflite, Path(args.json) if args.json else None,
                           work_dir=Path(args.work_dir), iterations=args.iterations,
                           device=args.device)
    except (AotError, OSError) as exc:
        print(f"tinyrnn bench-aot: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result["summary"], indent=2))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compile", help="compile an int8 LSTM .tflite into C for the tinyrnn runtime",
        description="Compile build/models/<name>/ (int8.tflite, normalization.json, config.json) "
        "or a .tflite file into tinyrnn_model.h/.c; prints arena, flash estimate and MACs.",
    )
    p.add_argument("model", help="model folder (with int8.tflite) or a .tflite file")
    p.add_argument("--out", help="output folder (default: <model dir>/tinyrnn)")
    p.add_argument("--name", help="model name in the generated header")
    p.add_argument("--normalization", help="JSON file with {'mean': [...], 'std': [...]}")
    p.add_argument("--class-names", help="comma-separated class names")
    p.set_defaults(func=cmd_compile)

    b = subparsers.add_parser(
        "bench-aot", help="compare a compiled model with TFLite Micro (RAM, code size, speed)",
    )
    b.add_argument("model", help="model folder (with int8.tflite) or a .tflite file")
    b.add_argument("--json", help="write the result here (default: print only)")
    b.add_argument("--work-dir", default="build/bench-aot", help="scratch folder for builds")
    b.add_argument("--iterations", type=int, default=200)
    b.add_argument("--device", action="store_true",
                   help="also count instructions per inference on the emulated Cortex-M4 (QEMU)")
    b.set_defaults(func=cmd_bench)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m convert.aot")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))
