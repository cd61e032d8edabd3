"""tinyrnn against TensorFlow Lite Micro on the emulated boards: one row per (model, board, backend
and graph), measured on the device.

For each trained model the rows are:

* ``tinyrnn``: the deployable int8 model compiled to tinyrnn C; reference: the host build of the
  same C (bit-exact by contract);
* ``tflm`` (reference kernels) and ``tflm-cmsis-nn`` on the ``.tflite`` TF made (``int8.tflite``:
  the fused LSTM, or TF's unrolled GRU/SimpleRNN graph); reference: the tflite-micro host
  interpreter (TFLM's reference kernels) -- exact for ``tflm``, measured for CMSIS-NN;
* GRU/SimpleRNN also ``tflm`` and ``tflm-cmsis-nn`` on ``int8_custom.tflite`` with the
  ``TINYRNN_GRU``/``TINYRNN_RNN`` custom ops (tinyrnn's C kernels inside TFLM); reference: the
  host build of the tinyrnn C of the same model.

Per row: instructions (emulated) per inference, flash, static RAM (.data + .bss, the TFLM arena
included, the reserved stack not), the stack's high-water mark read from the device after the run
(``mem``: the stack is painted at boot), windows, windows whose outputs differ from the reference,
exact-match rate and largest difference in LSB. A graph that does not fit the board is a row with
status ``does not fit`` and what it needs against what the board has.

    run_compare(models, envs) -> rows; write_compare(rows, build/report/device_compare.json)
"""

from __future__ import annotations

import json
import re
import statistics
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyrnn.deploy.firmware import BuildError, FirmwareBuild, build, memory_usage, qemu_machine
from tinyrnn.deploy.tflm_firmware import (
    TFLM_BACKENDS,
    TflmModel,
    TflmModelError,
    build_tflm,
)
from tinyrnn.deploy.tflm_lib import QEMU_BOARDS_DIR, TflmBuildError, TflmUnavailable, unavailable_reason

RUNS_PER_WINDOW = 1
# One reference at a time: a model's host build is one shared library per process (its C keeps
# the state in statics), which the tinyrnn row and the custom-op rows of that model both load.
_REFERENCE_LOCK = threading.Lock()
STATIC_RAM_SECTIONS = (".data", ".bss")


@dataclass(frozen=True)
class Target:
    """One firmware to measure: a backend running one graph of one model."""

    backend: str           # tinyrnn | tflm | tflm-cmsis-nn
    graph_file: str        # int8.tflite | int8_custom.tflite (tinyrnn: its source)
    graph: str             # words for the report


def targets_for(model_dir: Path) -> list[Target]:
    cell = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))["train"]["cell"]
    custom = (model_dir / "int8_custom.tflite").is_file()
    tf_graph = "fused LSTM op" if cell == "lstm" else f"TF's unrolled int8 {cell.upper()} graph"
    out = [Target("tinyrnn", "int8_custom.tflite" if custom else "int8.tflite", "tinyrnn C")]
    for b in TFLM_BACKENDS:
        if (model_dir / "int8.tflite").is_file():
            out.append(Target(b, "int8.tflite", tf_graph))
        if custom:
            op = "TINYRNN_GRU" if cell == "gru" else "TINYRNN_RNN"
            out.append(Target(b, "int8_custom.tflite", f"{op} custom op (tinyrnn kernel)"))
    return out


def _board_limits(env: str) -> dict[str, int]:
    b = json.loads((QEMU_BOARDS_DIR / f"{env}.json").read_text(encoding="utf-8"))["upload"]
    return {"FLASH": int(b["maximum_size"]), "RAM": int(b["maximum_ram_size"])}


def _does_not_fit(exc: BuildError, env: str) -> dict[str, Any] | None:
    """Regions the link overflowed: needed vs available bytes, from the linker's message."""
    over = re.findall(r"region [`'](\w+)' overflowed by (\d+) bytes", exc.log or str(exc))
    if not over:
        return None
    limits = _board_limits(env)
    need = {}
    for region, excess in over:
        have = limits.get(region)
        need[region.lower()] = {"available_bytes": have,
                                "needed_bytes": have + int(excess) if have else None,
                                "over_by_bytes": int(excess)}
    return need


def _obviously_too_big(model_dir: Path, env: str, target: Target) -> dict[str, Any] | None:
    """Flash a TFLM graph cannot fit before any code is counted: the flatbuffer alone (skips a
    build that can only fail at the link; the host's arena is no bound for the board's RAM, its
    64-bit pointers make it larger)."""
    if target.backend == "tinyrnn":
        return None
    limits = _board_limits(env)
    need = {}
    size = (model_dir / target.graph_file).stat().st_size
    if size > limits["FLASH"]:
        need["flash"] = {"available_bytes": limits["FLASH"], "needed_bytes": size,
                         "what": "the .tflite alone"}
    return need or None


def _reference(model_dir: Path, target: Target, x_int8: np.ndarray, x_float: np.ndarray
               ) -> tuple[np.ndarray, str]:
    if target.backend == "tinyrnn" or target.graph_file == "int8_custom.tflite":
        from tinyrnn.convert.aot.hostbuild import HostModel
        from tinyrnn.deploy.firmware import default_build_dir

        cdir = model_dir / "tinyrnn"
        host = HostModel(cdir, default_build_dir(cdir) / "host")
        what = ("host build of the same tinyrnn C" if target.backend == "tinyrnn" else
                "tinyrnn C of the same model, host build (== numpy reference)")
        return np.stack([host.invoke(w) for w in x_int8]), what
    from tinyrnn.convert.runtimes import run_tflm

    card = json.loads((model_dir / "card.json").read_text(encoding="utf-8"))
    arena = int(card.get("int8_tflm_arena_bytes") or 1 << 20) + 4096
    out = run_tflm(model_dir / target.graph_file, x_float, arena).raw.astype(np.int8)
    return out, "tflite-micro host interpreter (TFLM reference kernels)"


def _windows(model_dir: Path, graph_file: str, limit: int | None):
    from tinyrnn.convert.tflite_info import inspect_file
    from tinyrnn.deploy.device_eval import quantized_test_windows

    q = inspect_file(model_dir / graph_file).inputs[0]
    return quantized_test_windows(model_dir, float(q.scale), int(q.zero_point), limit)


def _build(model_dir: Path, env: str, target: Target) -> tuple[FirmwareBuild, dict[str, Any]]:
    if target.backend == "tinyrnn":
        from tinyrnn.deploy.device_eval import ensure_compiled

        cdir = ensure_compiled(model_dir)
        return build(env, cdir), {}
    model = TflmModel.from_model_dir(model_dir, target.graph_file)
    fw = build_tflm(model, env, target.backend)
    return fw.firmware, {"arena_bytes": fw.arena_bytes, "arena_sized_from": fw.arena_source}


def measure(model_dir: Path, env: str, target: Target, limit: int | None,
            timeout: float = 60.0) -> dict[str, Any]:
    """Build, stream the windows, read the stack high-water mark, compare: one row."""
    from tinyrnn.deploy.device_eval import run_windows
    from tinyrnn.deploy.link import QemuBoard

    model_dir = Path(model_dir)
    card = json.loads((model_dir / "card.json").read_text(encoding="utf-8"))
    row: dict[str, Any] = {
        "model": model_dir.name, "cell": card.get("cell"), "board": env,
        "backend": target.backend, "graph": target.graph, "model_file": target.graph_file,
        "macs": card.get("macs_per_inference"),
    }
    start = time.monotonic()
    early = _obviously_too_big(model_dir, env, target)
    if early:
        row.update(status="does not fit", fit=early,
                   detail="; ".join(f"{r}: needs more than {v['needed_bytes']:,} B ({v['what']}), "
                                    f"board has {v['available_bytes']:,} B"
                                    for r, v in early.items()))
        return row
    try:
        fw, extra = _build(model_dir, env, target)
    except BuildError as exc:
        need = _does_not_fit(exc, env)
        if need is None:
            raise
        row.update(status="does not fit", fit=need,
                   detail="; ".join(f"{r}: needs {v['needed_bytes']:,} B, board has "
                                    f"{v['available_bytes']:,} B" for r, v in need.items()))
        return row
    row.update(extra)
    tw = _windows(model_dir, target.graph_file, limit)
    with QemuBoard(fw.elf, qemu_machine(env), timeout=timeout) as dev:
        info = dev.identify()
        results = run_windows(dev, tw.x_int8, RUNS_PER_WINDOW, pipelined=True)
        mem = dev.memory()
        if "arena_used" in info.fields:
            row["arena_used_bytes"] = int(info.fields["arena_used"])
    with _REFERENCE_LOCK:
        ref, what = _reference(model_dir, target, tw.x_int8, tw.x_float)
    dev_out = np.array([r.output for r in results], dtype=np.int8)
    diff = np.abs(dev_out.astype(np.int32) - ref.astype(np.int32))
    differing = int(np.sum(diff.max(axis=1) > 0))
    counts = [r.count for r in results]
    sections = memory_usage(fw.elf).sections
    static_ram = sum(sections.get(s, 0) for s in STATIC_RAM_SECTIONS)
    flash = memory_usage(fw.elf).flash
    row.update(
        status="ok",
        instructions_per_inference=int(statistics.median(counts)),
        instructions_min=min(counts), instructions_max=max(counts),
        flash_bytes=flash, static_ram_bytes=static_ram,
        stack_peak_bytes=int(mem["stack_used"]),
        peak_ram_bytes=static_ram + int(mem["stack_used"]),
        windows=len(results), outputs_differing=differing,
        exact_match_rate=round(1 - differing / len(results), 4) if results else None,
        max_lsb_diff=int(diff.max()) if diff.size else 0,
        reference=what,
        accuracy=float(np.mean(np.array([r.cls for r in results]) == tw.y)),
        counter="instructions (emulated)" if info.counter_unit == "instructions_emulated"
        else info.counter_unit,
        seconds=round(time.monotonic() - start, 1),
    )
    return row


def run_compare(model_dirs: Iterable[Path], envs: Iterable[str], limit: int | None,
                backends: Iterable[str] | None = None, progress: bool = True, workers: int = 1,
                stop: threading.Event | None = None) -> list[dict[str, Any]]:
    """Every target of every model on every board; TFLM rows are skipped (with the reason in a
    row) when TFLM cannot be built here. A failure becomes a row with its error.

    ``workers`` targets run at once (a target's row is a PlatformIO build and a single-threaded
    QEMU, so two fill two cores); one target's boards run in turn because they share its firmware
    folder (the probed arena is per core). The rows' order does not depend on ``workers``:
    model, then board, then target. Once ``stop`` is set no new row starts (the rows left out
    are missing from the result)."""
    skip = unavailable_reason()
    wanted = set(backends) if backends else None
    envs = list(envs)
    jobs = [(mi, ti, Path(m), t) for mi, m in enumerate(model_dirs)
            for ti, t in enumerate(targets_for(Path(m)))
            if wanted is None or t.backend in wanted]
    # tinyrnn targets first: they need no TFLM library, which may still be compiling.
    jobs.sort(key=lambda j: j[3].backend != "tinyrnn")

    def one_target(job: tuple[int, int, Path, Target]) -> list[tuple[tuple[int, int, int], dict]]:
        mi, ti, model_dir, target = job
        rows = []
        for ei, env in enumerate(envs):
            if stop is not None and stop.is_set():
                break
            base = {"model": model_dir.name, "board": env, "backend": target.backend,
                    "graph": target.graph, "model_file": target.graph_file}
            if target.backend != "tinyrnn" and skip:
                rows.append(((mi, ei, ti), base | {"status": "skipped", "detail": skip}))
                continue
            if progress:
                print(f"[compare] {base['model']} on {env}: {target.backend} ({target.graph})",
                      flush=True)
            try:
                row = measure(model_dir, env, target, limit)
            except (BuildError, TflmModelError, TflmBuildError, TflmUnavailable,
                    RuntimeError, ValueError, OSError) as exc:
                row = base | {"status": "failed", "detail": str(exc)[-600:]}
            rows.append(((mi, ei, ti), row))
            if progress:
                print(f"[compare]   {base['model']} on {env}, {target.backend}: {_summary(row)}",
                      flush=True)
        return rows

    if workers <= 1:
        done = [one_target(j) for j in jobs]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            done = list(pool.map(one_target, jobs))
    return [row for _, row in sorted((kr for rows in done for kr in rows), key=lambda kr: kr[0])]


def _summary(row: dict[str, Any]) -> str:
    if row.get("status") != "ok":
        return f"{row.get('status')}: {row.get('detail', '')[:200]}"
    return (f"{row['instructions_per_inference']:,} instructions (emulated), flash "
            f"{row['flash_bytes']:,} B, static RAM {row['static_ram_bytes']:,} B, stack peak "
            f"{row['stack_peak_bytes']:,} B, {row['outputs_differing']}/{row['windows']} windows "
            f"differ (max {row['max_lsb_diff']} LSB) from the {row['reference']}")


def write_compare(rows: list[dict[str, Any]], path: Path) -> Path:
    from tinyrnn.core.buildtree import write_json

    write_json(path, rows)
    return path


def eval_backend(model_dir: Path, env: str, backend: str, limit: int | None) -> list[dict[str, Any]]:
    """``tinyrnn device eval MODEL --backend tflm|tflm-cmsis-nn``: every graph of the model on
    that backend, written to ``<model_dir>/compare-<env>-<backend>.json``."""
    reason = unavailable_reason()
    if reason:
        raise TflmUnavailable(reason)
    rows = [measure(model_dir, env, t, limit) for t in targets_for(model_dir)
            if t.backend == backend]
    if not rows:
        raise TflmModelError(f"{model_dir.name} has no .tflite the {backend} backend can run")
    write_compare(rows, Path(model_dir) / f"compare-{env}-{backend}.json")
    return rows


def format_rows(rows: list[dict[str, Any]]) -> str:
    return "\n".join(f"{r['model']} on {r['board']}, {r['backend']} ({r['graph']}): {_summary(r)}"
                     for r in rows)
