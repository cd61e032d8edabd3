"""Model card: what one trained model costs, in one JSON file per model."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from tinyrnn.convert.arena import measure_arena
from tinyrnn.convert.keras_model import FloatModel
from tinyrnn.convert.tflite_info import inspect_file, structure_key
from tinyrnn.core.buildtree import ModelFolder, deployable_tflite, read_json, write_json
from tinyrnn.train.models import classifier_macs, classifier_params, recurrent_macs

ARENA_CACHE = "arena-cache.json"


def _arena(model_dir: Path, tflite: Path) -> dict:
    """TFLM arena of the int8 model; seeds of one architecture share a measurement.

    Bisection in child processes costs seconds per probe on the ~1 MB unrolled graphs, and the
    arena depends only on the graph's structure (see structure_key), so it is cached by that.
    """
    cache_path = model_dir.parent / ARENA_CACHE
    cache = read_json(cache_path) if cache_path.is_file() else {}
    key = structure_key(tflite.read_bytes())
    if key in cache:
        return {**cache[key], "reused_from": cache[key].get("measured_on")}
    print(f"[card] {model_dir.name}: measuring TFLM arena for {tflite.name} ...", flush=True)
    try:
        arena = {**measure_arena(tflite), "measured_on": model_dir.name}
    except RuntimeError as e:
        return {"error": str(e)}
    cache[key] = arena
    write_json(cache_path, cache)
    return arena


def tflite_entry(path: Path, graph: str) -> dict:
    """A card's record of one int8 .tflite: bytes, ops, constant bytes, input/output quantization."""
    info = inspect_file(path)
    return {"status": "ok", "quantize": "int8", "unroll": False, "file": path.name,
            "tflite_bytes": info.bytes, "graph": graph, "ops": info.op_counts,
            "tensors": info.tensors, "constant_bytes_by_dtype": info.constant_bytes_by_dtype,
            "input": asdict(info.inputs[0]), "output": asdict(info.outputs[0])}


def keras_model_card(model_dir: Path, fm: FloatModel, *, name: str, graph: str,
                     tflm_arena: bool = True) -> dict:
    """card.json for a user's Keras model exported by the Python API (tinyrnn/api.py).

    Same keys as build_card where the facts exist (no training config, metrics or conversion
    attempts here); units are per layer because a user's stack need not be uniform."""
    model_dir = Path(model_dir)
    chosen = deployable_tflite(model_dir)
    if chosen is None:
        raise FileNotFoundError(f"{model_dir} has no int8 model to describe")
    entry = tflite_entry(chosen, graph)
    inputs = [fm.channels] + [la.units for la in fm.layers[:-1]]
    card: dict = {
        "model": name,
        "source": fm.keras,
        "cell": fm.cell,
        "units": [la.units for la in fm.layers],
        "layers": len(fm.layers),
        "reset_after": [la.reset_after for la in fm.layers] if fm.cell == "gru" else None,
        "steps": fm.steps,
        "channels": fm.channels,
        "num_classes": fm.num_classes,
        "softmax": fm.softmax,
        "keras_params": fm.params,
        "float_weight_bytes": 4 * fm.params,
        "macs_per_inference": sum(recurrent_macs(fm.cell, la.units, n, fm.steps)
                                  for la, n in zip(fm.layers, inputs, strict=True))
        + fm.layers[-1].units * fm.num_classes,
        "variants": {chosen.stem: entry},
        "deployable_int8": chosen.name,
        "int8_tflite_bytes": entry["tflite_bytes"],
        "int8_weight_bytes": entry["constant_bytes_by_dtype"].get("INT8", 0),
    }
    if fm.cell != "lstm":
        # TFLM's Python interpreter has no TINYRNN_GRU/RNN kernels (the firmware registers them).
        card["int8_tflm_arena_note"] = "not measured on the host: custom ops"
    elif tflm_arena:
        try:
            card["int8_tflm_arena_bytes"] = measure_arena(chosen)["arena_bytes"]
        except RuntimeError as e:
            card["int8_tflm_arena_error"] = str(e).splitlines()[0]
    summary = ModelFolder(model_dir).tinyrnn_dir / "summary.json"
    if summary.is_file():
        card["tinyrnn"] = read_json(summary)
    write_json(ModelFolder(model_dir).card_json, card)
    return card


def build_card(model_dir: Path) -> dict:
    model_dir = Path(model_dir)
    folder = ModelFolder(model_dir)
    cfg = folder.config()
    metrics = folder.metrics()
    conversion = read_json(folder.conversion_json)
    t = cfg["train"]
    shape = (t["units"], t["layers"], cfg["steps"], cfg["channels"], cfg["num_classes"])
    formula = classifier_params(t["cell"], t["units"], t["layers"], cfg["channels"],
                                cfg["num_classes"])
    card: dict = {
        "model": model_dir.name,
        "cell": t["cell"],
        "units": t["units"],
        "layers": t["layers"],
        "steps": cfg["steps"],
        "channels": cfg["channels"],
        "num_classes": cfg["num_classes"],
        "seed": t["seed"],
        "dataset": cfg["dataset"]["name"],
        "keras_params": metrics["keras_params"],
        "formula_params": formula,
        "params_match_formula": metrics["keras_params"] == formula,
        "float_weight_bytes": 4 * metrics["keras_params"],
        "macs_per_inference": classifier_macs(t["cell"], shape[0], shape[1], shape[2], shape[3],
                                              shape[4]),
        "variants": {},
    }
    for key, v in conversion["variants"].items():
        entry = {k: v[k] for k in ("status", "quantize", "unroll") if k in v}
        if v["status"] == "ok":
            entry.update(
                file=v["file"], tflite_bytes=v["bytes"], graph=v["graph"], ops=v["op_counts"],
                tensors=v["tensors"], constant_bytes_by_dtype=v["constant_bytes_by_dtype"],
                input=v["inputs"][0], output=v["outputs"][0],
            )
            if key == "int8":
                entry["tflm_arena"] = _arena(model_dir, model_dir / v["file"])
        else:
            entry["error"] = v.get("error", "")
        card["variants"][key] = entry
    custom = folder.int8_custom_tflite
    if custom.is_file():
        card["variants"]["int8_custom"] = tflite_entry(custom, "custom op (tinyrnn quantizer)")
    summary = folder.tinyrnn_dir / "summary.json"
    if summary.is_file():
        card["tinyrnn"] = read_json(summary)
    int8 = card["variants"].get("int8", {})
    if int8.get("status") == "ok":
        card["tf_int8_weight_bytes"] = int8["constant_bytes_by_dtype"].get("INT8", 0)
        card["tf_int8_tflite_bytes"] = int8["tflite_bytes"]
        card["int8_tflm_arena_bytes"] = int8.get("tflm_arena", {}).get("arena_bytes")
    # The deployable int8 model by the one rule (tinyrnn.core.buildtree.deployable_tflite).
    chosen = deployable_tflite(model_dir)
    deployable = next((v for v in card["variants"].values()
                       if chosen is not None and v.get("file") == chosen.name), None)
    if deployable:
        card["int8_weight_bytes"] = deployable["constant_bytes_by_dtype"].get("INT8", 0)
        card["int8_tflite_bytes"] = deployable["tflite_bytes"]
        card["deployable_int8"] = deployable["file"]
    write_json(folder.card_json, card)
    return card
