"""The steps of the main job, each runnable alone on models already in the build tree."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

from convert.card import build_card
from convert.carray import CArrayMeta, write_c_array
from convert.tflite_export import convert_model
from tinyrnn.buildtree import DEFAULT_ROOT, models_dir, read_json
from tinyrnn.evaluate import evaluate_model
from tinyrnn.sweep.space import RECALL_LEARNING_RATE, RECALL_MAX_STEPS
from train.fit import TrainConfig, train
from train.models import CELLS
from train.sources import load_dataset

# The main job: every cell on the smartwatch data, and on a long-memory task where the plain
# RNN should fall behind, each over several seeds so differences come with their spread.
MAIN_DATASET = "watch"
MAIN_UNITS = 32
# Delayed recall at two lengths: the short one every cell should learn, the long one separates
# the cells. Measured: at 40 steps a plain RNN stays at chance within 30 epochs.
MEMORY_LENGTHS = (20, 40)
MEMORY_DATASETS = tuple(f"recall{t}" for t in MEMORY_LENGTHS)
DEFAULT_SEEDS = (0, 1, 2)
# Test windows streamed to the emulated board per model in the main job: QEMU's UART takes
# ~40 us a byte, so the full 1,002 windows cost ~100 s a model; `tinyrnn device eval` runs all.
DEVICE_WINDOWS = 200


def trained_models(root: Path = DEFAULT_ROOT, names: list[str] | None = None) -> list[Path]:
    base = models_dir(root)
    if names:
        dirs = [base / n for n in names]
        missing = [d.name for d in dirs if not (d / "metrics.json").is_file()]
        if missing:
            raise FileNotFoundError(
                f"no trained model named {', '.join(missing)} under {base}; "
                "run `tinyrnn train` first (`tinyrnn list` shows what exists)")
        return dirs
    return sorted(d for d in base.glob("*") if (d / "metrics.json").is_file())


def train_step(dataset: str, cells: list[str], seeds: list[int], units: int, layers: int,
               epochs: int | None, root: Path, force: bool, patience: int | None = None,
               learning_rate: float = 3e-3, init: str = "default", max_steps: int | None = None,
               patience_steps: int | None = None) -> list[Path]:
    data = load_dataset(dataset)
    print(f"[data] {data.name}: {len(data.y_train)} train / {len(data.y_test)} test windows of "
          f"{data.steps} x {data.channels}, {data.num_classes} classes", flush=True)
    outs = []
    total = len(cells) * len(seeds)
    for i, (cell, seed) in enumerate(((c, s) for s in seeds for c in cells), start=1):
        print(f"[train] model {i}/{total}", flush=True)
        budget = {k: v for k, v in (("max_steps", max_steps), ("patience_steps", patience_steps))
                  if v is not None}
        cfg = TrainConfig(dataset=dataset, cell=cell, units=units, layers=layers, epochs=epochs,
                          seed=seed, patience=patience, learning_rate=learning_rate, init=init,
                          **budget)
        outs.append(train(cfg, data, root=root, force=force))
    return outs


def c_arrays_step(model_dir: Path) -> list[Path]:
    cfg = read_json(model_dir / "config.json")
    norm = read_json(model_dir / "normalization.json")
    written = []
    for name in ("float", "int8", "int8_custom"):
        path = model_dir / f"{name}.tflite"
        if path.is_file():
            meta = CArrayMeta(model_dir.name, cfg["steps"], cfg["channels"], cfg["class_names"],
                              norm["mean"], norm["std"])
            written += write_c_array(path, model_dir / "tflm" / name, meta)
    return written


def quantize_custom_step(model_dir: Path) -> Path | None:
    """GRU/SimpleRNN: our own int8 quantization into a custom-op .tflite (TF cannot make one)."""
    from convert.rnn_quant import quantize_recurrent_model

    cfg = read_json(model_dir / "config.json")
    if cfg["train"]["cell"] == "lstm":
        return None
    out = model_dir / "int8_custom.tflite"
    if out.is_file() and out.stat().st_mtime >= (model_dir / "model.keras").stat().st_mtime:
        print(f"[quantize] {model_dir.name}: up to date, skipping")
        return out
    path = quantize_recurrent_model(model_dir)
    print(f"[quantize] {model_dir.name}: {path.name}: {path.stat().st_size} bytes", flush=True)
    return path


def deployable_tflite(model_dir: Path) -> Path | None:
    """The int8 model the tinyrnn runtime compiles: fused LSTM, or our custom-op GRU/RNN."""
    for name in ("int8_custom.tflite", "int8.tflite"):
        if (model_dir / name).is_file():
            return model_dir / name
    return None


def compile_step(model_dir: Path) -> dict | None:
    """tinyrnn C for the deployable int8 model; summary.json beside the generated files."""
    from convert.aot.compiler import compile_model
    from convert.aot.errors import AotError

    cfg = read_json(model_dir / "config.json")
    tflite = deployable_tflite(model_dir)
    if tflite is None:
        return None
    try:
        summary = compile_model(tflite, model_dir / "tinyrnn", name=model_dir.name,
                                normalization=read_json(model_dir / "normalization.json"),
                                class_names=cfg["class_names"])
    except AotError as e:
        print(f"[compile] {model_dir.name}: not compiled: {e}", flush=True)
        return None
    print(f"[compile] {model_dir.name}: {summary.one_line()}", flush=True)
    return asdict(summary)


def deploy_steps(model_dir: Path, force: bool, probe_crashes: bool) -> None:
    """convert -> own int8 GRU/RNN -> C arrays -> tinyrnn C -> card -> host evaluation."""
    convert_model(model_dir, force=force, probe_crashes=probe_crashes)
    quantize_custom_step(model_dir)
    c_arrays_step(model_dir)
    compile_step(model_dir)
    build_card(model_dir)
    evaluate_model(model_dir, force=force)


def device_step(model_dir: Path, limit: int | None) -> dict | None:
    from deploy.device_eval import run_device_step

    if not (model_dir / "tinyrnn" / "tinyrnn_model.h").is_file():
        print(f"[device] {model_dir.name}: no tinyrnn C, skipping")
        return None
    result = run_device_step(model_dir, limit=limit)
    print(f"[device] {model_dir.name} on {result['env']}: accuracy device "
          f"{result['accuracy']:.4f} vs host {result['host_accuracy']:.4f}, "
          f"{result['windows_outputs_differ']} of {result['windows']} windows differ, "
          f"{result['per_inference']['median']:,.0f} instructions (emulated) per inference "
          f"= {result['per_mac']} per MAC", flush=True)
    return result


def bench_step(model_dir: Path, root: Path) -> dict:
    """The runtime benchmark (tinyrnn C vs TFLM on the same .tflite), JSON under bench-aot/."""
    from convert.aot.bench import bench_aot

    out = root / "bench-aot" / f"{model_dir.name}.json"
    result = bench_aot(model_dir / "int8.tflite", out, work_dir=root / "bench-aot", device=True)
    print(f"[bench] {model_dir.name}: {result['summary']}", flush=True)
    return result


def budget_step(root: Path) -> None:
    """Build and measure on all four QEMU boards; the report's per-board table reads the JSON."""
    from deploy.budget import format_table, run_budget

    result = run_budget(results_path=root / "budget" / "results.json")
    print(format_table(result), flush=True)
    for f in result.findings:
        print(f"[budget] {'FAIL' if f.fails else 'note'}: {f.describe()}", flush=True)


def sweep_step(root: Path, preset: str = "reduced") -> None:
    """The sweep preset in one local worker (training already fills both cores)."""
    from tinyrnn.sweep.space import PRESETS, preset_specs
    from tinyrnn.sweep.study import SweepPlan, run_sweep

    out = run_sweep(SweepPlan(study=preset, specs=preset_specs(preset),
                              measure_costs=PRESETS[preset]["costs"]), root, workers=1)
    print(f"[sweep] {preset}: {out.complete}/{out.total} trials in {out.seconds:.0f} s", flush=True)


def run_all(root: Path = DEFAULT_ROOT, seeds: tuple[int, ...] = DEFAULT_SEEDS,
            epochs: int | None = None,
            units: int = MAIN_UNITS, force: bool = False) -> None:
    from tinyrnn.report import write_report

    start = time.monotonic()
    cells = list(CELLS)
    print(f"== 1/5 train {', '.join(cells)} on {MAIN_DATASET}, seeds {list(seeds)}", flush=True)
    watch = train_step(MAIN_DATASET, cells, list(seeds), units, 1, epochs, root, force)
    print(f"== 2/5 convert, C arrays, cards, host evaluation ({len(watch)} models)", flush=True)
    for i, model_dir in enumerate(watch, start=1):
        print(f"[deploy] model {i}/{len(watch)}: {model_dir.name}", flush=True)
        seed = read_json(model_dir / "config.json")["train"]["seed"]
        deploy_steps(model_dir, force, probe_crashes=seed == seeds[0])
    first_seed = [d for d in watch if read_json(d / "config.json")["train"]["seed"] == seeds[0]]
    print(f"== 3/5 emulated Cortex-M4: {len(first_seed)} models, {DEVICE_WINDOWS} test windows "
          "each", flush=True)
    device_failures = []
    for model_dir in first_seed:
        try:
            device_step(model_dir, DEVICE_WINDOWS)
        except RuntimeError as e:  # build, link or board errors: report, keep the host results
            print(f"[device] {model_dir.name}: FAILED: {e}", flush=True)
            device_failures.append(model_dir.name)
    lstm0 = [d for d in first_seed if read_json(d / "config.json")["train"]["cell"] == "lstm"]
    for model_dir in lstm0:
        print(f"== tinyrnn vs TFLM on {model_dir.name}: RAM, code size, host speed, "
              "instructions", flush=True)
        try:
            bench_step(model_dir, root)
        except (RuntimeError, OSError) as e:
            print(f"[bench] {model_dir.name}: FAILED: {e}", flush=True)
            device_failures.append(f"bench {model_dir.name}")
    print("== every emulated board: size and instruction budgets (untrained smartwatch-shaped "
          "models)", flush=True)
    try:
        budget_step(root)
    except RuntimeError as e:
        print(f"[budget] FAILED: {e}", flush=True)
        device_failures.append("budget")
    memory = []
    for dataset in MEMORY_DATASETS:
        print(f"== 4/5 long-memory task {dataset}: float accuracy per cell", flush=True)
        memory += train_step(dataset, cells, list(seeds), units, 1, epochs, root, force,
                             learning_rate=RECALL_LEARNING_RATE, max_steps=RECALL_MAX_STEPS,
                             patience_steps=RECALL_MAX_STEPS)
    print("== reduced cost-accuracy frontier (`tinyrnn sweep --preset frontier` for the full one)",
          flush=True)
    try:
        sweep_step(root)
    except (RuntimeError, ValueError, OSError) as e:  # the report still shows what finished
        print(f"[sweep] FAILED: {e}", flush=True)
        device_failures.append("sweep")
    print(f"== 5/5 report ({len(watch) + len(memory)} models)", flush=True)
    path = write_report(root)
    print(f"done in {time.monotonic() - start:.0f} s: {path}")
    if device_failures:
        raise RuntimeError(f"the device step failed for {', '.join(device_failures)} (see above);"
                           " the host results and the report are complete")
