"""One sweep trial: train (or reuse) the model, make its deployable int8 form, compile it to
tinyrnn C, measure int8 accuracy through that C on the host (bit-exact with the device), and
attach the device costs of its shape. The result is written beside the model (sweep.json), so
a rerun, another study or the report reads it without Optuna."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from tinyrnn.core.buildtree import BuildTree, ModelFolder, read_json, write_json
from tinyrnn.sweep.costs import DEFAULT_BOARD, Shape, shape_costs
from tinyrnn.sweep.space import RECALL_LEARNING_RATE, RECALL_MAX_STEPS, TrialSpec

RESULT_VERSION = 1


class TrialError(RuntimeError):
    """A trial could not produce a deployable, evaluated model."""


def train_config(spec: TrialSpec, max_steps: int | None = None):
    from tinyrnn.train.fit import TrainConfig

    extra: dict = {}
    if spec.is_recall:
        steps = max_steps or RECALL_MAX_STEPS
        extra = {"learning_rate": RECALL_LEARNING_RATE, "max_steps": steps,
                 "patience_steps": steps}
    elif max_steps:
        extra = {"max_steps": max_steps}
    return TrainConfig(dataset=spec.dataset, cell=spec.cell, units=spec.units,
                       layers=spec.layers, seed=spec.seed, init=spec.init, **extra)


def _int8_tflite(mdir: Path, cell: str) -> Path:
    """Fused int8 LSTM from TF's converter (child process); our int8 GRU/RNN otherwise."""
    from tinyrnn.convert.isolate import run_isolated
    from tinyrnn.convert.rnn_quant import quantize_model_folder

    if cell != "lstm":
        path = quantize_model_folder(mdir)
        if path is None:
            raise TrialError(f"{mdir.name}: no int8 model")
        return path
    folder = ModelFolder(mdir)
    out = folder.int8_tflite
    if out.is_file() and out.stat().st_mtime >= folder.keras.stat().st_mtime:
        return out
    res = run_isolated("tinyrnn.convert.tflite_export:convert_job", timeout=900, model_dir=str(mdir),
                       out_path=str(out), quantize="int8", unroll=False)
    if not res.ok:
        raise TrialError(f"{mdir.name}: int8 conversion failed: {res.error.splitlines()[0]}")
    return out


def int8_accuracy(mdir: Path, data) -> float:
    from tinyrnn.convert.aot.compiler import compile_model
    from tinyrnn.convert.runtimes import run_tinyrnn
    from tinyrnn.train.normalization import Normalization

    folder = ModelFolder(mdir)
    cfg = folder.config()
    tflite = _int8_tflite(mdir, cfg["train"]["cell"])
    c_dir = folder.tinyrnn_dir
    compile_model(tflite, c_dir, name=mdir.name, normalization=folder.normalization(),
                  class_names=cfg["class_names"])
    norm = Normalization.from_json(folder.normalization())
    out = run_tinyrnn(c_dir, norm.apply(data.x_test), folder.host_build_dir)
    return float(np.mean(np.argmax(out.probs, axis=1) == data.y_test))


def run_trial(spec: TrialSpec, root: Path, *, measure_costs: bool = True,
              board: str = DEFAULT_BOARD, max_steps: int | None = None, verbose: int = 0) -> dict:
    """Train/quantize/evaluate/cost one spec; reuses a finished result for the same config."""
    from tinyrnn.train.fit import is_trained, train
    from tinyrnn.train.sources import load_dataset

    cfg = train_config(spec, max_steps)
    folder = BuildTree(root).model(cfg.name)
    mdir = folder.path
    result_path = folder.sweep_json
    if result_path.is_file() and is_trained(mdir, cfg):
        old = read_json(result_path)
        if (old.get("version") == RESULT_VERSION and old.get("train") == cfg.to_json()
                and (not measure_costs or old.get("costs", {}).get("board") == board)):
            return old
    start = time.monotonic()
    data = load_dataset(spec.dataset, seed=spec.seed)
    train(cfg, data, root=root, verbose=verbose)
    metrics = folder.metrics()
    config = folder.config()
    acc8 = int8_accuracy(mdir, data)
    costs = None
    if measure_costs:
        shape = Shape(spec.cell, spec.units, spec.layers, data.steps, data.channels,
                      data.num_classes)
        costs = shape_costs(shape, root, board).to_json()
    result = {
        "version": RESULT_VERSION,
        "spec": read_spec(spec),
        "model": mdir.name,
        "train": cfg.to_json(),
        "schedule": config.get("schedule"),
        "float_accuracy": metrics["float_test_accuracy"],
        "int8_accuracy": acc8,
        "keras_params": metrics["keras_params"],
        "epochs_run": metrics["epochs_run"],
        "train_seconds": metrics["train_seconds"],
        "convergence": metrics.get("convergence"),
        "test_windows": len(data.y_test),
        "costs": costs,
        "trial_seconds": round(time.monotonic() - start, 1),
    }
    write_json(result_path, result)
    return result


def read_spec(spec: TrialSpec) -> dict:
    from dataclasses import asdict

    return asdict(spec)


def collect_results(root: Path) -> list[dict]:
    """Every finished trial result under the build tree (any study, any preset)."""
    out = []
    folders = (ModelFolder(d) for d in sorted(BuildTree(root).models.glob("*")))
    for p in (f.sweep_json for f in folders if f.sweep_json.is_file()):
        r = read_json(p)
        if r.get("version") == RESULT_VERSION:
            out.append(r)
    return out
