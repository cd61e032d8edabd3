"""Host evaluation: the same test windows through every runtime, and how far they agree.

Runtimes: Keras float, TFLite float and int8 (ai-edge-litert), and TFLM int8 (tflite-micro, the
interpreter firmware runs). Accuracy, per-class recall and confusion per runtime; predicted-class
agreement per pair; and for the two int8 runtimes the largest output difference in LSB.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from pathlib import Path

import numpy as np

from tinyrnn.convert.runtimes import run_litert, run_tflm, run_tinyrnn
from tinyrnn.core.buildtree import ModelFolder, read_json, write_json
from tinyrnn.train.dataset import Dataset
from tinyrnn.train.normalization import Normalization
from tinyrnn.train.sources import load_dataset

# The minimum arena was measured with an invoke; the margin only guards the 16-byte rounding.
ARENA_MARGIN = 256


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> dict:
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    support = confusion.sum(axis=1)
    recall = np.divide(np.diag(confusion), support, out=np.zeros(num_classes),
                       where=support > 0)
    return {
        "accuracy": float(np.mean(y_true == y_pred)),
        "per_class_recall": [round(float(r), 4) for r in recall],
        "confusion": confusion.tolist(),
    }


def compare_runtimes(preds: dict[str, np.ndarray], y: np.ndarray | None, num_classes: int
                     ) -> dict:
    """Accuracy per runtime (when labels are given) and predicted-class agreement per pair."""
    out: dict = {"agreement": {f"{a}~{b}": float(np.mean(preds[a] == preds[b]))
                               for a, b in itertools.combinations(preds, 2)}}
    if y is not None:
        out["runtimes"] = {name: classification_metrics(y, p, num_classes)
                           for name, p in preds.items()}
    return out


def _hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


def evaluate_model(model_dir: Path, data: Dataset | None = None, force: bool = False) -> dict:
    from tinyrnn.train.fit import load_model

    model_dir = Path(model_dir)
    folder = ModelFolder(model_dir)
    cfg = folder.config()
    card = read_json(folder.card_json)
    out_path = folder.evaluation_json
    inputs = (folder.keras, folder.float_tflite, folder.int8_tflite, folder.int8_custom_tflite,
              folder.tinyrnn_dir / "tinyrnn_model.c")
    inputs_key = {p.relative_to(model_dir).as_posix(): _hash(p) for p in inputs}
    if not force and out_path.is_file() and read_json(out_path).get("inputs") == inputs_key:
        print(f"[evaluate] {model_dir.name}: up to date, skipping")
        return read_json(out_path)
    if data is None:
        data = load_dataset(cfg["train"]["dataset"], seed=cfg["train"]["seed"])
    norm = Normalization.from_json(folder.normalization())
    x = norm.apply(data.x_test)
    y = data.y_test
    k = data.num_classes

    def progress(name: str):
        return lambda i, n: print(f"[evaluate] {model_dir.name}: {name} {i}/{n}", flush=True)

    outputs: dict[str, dict] = {}
    timings: dict[str, float] = {}
    t = time.monotonic()
    probs = load_model(model_dir).predict(x, batch_size=256, verbose=0)
    timings["keras_float"] = time.monotonic() - t
    outputs["keras_float"] = {"probs": probs}
    variants = card["variants"]
    if variants.get("float", {}).get("status") == "ok":
        t = time.monotonic()
        r = run_litert(folder.float_tflite, x, progress("tflite_float"))
        timings["tflite_float"] = time.monotonic() - t
        outputs["tflite_float"] = {"probs": r.probs}
    int8 = variants.get("int8", {})
    if int8.get("status") == "ok":
        t = time.monotonic()
        r = run_litert(folder.int8_tflite, x, progress("tflite_int8"))
        timings["tflite_int8"] = time.monotonic() - t
        outputs["tflite_int8"] = {"probs": r.probs, "raw": r.raw}
        arena = int8.get("tflm_arena", {}).get("arena_bytes")
        if arena:
            t = time.monotonic()
            r = run_tflm(folder.int8_tflite, x, arena + ARENA_MARGIN, progress("tflm_int8"))
            timings["tflm_int8"] = time.monotonic() - t
            outputs["tflm_int8"] = {"probs": r.probs, "raw": r.raw}

    c_dir = folder.tinyrnn_dir
    if (c_dir / "summary.json").is_file():
        t = time.monotonic()
        r = run_tinyrnn(c_dir, x, folder.host_build_dir,
                        progress("tinyrnn_int8"))
        timings["tinyrnn_int8"] = time.monotonic() - t
        outputs["tinyrnn_int8"] = {"probs": r.probs, "raw": r.raw}

    preds = {name: np.argmax(o["probs"], axis=1) for name, o in outputs.items()}
    result: dict = {
        "model": model_dir.name,
        "cell": cfg["train"]["cell"],
        "seed": cfg["train"]["seed"],
        "test_windows": len(y),
        "inputs": inputs_key,
        "class_names": data.class_names,
        **compare_runtimes(preds, y, k),
    }
    for name, t in timings.items():
        result["runtimes"][name]["seconds"] = round(t, 2)
    if "tflite_int8" in outputs and "tflm_int8" in outputs:
        diff = np.abs(outputs["tflite_int8"]["raw"].astype(np.int32)
                      - outputs["tflm_int8"]["raw"].astype(np.int32))
        result["int8_lsb_difference"] = {
            "pair": "tflite_int8 vs tflm_int8",
            "max_lsb": int(diff.max()),
            "windows_differing": float(np.mean(diff.max(axis=1) > 0)),
        }
    if "tflm_int8" in outputs and "tinyrnn_int8" in outputs and cfg["train"]["cell"] == "lstm":
        same = outputs["tflm_int8"]["raw"] == outputs["tinyrnn_int8"]["raw"]
        result["tinyrnn_vs_tflm"] = {"windows_identical": float(np.mean(same.all(axis=1)))}
    acc = result["runtimes"]
    # The deployable int8 model: TFLM's for the fused LSTM; ours for GRU/RNN (TF has none).
    deployed = "tinyrnn_int8" if "tinyrnn_int8" in acc else "tflm_int8"
    if deployed in acc:
        result["deployed_int8_runtime"] = deployed
        result["int8_minus_float_points"] = round(
            100 * (acc[deployed]["accuracy"] - acc["keras_float"]["accuracy"]), 2)
    write_json(out_path, result)
    summary = ", ".join(f"{n} {m['accuracy']:.4f}" for n, m in acc.items())
    print(f"[evaluate] {model_dir.name}: {summary}")
    return result
