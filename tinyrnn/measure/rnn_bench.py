"""Benchmark of the int8 GRU / SimpleRNN path against the int8 LSTM, written as JSON.

For each trained model folder: Keras float test accuracy, int8 accuracy (numpy reference, equal
to the C on every byte), agreement int8 vs float, the custom-op .tflite size against its int8
payload, and the tinyrnn compile summary (weight bytes, RAM = arena + state, MACs). The GRU is
also run with the int8-state variant (state_bits=8) that the scheme rejected, to show why.
The LSTM goes through the pipeline's TFLite conversion (fused int8 LSTM) and the AOT compiler.

    python -m tinyrnn.measure.rnn_bench --gru DIR --rnn DIR [--gru-ra0 DIR] [--lstm DIR] \
        --data watch --out build/bench-rnn/watch-u32.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from tinyrnn.core.buildtree import ModelFolder
from tinyrnn.core.quantization import quantize


def _test_set(model_dir: Path, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    from tinyrnn.train.sources import load_dataset

    data = load_dataset(dataset, seed=0)
    norm = ModelFolder(model_dir).normalization()
    x = (data.x_test - np.array(norm["mean"])) / np.array(norm["std"])
    return x.astype(np.float32), data.y_test


def _summary_dict(s) -> dict:
    return {"weight_bytes": s.weight_bytes, "arena_bytes": s.arena_bytes,
            "state_bytes": s.state_bytes, "ram_bytes": s.ram_bytes, "macs": s.macs,
            "flash_estimate_bytes": s.flash_estimate_bytes}


def bench_recurrent(model_dir: Path, dataset: str, work: Path) -> dict:
    from tinyrnn.convert.aot import compile_model
    from tinyrnn.convert.aot.graph import read_tflite
    from tinyrnn.convert.aot.plan import lower
    from tinyrnn.convert.rnn_quant import _load_keras, quantize_model_dir, quantize_recurrent_model
    from tinyrnn.convert.rnn_reference import quantize_input, run_windows
    from tinyrnn.convert.rnn_tflite import to_tflite

    x, y = _test_set(model_dir, dataset)
    keras_pred = _load_keras(model_dir).predict(x, batch_size=256, verbose=0).argmax(1)
    path = quantize_recurrent_model(model_dir)
    plan = lower(read_tflite(path))
    out8 = run_windows(plan, quantize_input(plan, x))
    qm = quantize_model_dir(model_dir)
    payload = sum(np.asarray(a).nbytes for la in qm.layers
                  for a in (la.w_in, la.w_rec, la.b_in, la.b_rec) if a is not None)
    payload += qm.head.weights.nbytes + qm.head.bias.nbytes
    summary = compile_model(path, work / model_dir.name, name=model_dir.name)
    res = {
        "model": model_dir.name, "cell": qm.layers[0].cell,
        "reset_after": qm.layers[0].reset_after, "units": qm.layers[0].units,
        "test_windows": len(y),
        "float_accuracy": float(np.mean(keras_pred == y)),
        "int8_accuracy": float(np.mean(out8.argmax(1) == y)),
        "int8_vs_float_agreement": float(np.mean(out8.argmax(1) == keras_pred)),
        "tflite_bytes": path.stat().st_size, "tflite_int8_payload_bytes": int(payload),
        "tflite_overhead_bytes": path.stat().st_size - int(payload),
        "tinyrnn": _summary_dict(summary),
    }
    res["int8_minus_float_points"] = 100 * (res["int8_accuracy"] - res["float_accuracy"])
    if qm.layers[0].cell == "gru":
        plan8 = lower(read_tflite(to_tflite(quantize_model_dir(model_dir, state_bits=8))))
        o8 = run_windows(plan8, quantize_input(plan8, x))
        res["state_int8_variant"] = {
            "int8_accuracy": float(np.mean(o8.argmax(1) == y)),
            "int8_vs_float_agreement": float(np.mean(o8.argmax(1) == keras_pred)),
            "output_bytes_differing_from_int16_state": int(np.sum(o8 != out8)),
        }
    return res


def bench_lstm(model_dir: Path, dataset: str, work: Path) -> dict:
    from tinyrnn.convert.aot import compile_model
    from tinyrnn.convert.aot.hostbuild import HostModel
    from tinyrnn.convert.rnn_quant import _load_keras
    from tinyrnn.convert.tflite_export import convert_model

    x, y = _test_set(model_dir, dataset)
    tfl = ModelFolder(model_dir).int8_tflite
    if not tfl.is_file():
        convert_model(model_dir, probe_crashes=False)
    summary = compile_model(tfl, work / model_dir.name, name=model_dir.name)
    hm = HostModel(work / model_dir.name, work / "hostbuild")
    header = (work / model_dir.name / "tinyrnn_model.h").read_text()
    scale = float(header.split("TINYRNN_MODEL_INPUT_SCALE ")[1].split("f")[0])
    zp = int(header.split("TINYRNN_MODEL_INPUT_ZERO_POINT ")[1].split()[0])
    xq = quantize(x, scale, zp)
    out8 = np.stack([hm.invoke(w) for w in xq])
    keras_pred = _load_keras(model_dir).predict(x, batch_size=256, verbose=0).argmax(1)
    return {"model": model_dir.name, "cell": "lstm", "test_windows": len(y),
            "float_accuracy": float(np.mean(keras_pred == y)),
            "int8_accuracy": float(np.mean(out8.argmax(1) == y)),
            "int8_vs_float_agreement": float(np.mean(out8.argmax(1) == keras_pred)),
            "tflite_bytes": tfl.stat().st_size, "tinyrnn": _summary_dict(summary)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tinyrnn.measure.rnn_bench")
    p.add_argument("--gru", type=Path)
    p.add_argument("--gru-ra0", type=Path)
    p.add_argument("--rnn", type=Path)
    p.add_argument("--lstm", type=Path)
    p.add_argument("--data", default="watch")
    p.add_argument("--out", type=Path, default=Path("build/bench-rnn/watch-u32.json"))
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="rnn_bench_"))
    result: dict = {"dataset": args.data, "models": {}}
    for key in ("gru", "gru_ra0", "rnn"):
        d = getattr(args, key)
        if d is not None:
            result["models"][key] = bench_recurrent(d, args.data, work)
    if args.lstm is not None:
        result["models"]["lstm"] = bench_lstm(args.lstm, args.data, work)
    m = result["models"]
    if "lstm" in m and "gru" in m:
        lw, gw = m["lstm"]["tinyrnn"]["weight_bytes"], m["gru"]["tinyrnn"]["weight_bytes"]
        result["gru_vs_lstm"] = {
            "weight_bytes_ratio": gw / lw,
            "ram_bytes": [m["gru"]["tinyrnn"]["ram_bytes"], m["lstm"]["tinyrnn"]["ram_bytes"]],
            "macs_ratio": m["gru"]["tinyrnn"]["macs"] / m["lstm"]["tinyrnn"]["macs"],
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
