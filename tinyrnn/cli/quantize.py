"""``tinyrnn quantize-rnn``: tinyrnn's own int8 GRU/SimpleRNN quantizer on trained model folders."""

from __future__ import annotations

import argparse
from pathlib import Path

from tinyrnn.convert.compile_folder import compile_model_folder
from tinyrnn.convert.rnn_quant import CUSTOM_GRU, CUSTOM_RNN, quantize_recurrent_model


def cmd_quantize(args: argparse.Namespace) -> int:
    from tinyrnn.pipeline import c_arrays_step

    for d in args.models:
        path = quantize_recurrent_model(Path(d), state_bits=args.state_bits)
        print(f"[rnn-int8] {path} ({path.stat().st_size} bytes)")
        for p in c_arrays_step(Path(d)):  # its TFLM C arrays, as `tinyrnn convert` writes them
            print(f"[c-array] {p}")
        if args.compile:
            print(compile_model_folder(Path(d)).one_line())
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "quantize-rnn", help="int8-quantize a trained GRU/SimpleRNN into a custom-op .tflite",
        description="Post-training int8 quantization of build/models/<name>/ (GRU or "
        "SimpleRNN) without TFLite's converter; writes int8_custom.tflite (custom ops "
        f"{CUSTOM_GRU}/{CUSTOM_RNN} + int8 FULLY_CONNECTED/SOFTMAX).")
    p.add_argument("models", nargs="+", help="model folders (with model.keras, calibration.npy)")
    p.add_argument("--state-bits", type=int, choices=(8, 16), default=16,
                   help="width of a GRU's recurrent state: 16 (default, TFLM-like accuracy) or 8 "
                   "(2 bytes less RAM per unit, less accurate); a SimpleRNN's state is int8 "
                   "either way")
    p.add_argument("--compile", action="store_true",
                   help="also compile it for the tinyrnn runtime into <model>/tinyrnn (as `tinyrnn compile`)")
    p.set_defaults(func=cmd_quantize)
