"""``tinyrnn firmware ...`` and ``tinyrnn device ...``: wired into tinyrnn/cli.py via register()."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tinyrnn.core.buildtree import find_model_folder
from tinyrnn.core.quantization import quantize
from tinyrnn.deploy.firmware import DEFAULT_ENV, QEMU_ENVS, BuildError, build
from tinyrnn.deploy.link import DeviceError, DeviceInfo
from tinyrnn.deploy.pio_bootstrap import BootstrapError, bootstrap
from tinyrnn.deploy.session import open_device


def _strict(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """tinyrnn's main() ignores a command's return value: turn a non-zero one into the exit code."""

    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        code = int(func(args) or 0)
        if code:
            raise SystemExit(code)
        return 0

    return run


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``firmware`` and ``device`` command groups; each sets ``func(args) -> int``."""
    fw = subparsers.add_parser("firmware", help="build the device firmware (PlatformIO, offline)")
    fw_sub = fw.add_subparsers(dest="firmware_command", required=True)

    p = fw_sub.add_parser("bootstrap", help="prepare the offline PlatformIO core in build/pio-core")
    p.set_defaults(func=_strict(_cmd_bootstrap))

    p = fw_sub.add_parser("build", help="build the firmware for one or more boards")
    p.add_argument("--env", action="append", help=f"PlatformIO environment (default {DEFAULT_ENV})")
    p.add_argument("--all-qemu", action="store_true", help=f"all emulated boards: {', '.join(QEMU_ENVS)}")
    p.add_argument("--model-dir", type=Path, help="model folder (default: protocol fixture)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_strict(_cmd_build))

    dev = subparsers.add_parser("device", help="run a model on an emulated or real board")
    dev_sub = dev.add_subparsers(dest="device_command", required=True)

    def _target(q: argparse.ArgumentParser) -> None:
        q.add_argument("--env", default=DEFAULT_ENV, help=f"board environment (default {DEFAULT_ENV})")
        q.add_argument("--port", help="serial port of a real board (e.g. /dev/ttyACM0); default QEMU")
        q.add_argument("--flash", action="store_true", help="upload to the real board first")
        q.add_argument("--model-dir", type=Path,
                       help="model folder (build/models/<name> or a tinyrnn.export_model folder) "
                            "or its tinyrnn C folder (default: fixture)")
        q.add_argument("--timeout", type=float, default=10.0, help="seconds per reply")

    p = dev_sub.add_parser("info", help="identify the device: model, board, memory, counter")
    _target(p)
    p.set_defaults(func=_strict(_cmd_info))

    p = dev_sub.add_parser("run", help="classify windows on the device")
    _target(p)
    p.add_argument("--windows", type=Path,
                   help=".npy/.npz with int8 windows [N,T,C] (or float, quantized with the "
                        "device's normalization and input scale); default: random int8 windows")
    p.add_argument("--random", type=int, default=8, help="number of random windows (no --windows)")
    p.add_argument("--runs", type=int, default=1, help="inferences per window (timing)")
    p.add_argument("--out", type=Path, help="write per-window results as JSON")
    p.set_defaults(func=_strict(_cmd_run))

    p = dev_sub.add_parser(
        "eval", help="run a model's test set on a board and compare with the host build",
        description="Builds the firmware for MODEL's tinyrnn C (compiled when missing), streams "
        "every test window through one QEMU session (or a flashed board on --port), compares "
        "outputs with the host build window by window and writes MODEL/device-<env>.json. The "
        "windows: a trained model's test split, or the x_test/y_test a tinyrnn.export_model "
        "folder stores (test_windows.npz). Exits 1 when any window's outputs differ.")
    p.add_argument("model", help="model folder (trained, or written by tinyrnn.export_model) or "
                                 "name under <build>/models")
    p.add_argument("--env", default=DEFAULT_ENV, help=f"board environment (default {DEFAULT_ENV})")
    p.add_argument("--port", help="serial port of a flashed real board; default QEMU")
    p.add_argument("--limit", type=int, help="only this many test windows, evenly spread")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per reply")
    p.add_argument("--json", action="store_true", help="print the JSON result, not a table")
    p.add_argument("--backend", default="tinyrnn", choices=("tinyrnn", "tflm", "tflm-cmsis-nn"),
                   help="tinyrnn C (default), TFLM with reference kernels, or TFLM with CMSIS-NN "
                        "kernels (QEMU boards; needs the TFLM tree, see firmware/README.md)")
    p.set_defaults(func=_strict(_cmd_eval))

    from tinyrnn.deploy.cycles import register as register_cycles

    register_cycles(dev_sub)

    from tinyrnn.deploy.flash_cli import register as register_flash

    register_flash(dev_sub, _strict)

    from tinyrnn.deploy.budget import register as register_budget

    register_budget(subparsers)


def _cmd_bootstrap(args: argparse.Namespace) -> int:
    setup = bootstrap()
    print(f"PLATFORMIO_CORE_DIR={setup.core_dir}\npio={setup.pio}")
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    envs = list(QEMU_ENVS) if args.all_qemu else (args.env or [DEFAULT_ENV])
    rows = []
    try:
        for env in envs:
            fw = build(env, args.model_dir)
            mem = fw.memory()
            rows.append({"env": env, "flash": mem.flash, "ram": mem.ram, "stack": mem.stack,
                         "seconds": round(fw.seconds, 1), "elf": str(fw.elf)})
    except (BuildError, BootstrapError) as exc:
        print(f"tinyrnn: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"{'env':<14} {'flash B':>9} {'RAM B':>9} {'stack B':>8} {'s':>6}  elf")
        for r in rows:
            print(f"{r['env']:<14} {r['flash']:>9} {r['ram']:>9} {r['stack']:>8} "
                  f"{r['seconds']:>6}  {r['elf']}")
    return 0


def _info_dict(info: DeviceInfo) -> dict[str, Any]:
    d = {k: v for k, v in vars(info).items() if k != "fields"}
    return d


def _firmware_model(model_dir: Path | None) -> Path | None:
    """--model-dir as the firmware build takes it: a tinyrnn C folder as given; a model folder
    (trained or from tinyrnn.export_model) -> the C the harness builds (device_eval)."""
    from tinyrnn.convert.compile_folder import SUMMARY
    from tinyrnn.deploy.device_eval import ensure_compiled

    if model_dir is None or (model_dir / SUMMARY).is_file() or not model_dir.is_dir():
        return model_dir

    return ensure_compiled(model_dir)


def _cmd_info(args: argparse.Namespace) -> int:
    from tinyrnn.deploy.device_eval import DeviceEvalError

    try:
        args.model_dir = _firmware_model(args.model_dir)
        with open_device(args.env, args.port, args.model_dir, flash=args.flash,
                         timeout=args.timeout) as s:
            out = _info_dict(s.device.info)
            out["memory"] = s.device.memory()
            out["class_names"] = s.device.class_names()
            if s.firmware is not None:
                mem = s.firmware.memory()
                out["firmware"] = {"flash": mem.flash, "ram": mem.ram, "elf": str(s.firmware.elf)}
    except (BuildError, BootstrapError, DeviceError, DeviceEvalError, ValueError) as exc:
        print(f"tinyrnn: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(out, indent=2))
    return 0


def _load_windows(path: Path, info: DeviceInfo, means: list[float], stds: list[float]) -> Any:
    import numpy as np

    data = np.load(path, allow_pickle=False)
    if isinstance(data, np.lib.npyio.NpzFile):
        key = next((k for k in ("X_test", "x_test", "X", "windows") if k in data.files), None)
        if key is None:
            raise ValueError(f"{path} has none of X_test, X, windows (has {data.files})")
        data = data[key]
    x = np.asarray(data)
    if x.ndim != 3 or x.shape[1:] != (info.steps, info.channels):
        raise ValueError(f"{path}: windows shaped {x.shape}, the device model wants "
                         f"[N, {info.steps}, {info.channels}]")
    if x.dtype == np.int8:
        return x
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{path}: windows must be int8 (quantized) or float, not {x.dtype}")
    # The device's own constants, so the host quantizes exactly as the firmware was built for.
    xn = (x - np.asarray(means, np.float32)) / np.asarray(stds, np.float32)
    return quantize(xn, info.input_scale, info.input_zero_point)


def _cmd_run(args: argparse.Namespace) -> int:
    import numpy as np

    from tinyrnn.deploy.device_eval import DeviceEvalError

    try:
        args.model_dir = _firmware_model(args.model_dir)
        with open_device(args.env, args.port, args.model_dir, flash=args.flash,
                         timeout=args.timeout) as s:
            dev = s.device
            info = dev.info
            if args.windows:
                means, stds = dev.normalization()
                windows = _load_windows(args.windows, info, means, stds)
            else:
                rng = np.random.default_rng(0)
                windows = rng.integers(-128, 128, (args.random, info.steps, info.channels),
                                       dtype=np.int8)
            results = []
            for i, w in enumerate(windows):
                r = dev.classify(w, args.runs)
                results.append({"index": i, "output": r.output, "class": r.cls,
                                "count": r.count, "count_min": r.count_min,
                                "count_max": r.count_max})
    except (BuildError, BootstrapError, DeviceError, DeviceEvalError, ValueError, OSError) as exc:
        print(f"tinyrnn: error: {exc}", file=sys.stderr)
        return 1
    counts = [r["count"] for r in results]
    summary = {
        "model": info.model, "board": info.board, "backend": info.backend,
        "windows": len(results), "counter": info.counter_unit,
        "count_per_inference_min": min(counts) if counts else None,
        "count_per_inference_max": max(counts) if counts else None,
        "per_mac": round(max(counts) / info.macs, 3) if counts and info.macs else None,
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"summary": summary, "results": results}, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


def _model_dir(model: str, root: Path | None) -> Path:
    return find_model_folder(model, root).path


def _cmd_eval(args: argparse.Namespace) -> int:
    from tinyrnn.deploy.device_eval import DeviceEvalError, format_table, run_device_step

    if args.backend != "tinyrnn":
        return _cmd_eval_tflm(args)
    try:
        model = _model_dir(args.model, getattr(args, "build", None))
        result = run_device_step(model, args.env, args.port, args.limit, timeout=args.timeout)
    except (BuildError, BootstrapError, DeviceError, DeviceEvalError, FileNotFoundError,
            ValueError) as exc:
        print(f"tinyrnn: error: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "predictions"}, indent=2))
    else:
        print(format_table(result))
        print(f"written: {result.get('path')}")
    if result["windows_outputs_differ"]:
        print(f"tinyrnn: error: {result['windows_outputs_differ']} windows differ between host and device",
              file=sys.stderr)
        raise SystemExit(1)
    return 0


def _cmd_eval_tflm(args: argparse.Namespace) -> int:
    from tinyrnn.deploy.device_compare import eval_backend, format_rows
    from tinyrnn.deploy.tflm_firmware import TflmModelError
    from tinyrnn.deploy.tflm_lib import TflmBuildError, TflmUnavailable

    if args.port:
        print("error: the TFLM backends run on the QEMU boards only (no --port)", file=sys.stderr)
        return 1
    try:
        model = _model_dir(args.model, getattr(args, "build", None))
        rows = eval_backend(model, args.env, args.backend, args.limit)
    except (BuildError, BootstrapError, DeviceError, TflmUnavailable, TflmBuildError,
            TflmModelError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(rows, indent=2) if args.json else format_rows(rows))
    exact = args.backend == "tflm"
    bad = [r for r in rows if r.get("status") == "ok" and r["outputs_differing"] and exact]
    if bad:
        print(f"error: outputs differ from the reference in {len(bad)} graph(s)", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone use until tinyrnn/cli.py wires register() in: python -m tinyrnn.deploy.cli ..."""
    parser = argparse.ArgumentParser(prog="python -m tinyrnn.deploy.cli")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
