"""Device step: a trained model's whole test set on a board, compared window by window with the
host build of the same generated C.

    run_device_step(Path("build/models/watch-lstm-u32-s0"))          # emulated Cortex-M4
    run_device_step(model_dir, env="nano33ble", port="/dev/ttyACM0")  # a flashed real board

For an emulated board it compiles the model's int8 ``.tflite`` to tinyrnn C when ``tinyrnn/`` is
missing or stale, builds the firmware (PlatformIO, offline), starts one QEMU session and streams
every test window through the serial protocol; the host quantizes the windows exactly as the host
evaluation does (train/normalization.py, then convert/quantization.py ``quantize`` with the
model's input scale and zero point). Each window runs twice on the device (``infer 2``), so the
device itself shows whether its counts repeat; a second QEMU session re-runs the first windows to
show they repeat across sessions too.

Writes ``<model_dir>/device-<env>.json``: accuracy on the device and on the host build, windows
whose int8 outputs differ (must be 0), flash and RAM from the ELF's sections, parameter bytes from
its symbols (against the card's ``int8_weight_bytes``), and instructions per inference and per MAC.
QEMU counts instructions (every instruction is 1, -icount shift=0), not cycles: the JSON and the
table say "instructions (emulated)"; only a real board's counter gives cycles.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyrnn.core.buildtree import write_text_atomic
from tinyrnn.deploy.elf import ElfError, parameter_bytes
from tinyrnn.deploy.firmware import (
    DEFAULT_ENV,
    build,
    default_build_dir,
    is_qemu_env,
    memory_usage,
    qemu_machine,
)
from tinyrnn.deploy.link import (
    CommandRejected,
    Device,
    DeviceError,
    DeviceGone,
    DeviceInfo,
    DeviceReset,
    InferResult,
    ProtocolError,
    QemuBoard,
    infer_result,
    load_lines,
    open_serial,
    parse_reply,
)

RUNS_PER_WINDOW = 2          # infer 2: both runs' counts come back as min/max
RECHECK_WINDOWS = 8          # windows re-run in a second QEMU session
Progress = Callable[[int, int], None]


class DeviceEvalError(RuntimeError):
    """The device step cannot run or its result is inconsistent; the message says how to fix it."""


def counter_label(unit: str) -> str:
    return "instructions (emulated)" if unit == "instructions_emulated" else unit


# ---- inputs ---------------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DeviceEvalError(
            f"{path} is missing: train and convert the model first (tinyrnn train / convert / "
            f"inspect)"
        ) from exc


def ensure_compiled(model_dir: Path) -> Path:
    """The tinyrnn C the firmware harness builds, as the current compiler makes it from the
    deployable int8 model.

    ``<model_dir>/tinyrnn`` is compiled (again) when missing or when it was compiled from that
    model (cheap, and the device then runs what today's compiler emits), with the inputs its
    summary.json records (name, symbol prefix, class names, normalization); a folder compiled
    from another source (e.g. with ``tinyrnn compile --out``) is used as it is. When tinyrnn/
    carries a symbol prefix of the user's, the harness gets the default-prefix copy
    (convert/compile_folder.py ``harness_c``)."""
    from tinyrnn.convert.aot.errors import AotError
    from tinyrnn.convert.compile_folder import harness_c, recompile_model_folder
    from tinyrnn.core.buildtree import ModelFolder

    folder = ModelFolder(model_dir)
    tflite = folder.deployable_tflite()
    out = folder.tinyrnn_dir
    summary = out / "summary.json"
    existing = summary.is_file()
    if tflite is None:
        if existing:
            return out
        raise DeviceEvalError(f"{model_dir} has no int8 model: run `tinyrnn convert` (and "
                              "`tinyrnn quantize-rnn` for a GRU or SimpleRNN) first, or export "
                              "your Keras model with tinyrnn.export_model")
    sha = hashlib.sha256(tflite.read_bytes()).hexdigest()
    if existing and json.loads(summary.read_text(encoding="utf-8")).get("source_sha256") != sha:
        return out
    try:
        recompile_model_folder(model_dir)
        return harness_c(model_dir)
    except AotError as exc:
        raise DeviceEvalError(
            f"{model_dir.name} does not compile to tinyrnn C ({exc}); the QEMU boards run only "
            f"tinyrnn C: compile it with `tinyrnn compile {model_dir}` once the runtime supports it"
        ) from exc


def select_indices(n: int, limit: int | None) -> np.ndarray:
    """All windows, or ``limit`` of them evenly spread (test sets are ordered by subject/class)."""
    if limit is None or limit >= n:
        return np.arange(n)
    if limit <= 0:
        raise DeviceEvalError(f"limit must be positive, got {limit}")
    return np.unique(np.linspace(0, n - 1, limit).round().astype(int))


@dataclass(frozen=True)
class TestWindows:
    indices: np.ndarray   # into the data set's test split
    x_int8: np.ndarray    # [N, T, C], quantized exactly as on the host
    x_float: np.ndarray   # [N, T, C], normalized (for a TFLM reference)
    y: np.ndarray | None  # None: a Python API folder exported without y_test
    total: int


def _test_split(model_dir: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """The model's normalized test windows and labels: a trained folder's data set (config.json,
    normalization.json), else the windows a Python API export stored (test_windows.npz)."""
    from tinyrnn.core.buildtree import ModelFolder

    folder = ModelFolder(model_dir)
    if folder.config_json.is_file():
        from tinyrnn.train.normalization import Normalization
        from tinyrnn.train.sources import load_dataset

        cfg = _read_json(folder.config_json)
        data = load_dataset(cfg["train"]["dataset"], seed=cfg["train"]["seed"])
        norm = Normalization.from_json(_read_json(folder.normalization_json))
        return norm.apply(data.x_test), np.asarray(data.y_test)
    if folder.test_windows_npz.is_file():
        return folder.test_windows()
    raise DeviceEvalError(
        f"{model_dir} has no test windows to stream: a trained model folder has config.json "
        f"(`tinyrnn train`); a folder from the Python API needs x_test (and y_test for "
        f"accuracies): call tinyrnn.export_model(model, calibration, {str(model_dir)!r}, "
        f"x_test=..., y_test=...), which stores them in "
        f"{folder.test_windows_npz.name}")


def quantized_test_windows(model_dir: Path, input_scale: float, input_zero_point: int,
                           limit: int | None = None) -> TestWindows:
    from tinyrnn.core.quantization import quantize

    x_all, y_all = _test_split(Path(model_dir))
    idx = select_indices(len(x_all), limit)
    x = np.asarray(x_all[idx])
    y = None if y_all is None else np.asarray(y_all[idx])
    return TestWindows(idx, quantize(x, input_scale, input_zero_point), x, y, len(x_all))


# ---- device ---------------------------------------------------------------------------------


def classify_pipelined(dev: Device, window: np.ndarray, runs: int) -> InferResult:
    """load + data... + infer written at once, replies read after. Only for QEMU, which holds
    bytes back until the emulated UART takes them (a real board's receive buffer may overflow):
    the wire's per-line round trips dominate an emulated window otherwise. On any reply that is
    not the expected one, resynchronise and classify the window again in lockstep."""
    data = np.ascontiguousarray(window, dtype=np.int8).tobytes()
    if len(data) != dev.info.input_size:
        raise DeviceEvalError(f"window has {len(data)} bytes, device model takes "
                              f"{dev.info.input_size}")
    lines = [*load_lines(data, dev.info), (f"infer {runs}", "infer")]
    dev.transport.write("".join(cmd + "\n" for cmd, _ in lines).encode("ascii"))
    try:
        reply = None
        for cmd, verb in lines:
            reply = parse_reply(dev.read_reply_line(cmd), cmd)
            if reply.verb != verb:
                raise ProtocolError(f"`{cmd[:40]}` answered `ok {reply.verb}`, expected `{verb}`")
        assert reply is not None
        return infer_result(reply.fields)
    except (DeviceGone, DeviceReset):
        raise
    except (ProtocolError, CommandRejected, KeyError, ValueError):
        dev.sync()
        return dev.classify(window, runs)


def run_windows(dev: Device, windows: np.ndarray, runs: int, pipelined: bool,
                progress: Progress | None = None) -> list[InferResult]:
    results = []
    n = len(windows)
    for i, w in enumerate(windows):
        results.append(classify_pipelined(dev, w, runs) if pipelined else dev.classify(w, runs))
        if progress is not None:
            progress(i + 1, n)
    return results


def _progress_printer(name: str, env: str) -> Progress:
    start = time.monotonic()
    state = {"next": 0.0}

    def show(done: int, total: int) -> None:
        frac = done / total
        if done == total or frac >= state["next"]:
            state["next"] = frac + 0.1
            print(f"[device] {name} on {env}: {done}/{total} windows "
                  f"({time.monotonic() - start:.0f} s)", flush=True)

    return show


# ---- the step -------------------------------------------------------------------------------


def _host_reference(model_dir: Path, tinyrnn_dir: Path, backend: str, tw: TestWindows,
                    card: dict) -> np.ndarray:
    if backend == "tflm":
        from tinyrnn.convert.runtimes import run_tflm

        arena = card.get("int8_tflm_arena_bytes")
        if not arena:
            raise DeviceEvalError(f"{model_dir}/card.json has no int8_tflm_arena_bytes: run "
                                  f"`tinyrnn inspect` first")
        return run_tflm(model_dir / "int8.tflite", tw.x_float, int(arena) + 256).raw.astype(np.int8)
    from tinyrnn.convert.aot.hostbuild import HostModel

    host = HostModel(tinyrnn_dir, default_build_dir(tinyrnn_dir) / "host")
    return np.stack([host.invoke(w) for w in tw.x_int8])


def _stats(values: list[int]) -> dict[str, float | int]:
    return {"min": min(values), "max": max(values), "mean": round(statistics.fmean(values), 1),
            "median": statistics.median(values)}


def _padding_linked(summary: dict[str, Any], params: dict[str, Any] | None) -> int:
    """Zero weight bytes of the arrays this firmware links: a packed layer's gate-pair array
    or, in a Helium build, its int8-row array (summary.json weight_padding_by_array)."""
    by_array = summary.get("weight_padding_by_array")
    if by_array is None or not params or "symbols" not in params:
        return int(summary.get("weight_padding_bytes", 0))
    return sum(int(v) for k, v in by_array.items() if k in params["symbols"])


def _weights_match(params: dict[str, Any] | None, card_bytes: int | None, padding: int) -> bool:
    return (params is not None and "int8_weights" in params and card_bytes is not None
            and params["int8_weights"] == card_bytes + padding)


def _parameter_note(params: dict[str, Any], card_bytes: int | None, padding: int) -> str:
    if card_bytes is None:
        return "card.json has no int8_weight_bytes"
    w8 = params["int8_weights"]
    if not _weights_match(params, card_bytes, padding):
        return (f"MISMATCH: {w8} int8 weight bytes in the ELF, {card_bytes} in the card"
                + (f" + {padding} zero padding bytes" if padding else ""))
    pad = (f" plus {padding} B of zero weights the packed kernels add (an odd input or unit "
           f"count gets one per row, rows up to a multiple of four units, 16 B after the Helium "
           f"layout's last row; convert/aot summary.json weight_padding_by_array)"
           if padding else "")
    return (f"int8 weights in the ELF ({w8} B) equal the card's int8_weight_bytes{pad}. Besides them "
            f"the firmware holds {params['int32_biases']} B of int32 biases (an input and a "
            f"recurrent bias per gate with the zero-point terms folded in, where the .tflite "
            f"keeps one) and {params['int32_requant']} B of int32 requantization multipliers "
            f"and shifts the .tflite stores as scales.")


def run_device_step(model_dir: Path, env: str = DEFAULT_ENV, port: str | None = None,
                    limit: int | None = None, *, runs: int = RUNS_PER_WINDOW,
                    recheck: int = RECHECK_WINDOWS, timeout: float = 10.0,
                    progress: bool = True, write: bool = True) -> dict[str, Any]:
    """Run the model's test windows on the board ``env`` (QEMU unless ``port`` names a serial
    port), compare with the host build, write ``<model_dir>/device-<env>.json`` and return it."""
    model_dir = Path(model_dir).resolve()
    emulated = port is None
    if emulated and not is_qemu_env(env):
        raise DeviceEvalError(f"{env} is a real board: pass its serial port (--port /dev/ttyACM0) "
                              f"after flashing it, or pick a QEMU board")
    if not model_dir.is_dir():
        raise DeviceEvalError(f"model folder {model_dir} does not exist: train and convert it "
                              f"first, or pass build/models/<name>")
    card = _read_json(model_dir / "card.json")
    tinyrnn_dir = ensure_compiled(model_dir)
    summary = _read_json(tinyrnn_dir / "summary.json")
    tw = quantized_test_windows(model_dir, float(summary["input_scale"]),
                                int(summary["input_zero_point"]), limit)
    name = model_dir.name
    seconds: dict[str, float] = {}

    fw_elf: Path | None = None
    t = time.monotonic()
    if emulated:
        fw = build(env, tinyrnn_dir)
        fw_elf = fw.elf
        seconds["build"] = round(time.monotonic() - t, 1)
    else:
        candidate = default_build_dir(tinyrnn_dir) / env / "program.elf"
        fw_elf = candidate if candidate.is_file() else None

    show = _progress_printer(name, env) if progress else None
    partial = model_dir / f".device-{env}.partial.json"
    link: dict[str, Any] | None = None
    t = time.monotonic()
    recheck_results: list[InferResult] = []
    if emulated:
        assert fw_elf is not None
        # Survives a killed, reset or garbling board; resumes from the partial file of an
        # interrupted run (deploy/resilient_stream.py).
        from tinyrnn.deploy.resilient_stream import stream_key, stream_windows

        elf = fw_elf
        stream = stream_windows(
            lambda: QemuBoard(elf, qemu_machine(env), timeout=timeout), tw.x_int8, runs,
            checkpoint=partial, key=stream_key(tw.x_int8, runs, elf.read_bytes()),
            progress=show, check=lambda d: _check_identity(d.info, summary, env))
        assert stream.info is not None
        info, results = stream.info, stream.ordered(len(tw.x_int8))
        link = stream.to_json()
        seconds["device"] = round(time.monotonic() - t, 1)
        if recheck > 0:
            with QemuBoard(fw_elf, qemu_machine(env), timeout=timeout) as dev2:
                dev2.identify()
                recheck_results = run_windows(dev2, tw.x_int8[:recheck], 1, pipelined=True)
    else:
        dev = open_serial(port, timeout=timeout)
        try:
            info = dev.identify()
            _check_identity(info, summary, env)
            results = run_windows(dev, tw.x_int8, runs, pipelined=False, progress=show)
        finally:
            dev.close()
        seconds["device"] = round(time.monotonic() - t, 1)

    t = time.monotonic()
    host_out = _host_reference(model_dir, tinyrnn_dir, info.backend, tw, card)
    seconds["host"] = round(time.monotonic() - t, 2)

    dev_out = np.array([r.output for r in results], dtype=np.int8)
    diff = np.abs(dev_out.astype(np.int32) - host_out.astype(np.int32))
    dev_pred = np.array([r.cls for r in results])
    host_pred = np.argmax(host_out, axis=1)
    counts = [r.count for r in results]
    within = all(r.count_min == r.count_max for r in results) if runs > 1 else None
    across = None
    if recheck_results:
        across = all(a.count == b.count and a.output == b.output
                     for a, b in zip(recheck_results, results, strict=False))
    repeat = [v for v in (within, across) if v is not None]

    mem = memory_usage(fw_elf) if fw_elf is not None else None
    params = None
    if fw_elf is not None and info.backend == "tinyrnn":
        try:
            params = parameter_bytes(fw_elf).to_json()
        except ElfError as exc:
            params = {"error": str(exc)}
    card_bytes = card.get("int8_weight_bytes")
    padding = _padding_linked(summary, params)
    evaluation = {}
    if (model_dir / "evaluation.json").is_file():
        evaluation = _read_json(model_dir / "evaluation.json").get("runtimes", {})
    mean_count = statistics.fmean(counts)

    result: dict[str, Any] = {
        "model": name,
        "cell": card.get("cell"),
        "env": env,
        "board": info.board,
        "cpu": info.cpu,
        "backend": info.backend,
        "emulated": emulated,
        "port": port,
        "windows": len(results),
        "test_windows_total": tw.total,
        "limit": limit,
        "accuracy": None if tw.y is None else float(np.mean(dev_pred == tw.y)),
        "host_accuracy": None if tw.y is None else float(np.mean(host_pred == tw.y)),
        "host_reference": "tflite-micro interpreter" if info.backend == "tflm"
        else "host build of the same generated C (convert/aot/hostbuild.py)",
        "host_tflm_int8_accuracy_all_windows": evaluation.get("tflm_int8", {}).get("accuracy"),
        "windows_outputs_differ": int(np.sum(diff.max(axis=1) > 0)),
        "windows_predictions_differ": int(np.sum(dev_pred != host_pred)),
        "max_lsb_difference": int(diff.max()) if diff.size else 0,
        "flash_bytes": mem.flash if mem else None,
        "ram_bytes": mem.ram if mem else None,
        "stack_reserved_bytes": mem.stack if mem else None,
        "sections": {k: v for k, v in mem.sections.items() if not k.startswith((".debug", ".comment"))}
        if mem else None,
        "model_arena_bytes": info.arena_bytes,
        "model_state_bytes": info.state_bytes,
        "parameter_bytes": params,
        "card_int8_weight_bytes": card_bytes,
        "weight_padding_bytes": padding,
        "parameter_bytes_match_card": _weights_match(params, card_bytes, padding),
        "parameter_bytes_note": _parameter_note(params, card_bytes, padding)
        if params and "int8_weights" in params else None,
        "counter": {"unit": info.counter_unit, "label": counter_label(info.counter_unit),
                    "resolution": info.counter_resolution},
        "per_inference": _stats(counts),
        "macs": info.macs,
        "per_mac": round(mean_count / info.macs, 3) if info.macs else None,
        "counts_identical_over_two_runs": all(repeat) if repeat else None,
        "repeat_check": {
            "runs_per_window_same_session": runs,
            "identical_within_session": within,
            "windows_rerun_in_second_session": len(recheck_results),
            "identical_across_sessions": across,
        },
        "seconds": seconds,
        "link": link,
        "firmware": str(fw_elf) if fw_elf else None,
        "predictions": dev_pred.tolist(),
        "test_indices": tw.indices.tolist() if limit is not None else None,
    }
    if write:
        out = model_dir / f"device-{env}.json"
        write_text_atomic(out, json.dumps(result, indent=2) + "\n")
        partial.unlink(missing_ok=True)  # every confirmed window is in the result now
        result["path"] = str(out)
    return result


def _check_identity(info: DeviceInfo, summary: dict, env: str) -> None:
    if info.model != summary.get("name"):
        raise DeviceEvalError(
            f"the board on {env} runs model {info.model!r}, not {summary.get('name')!r}: flash it "
            f"with `tinyrnn device flash --env {env} --model-dir <model>/tinyrnn` (Arduino-core "
            f"boards: `tinyrnn device info --env {env} --port PORT --flash --model-dir ...`)"
        )
    if info.input_size != int(summary["steps"]) * int(summary["channels"]):
        raise DeviceEvalError(f"device input size {info.input_size} does not match the model's "
                              f"{summary['steps']}x{summary['channels']}")


def format_table(result: dict[str, Any]) -> str:
    """Host vs device, one line per quantity."""
    unit = result["counter"]["label"]
    params = result.get("parameter_bytes") or {}
    per = result["per_inference"]

    def n(v: Any) -> str:
        if v is None:
            return "n/a"
        if isinstance(v, bool):
            return "yes" if v else "NO"
        return f"{v:,}" if isinstance(v, int) else str(v)

    rows = [
        ("", "host", "device"),
        ("windows", n(result["windows"]), n(result["windows"])),
        ("accuracy", *(("no labels", "no labels") if result["accuracy"] is None else
                       (f"{result['host_accuracy']:.4f}", f"{result['accuracy']:.4f}"))),
        ("windows whose outputs differ", "", n(result["windows_outputs_differ"])),
        ("int8 weight bytes", n(result["card_int8_weight_bytes"]) + " (card)"
         + (f" + {result['weight_padding_bytes']} zero padding"
            if result.get("weight_padding_bytes") else ""),
         n(params.get("int8_weights")) + " (ELF)"),
        ("all parameter bytes", "", n(params.get("total")) + " (ELF)"),
        ("flash / RAM bytes", "", f"{n(result['flash_bytes'])} / {n(result['ram_bytes'])}"),
        (f"{unit} / inference", "", f"{per['mean']:,.0f} (min {per['min']:,}, max {per['max']:,})"),
        (f"{unit} / MAC", "", n(result["per_mac"])),
        ("counts identical over two runs", "", n(result["counts_identical_over_two_runs"])),
    ]
    link = result.get("link")
    if link:
        rows.append(("link retries / board sessions", "",
                     f"{link['retries']} / {link['sessions']}"
                     + (f" (resumed {link['resumed_windows']} windows)" if link["resumed_windows"]
                        else "")))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    head = (f"{result['model']} on {result['board']} ({result['cpu']}, backend "
            f"{result['backend']}{', emulated' if result['emulated'] else ''})")
    lines = [head] + [f"  {a:<{w0}}  {b:>{w1}}  {c}" for a, b, c in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m tinyrnn.deploy.device_eval")
    p.add_argument("model_dir", type=Path)
    p.add_argument("--env", default=DEFAULT_ENV)
    p.add_argument("--port")
    p.add_argument("--limit", type=int)
    a = p.parse_args(argv)
    try:
        r = run_device_step(a.model_dir, a.env, a.port, a.limit)
    except (DeviceError, DeviceEvalError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(format_table(r))
    return 0 if r["windows_outputs_differ"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
