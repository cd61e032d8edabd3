"""Report section: tinyrnn against TensorFlow Lite Micro on every emulated board, from
``<root>/report/device_compare.json`` (deploy/device_compare.py, written by the main job).

One table row per (model, board, backend, graph) and, per model and board, the ratios
tinyrnn / TFLM+CMSIS-NN (instructions, flash, peak RAM = static RAM + stack peak). QEMU counts
instructions, not cycles: the tables say "instructions (emulated)".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

COMPARE_FILE = "device_compare.json"
_CELL_ORDER = {"lstm": 0, "gru": 1, "rnn": 2}
_BACKEND_ORDER = {"tinyrnn": 0, "tflm-cmsis-nn": 1, "tflm": 2}


def load_rows(root: Path) -> list[dict[str, Any]]:
    try:
        rows = json.loads((Path(root) / "report" / COMPARE_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return []
    return rows if isinstance(rows, list) else []


def _n(v: Any) -> str:
    if v is None:
        return "n/a"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _key(r: dict[str, Any]) -> tuple:
    return (_CELL_ORDER.get(str(r.get("cell")), 9), str(r.get("model")), str(r.get("board")),
            _BACKEND_ORDER.get(str(r.get("backend")), 9), str(r.get("model_file")))


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """tinyrnn / TFLM+CMSIS-NN per (model, board), against the graph TF made (the fused LSTM, or
    TF's unrolled GRU/RNN) and, for GRU/RNN, against the custom-op graph in TFLM."""
    ok = [r for r in rows if r.get("status") == "ok"]
    out = []
    for t in (r for r in ok if r["backend"] == "tinyrnn"):
        for c in ok:
            if (c["backend"] != "tflm-cmsis-nn" or c["model"] != t["model"]
                    or c["board"] != t["board"]):
                continue
            out.append({
                "model": t["model"], "board": t["board"], "versus": c["graph"],
                "instructions": round(t["instructions_per_inference"]
                                      / c["instructions_per_inference"], 3),
                "flash": round(t["flash_bytes"] / c["flash_bytes"], 3),
                "peak_ram": round(t["peak_ram_bytes"] / c["peak_ram_bytes"], 3),
            })
    return out


def compare_section(root: Path) -> list[str]:
    rows = sorted(load_rows(root), key=_key)
    if not rows:
        return []
    out = [
        "## tinyrnn against TensorFlow Lite Micro on the device",
        "",
        "Each firmware built offline (PlatformIO, same harness and serial protocol), test windows "
        "streamed to QEMU and compared window by window with the backend's reference. `tflm` = "
        "TFLM reference kernels, `tflm-cmsis-nn` = TFLM with the CMSIS-NN kernels (DSP/SIMD on "
        "M4/M7/M33, plain C on the M3). Static RAM = .data + .bss (TFLM arena included, the "
        "reserved stack not); stack peak = the painted stack's high-water mark read from the "
        "device after the run; peak RAM = both. Counts are **instructions (emulated)** "
        "(QEMU -icount), not cycles.",
        "",
        "| model | board | backend | graph | instructions (emulated) / inference | flash B "
        "| static RAM B | stack peak B | peak RAM B | windows | outputs differing | max LSB "
        "| reference |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        if r.get("status") != "ok":
            out.append(f"| {r.get('model')} | {r.get('board')} | {r.get('backend')} "
                       f"| {r.get('graph')} | **{r.get('status')}** | | | | | | | "
                       f"| {str(r.get('detail', ''))[:160]} |")
            continue
        out.append(
            f"| {r['model']} | {r['board']} | {r['backend']} | {r['graph']} "
            f"| {_n(r['instructions_per_inference'])} | {_n(r['flash_bytes'])} "
            f"| {_n(r['static_ram_bytes'])} | {_n(r['stack_peak_bytes'])} "
            f"| {_n(r['peak_ram_bytes'])} | {_n(r['windows'])} | {_n(r['outputs_differing'])} "
            f"| {_n(r['max_lsb_diff'])} | {r['reference']} |")
    rat = ratios(rows)
    if rat:
        out += ["", "Ratios tinyrnn / TFLM+CMSIS-NN (below 1: tinyrnn is smaller or faster):", "",
                "| model | board | TFLM+CMSIS-NN graph | instructions | flash | peak RAM |",
                "|---|---|---|---:|---:|---:|"]
        for q in rat:
            out.append(f"| {q['model']} | {q['board']} | {q['versus']} | {q['instructions']} "
                       f"| {q['flash']} | {q['peak_ram']} |")
    out.append("")
    return out
