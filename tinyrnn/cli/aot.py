"""``tinyrnn compile`` and ``tinyrnn bench-aot``: tinyrnn C for a model folder or a .tflite file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tinyrnn.convert.aot.compiler import compile_model, sanitize_name
from tinyrnn.convert.aot.errors import AotError
from tinyrnn.convert.aot.symbols import DEFAULT_PREFIX
from tinyrnn.convert.compile_folder import compile_model_folder
from tinyrnn.core.buildtree import deployable_tflite


def _tflite(model: Path) -> Path:
    """A model folder's deployable int8 model, or the .tflite file itself."""
    if model.is_dir():
        found = deployable_tflite(model)
        if found is None:
            raise AotError(f"{model} has no int8_custom.tflite nor int8.tflite: run `tinyrnn "
                           "convert` (and `tinyrnn quantize-rnn` for a GRU or SimpleRNN) first")
        return found
    if not model.exists():
        raise AotError(f"{model} does not exist")
    return model


def cmd_compile(args: argparse.Namespace) -> int:
    model = Path(args.model)
    norm = json.loads(Path(args.normalization).read_text()) if args.normalization else None
    classes = [c.strip() for c in args.class_names.split(",")] if args.class_names else None
    out = Path(args.out) if args.out else None
    if model.is_dir():
        summary = compile_model_folder(model, out, args.name, norm, classes,
                                       symbol_prefix=args.prefix)
    else:
        tflite = _tflite(model)
        summary = compile_model(tflite, out or tflite.with_name(tflite.stem + "_tinyrnn"),
                                name=args.name or sanitize_name(tflite.stem),
                                normalization=norm, class_names=classes,
                                symbol_prefix=args.prefix)
    print(summary.one_line())
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from tinyrnn.measure.aot_bench import bench_aot

    result = bench_aot(_tflite(Path(args.model)), Path(args.json) if args.json else None,
                       work_dir=Path(args.work_dir), iterations=args.iterations, device=args.device)
    print(json.dumps(result["summary"], indent=2))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compile", help="compile a model's deployable int8 .tflite into C for the tinyrnn runtime",
        description="Compile build/models/<name>/ (its deployable int8 model: int8_custom.tflite "
        "for GRU/SimpleRNN, int8.tflite for LSTM; normalization.json, config.json) or a .tflite "
        "file into <prefix>.h/.c (tinyrnn_model.h/.c by default); prints arena, flash estimate "
        "and MACs.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("model", help="model folder or a .tflite file")
    p.add_argument("--out", help="output folder (default: <model dir>/tinyrnn)")
    p.add_argument("--name", help="model name in the generated header (default: folder name)")
    p.add_argument("--normalization", help="JSON file with {'mean': [...], 'std': [...]}")
    p.add_argument("--class-names", help="comma-separated class names")
    p.add_argument("--prefix", default=DEFAULT_PREFIX,
                   help="symbol prefix of every external name of the generated model (and its "
                   "file names): give each model of one program its own, e.g. gesture_model")
    p.set_defaults(func=cmd_compile)

    b = subparsers.add_parser(
        "bench-aot", help="compare a compiled model with TFLite Micro (RAM, code size, speed)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    b.add_argument("model", help="model folder or a .tflite file")
    b.add_argument("--json", help="write the result here (default: print only)")
    b.add_argument("--work-dir", default="build/bench-aot", help="scratch folder for builds")
    b.add_argument("--iterations", type=int, default=200)
    b.add_argument("--device", action="store_true",
                   help="also count instructions per inference on the emulated Cortex-M4 (QEMU)")
    b.set_defaults(func=cmd_bench)
