"""The steps of the main job, each runnable alone on models already in the build tree."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

from tinyrnn.convert.card import build_card
from tinyrnn.convert.carray import CArrayMeta, write_c_array
from tinyrnn.convert.tflite_export import convert_model
from tinyrnn.core.buildtree import DEFAULT_ROOT, ModelFolder, deployable_tflite
from tinyrnn.core.experiment import (
    CELLS,
    DEFAULT_SEEDS,
    DEVICE_WINDOWS,
    MAIN_DATASET,
    MAIN_UNITS,
    MEMORY_DATASETS,
    MEMORY_SEED_COUNT,
)
from tinyrnn.measure.evaluate import evaluate_model
from tinyrnn.sweep.space import RECALL_LEARNING_RATE, RECALL_MAX_STEPS
from tinyrnn.train.fit import TrainConfig, train
from tinyrnn.train.sources import load_dataset

# Windows per (model, board, backend) in the tinyrnn-vs-TFLM table: 13 firmwares per board;
# `tinyrnn device eval MODEL --backend tflm` streams the whole test set.
COMPARE_WINDOWS = 50
# Targets measured at once: each is a firmware build then one single-threaded QEMU.
COMPARE_WORKERS = 2


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
    folder = ModelFolder(model_dir)
    cfg = folder.config()
    norm = folder.normalization()
    written = []
    for name, path in (("float", folder.float_tflite), ("int8", folder.int8_tflite),
                       ("int8_custom", folder.int8_custom_tflite)):
        if path.is_file():
            meta = CArrayMeta(model_dir.name, cfg["steps"], cfg["channels"], cfg["class_names"],
                              norm["mean"], norm["std"])
            written += write_c_array(path, folder.tflm_dir / name, meta)
    return written


def quantize_custom_step(model_dir: Path) -> Path | None:
    """GRU/SimpleRNN: our own int8 quantization into a custom-op .tflite (TF cannot make one)."""
    from tinyrnn.convert.rnn_quant import quantize_model_folder

    return quantize_model_folder(model_dir)


def compile_step(model_dir: Path) -> dict | None:
    """tinyrnn C for the deployable int8 model; summary.json beside the generated files."""
    from tinyrnn.convert.aot.errors import AotError
    from tinyrnn.convert.compile_folder import compile_model_folder

    if deployable_tflite(model_dir) is None:
        return None
    try:
        summary = compile_model_folder(model_dir)
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
    from tinyrnn.deploy.device_eval import run_device_step

    if not (ModelFolder(model_dir).tinyrnn_dir / "tinyrnn_model.h").is_file():
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
    from tinyrnn.measure.aot_bench import bench_aot

    out = root / "bench-aot" / f"{model_dir.name}.json"
    result = bench_aot(ModelFolder(model_dir).int8_tflite, out, work_dir=root / "bench-aot", device=True)
    print(f"[bench] {model_dir.name}: {result['summary']}", flush=True)
    return result


def compare_envs() -> tuple[str, ...]:
    """The boards of the TFLM comparison. The real-chip ports (microbit's 16 KB, the M55) are
    outside it: it runs on the boards TFLM's tree was verified for, and each core costs minutes
    of TFLM compilation."""
    from tinyrnn.deploy.boards import board
    from tinyrnn.deploy.firmware import QEMU_ENVS

    return tuple(env for env in QEMU_ENVS if not board(env).real_chip)


def compare_step(model_dirs: list[Path], root: Path,
                 stop: threading.Event | None = None) -> list[dict]:
    """Every backend on every emulated board -> report/device_compare.json."""
    from tinyrnn.deploy.device_compare import run_compare, write_compare

    rows = run_compare(model_dirs, compare_envs(), COMPARE_WINDOWS, workers=COMPARE_WORKERS,
                       stop=stop)
    print(f"[compare] {write_compare(rows, root / 'report' / 'device_compare.json')}", flush=True)
    return rows


def budget_step(root: Path) -> None:
    """Build and measure on all four QEMU boards; the report's per-board table reads the JSON."""
    from tinyrnn.deploy.budget import format_table, run_budget

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


def _device_lane(first_seed: list[Path], root: Path, phase, failures: list[str],
                 main_job: bool, stop: threading.Event) -> None:
    """The device work on the first seed's models: the Cortex-M4 evaluation and the LSTM bench;
    in the main job also tinyrnn vs TFLM on every FPGA board and every board's budgets.
    Failures are collected, never raised: the host results and the report go on."""
    phase(f"3/5 emulated Cortex-M4: {len(first_seed)} models, {DEVICE_WINDOWS} test windows each")
    for model_dir in first_seed:
        try:
            device_step(model_dir, DEVICE_WINDOWS)
        except RuntimeError as e:  # build, link or board errors: report, keep the host results
            print(f"[device] {model_dir.name}: FAILED: {e}", flush=True)
            failures.append(model_dir.name)
    for model_dir in (d for d in first_seed if ModelFolder(d).cell() == "lstm"):
        phase(f"tinyrnn vs TFLM on {model_dir.name}: RAM, code size, host speed, instructions")
        try:
            bench_step(model_dir, root)
        except (RuntimeError, OSError) as e:
            print(f"[bench] {model_dir.name}: FAILED: {e}", flush=True)
            failures.append(f"bench {model_dir.name}")
    if not main_job or stop.is_set():
        return
    # Budgets first: they need no TFLM library beyond the first core's, which the background
    # build compiles first; the comparison's later boards wait for theirs.
    phase("every emulated board: size and instruction budgets (untrained smartwatch-shaped "
          "models)")
    try:
        budget_step(root)
    except Exception as e:  # a thread's exception would be lost: name the step, go on
        print(f"[budget] FAILED: {e}", flush=True)
        failures.append("budget")
    if stop.is_set():
        return
    phase(f"tinyrnn vs TFLM (reference and CMSIS-NN kernels) on the Arm FPGA boards: "
          f"{len(first_seed)} models, {COMPARE_WINDOWS} test windows each")
    try:
        compare_step(first_seed, root, stop)
    except Exception as e:
        print(f"[compare] FAILED: {e}", flush=True)
        failures.append("compare")
    phase("device lane done")


def run_all(root: Path = DEFAULT_ROOT, seeds: tuple[int, ...] = DEFAULT_SEEDS,
            epochs: int | None = None, units: int = MAIN_UNITS, force: bool = False,
            dataset: str = MAIN_DATASET,
            cells: tuple[str, ...] = CELLS, layers: int = 1) -> None:
    """The whole job on one data set. On the main (smartwatch) data it adds the project's own
    experiments (every board's budget, the long-memory task); on a user's .npz it is that data's
    train -> int8 -> C -> device -> report."""
    from tinyrnn.deploy.tflm_lib import background_log, start_background_build, stop_background_build
    from tinyrnn.report import write_report

    start = time.monotonic()

    def phase(title: str) -> None:  # elapsed time first: the log shows where a run's time went
        # one write: the two lanes print from two threads
        sys.stdout.write(f"== [{(time.monotonic() - start) / 60:5.1f} min] {title}\n")
        sys.stdout.flush()

    cells = list(cells)
    main_job = dataset == MAIN_DATASET
    stop_lane = threading.Event()
    lane: threading.Thread | None = None
    device_failures: list[str] = []
    memory: list[Path] = []
    # The comparison's TFLM libraries compile beside training, at low priority.
    tflm_build = start_background_build(compare_envs()) if main_job else None
    if tflm_build is not None:
        print(f"[tflm-lib] compiling TFLM for the comparison's boards in the background (log: "
              f"{background_log()})", flush=True)
    try:
        phase(f"1/5 train {', '.join(cells)} on {dataset}, seeds {list(seeds)}")
        watch = train_step(dataset, cells, list(seeds), units, layers, epochs, root, force)
        first_seed = [d for d in watch if ModelFolder(d).config()["train"]["seed"] == seeds[0]]
        rest = [d for d in watch if d not in first_seed]
        phase(f"2/5 convert, C arrays, cards, host evaluation ({len(watch)} models)")
        for i, model_dir in enumerate(first_seed + rest, start=1):
            print(f"[deploy] model {i}/{len(watch)}: {model_dir.name}", flush=True)
            deploy_steps(model_dir, force, probe_crashes=model_dir in first_seed)
            if main_job and i == len(first_seed):
                # Two lanes from here: the device lane (firmware builds, QEMU) in a thread beside
                # the host lane (conversions, training), which leaves most of a core idle.
                lane = threading.Thread(target=_device_lane, name="device-lane", args=(
                    first_seed, root, phase, device_failures, True, stop_lane))
                lane.start()
        if lane is None:
            _device_lane(first_seed, root, phase, device_failures, False, stop_lane)
        else:
            for memory_set in MEMORY_DATASETS:
                phase(f"4/5 long-memory task {memory_set}: float accuracy per cell")
                memory += train_step(memory_set, cells, list(seeds)[:MEMORY_SEED_COUNT], units,
                                     1, epochs, root,
                                     force, learning_rate=RECALL_LEARNING_RATE,
                                     max_steps=RECALL_MAX_STEPS, patience_steps=RECALL_MAX_STEPS)
            phase("reduced cost-accuracy frontier (`tinyrnn sweep --preset frontier` for the full "
                  "one)")
            try:
                sweep_step(root)
            except (RuntimeError, ValueError, OSError) as e:  # the report shows what finished
                print(f"[sweep] FAILED: {e}", flush=True)
                device_failures.append("sweep")
            if lane.is_alive():
                print("[lanes] host lane done; waiting for the device lane", flush=True)
            lane.join()
        phase(f"5/5 report ({len(watch) + len(memory)} models)")
        path = write_report(root)
    finally:
        if lane is not None and lane.is_alive():  # Ctrl-C or an error: stop after the current row
            stop_lane.set()
            lane.join()
        stop_background_build(tflm_build)
    print(f"done in {time.monotonic() - start:.0f} s: {path}")
    if device_failures:
        raise RuntimeError(f"the device step failed for {', '.join(device_failures)} (see above);"
                           " the host results and the report are complete")
