"""``tinyrnn export arduino``: a model (or several) as an Arduino library zip."""

from __future__ import annotations

import argparse
from pathlib import Path

from tinyrnn.convert.export_arduino import DEFAULT_URL, export_arduino


def cmd_arduino(args: argparse.Namespace) -> int:
    prefixes = [p.strip() for p in args.prefix.split(",")] if args.prefix else None
    result = export_arduino(args.models, Path(args.out) if args.out else None,
                            root=args.build, prefixes=prefixes, name=args.name, url=args.url)
    print(result.one_line())
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export", help="package compiled models for other build systems",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sub = p.add_subparsers(dest="target", required=True, metavar="TARGET")
    a = sub.add_parser(
        "arduino", help="write an Arduino library zip: runtime, model(s), example sketch",
        description="Compile each MODEL's deployable int8 model with its own symbol prefix and "
        "write an Arduino library (.zip, library.properties, src/ = the tinyrnn runtime and the "
        "models, examples/Classify/Classify.ino). Install it with Sketch > Include Library > Add "
        ".ZIP Library. docs/c-library.md has the details.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    a.add_argument("models", nargs="+", metavar="MODEL",
                   help="model folder, or model name under <build>/models/")
    a.add_argument("--out", help="zip to write (default: ./<library name>.zip)")
    a.add_argument("--prefix", help="comma-separated symbol prefixes, one per MODEL (default: "
                   "from each model's name, e.g. watch_lstm_u32_s0)")
    a.add_argument("--name", help="library name (default: tinyrnn_<prefix>, or tinyrnn_models "
                   "for several models)")
    a.add_argument("--url", default=DEFAULT_URL, help="url field of library.properties")
    a.set_defaults(func=cmd_arduino)
