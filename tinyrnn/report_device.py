"""Device columns of the report: what each model cost and did on each board.

``device_section(root)`` reads ``<root>/models/*/device-<env>.json`` (written by
``tinyrnn device eval``, deploy/device_eval.py) and, when present, ``<root>/budget/results.json``
(``tinyrnn budget``: untrained smartwatch-shaped models on every emulated board) and returns
markdown lines. QEMU counts instructions, not cycles; the tables say so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _load(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _n(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "**no**"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.0f}" if v >= 1000 else f"{v:.2f}"
    return str(v)


def _counter_label(d: dict[str, Any]) -> str:
    unit = d.get("counter", {}).get("unit", "")
    return "instructions (emulated)" if unit == "instructions_emulated" else (unit or "count")


def device_rows(root: Path) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(Path(root).glob("models/*/device-*.json")):
        d = _load(path)
        if d is not None and "per_inference" in d:
            rows.append(d)
    order = {"lstm": 0, "gru": 1, "rnn": 2}
    rows.sort(key=lambda d: (order.get(str(d.get("cell")), 9), str(d.get("model")),
                             str(d.get("env"))))
    return rows


def device_section(root: Path) -> list[str]:
    """Markdown lines for the report (empty when nothing ran on a device)."""
    rows = device_rows(root)
    budget = _load(Path(root) / "budget" / "results.json")
    if not rows and not budget:
        return []
    out = ["## On the device", ""]
    if rows:
        out += [
            "Each trained model's test windows streamed over the serial protocol to the firmware "
            "(PlatformIO build, tinyrnn backend) and compared window by window with the host build "
            "of the same generated C. Flash and RAM are the ELF's sections (RAM includes the "
            "firmware's 8 KB stack); counts come from QEMU with `-icount shift=0`, so they are "
            "**instructions (emulated)**, exact and repeatable but not cycles.",
            "",
            "| model | board | backend | flash B | RAM B | instructions (emulated) / inference "
            "| instructions / MAC | device accuracy | host accuracy | windows | outputs differing "
            "| counts repeat |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for d in rows:
            per = d.get("per_inference", {})
            label = _counter_label(d)
            count = _n(per.get("mean"))
            if label != "instructions (emulated)":
                count += f" ({label})"
            out.append(
                f"| {d.get('model')} | {d.get('board')} | {d.get('backend')} "
                f"| {_n(d.get('flash_bytes'))} | {_n(d.get('ram_bytes'))} | {count} "
                f"| {_n(d.get('per_mac'))} | {d.get('accuracy', 0):.4f} "
                f"| {d.get('host_accuracy', 0):.4f} | {_n(d.get('windows'))} "
                f"| {_n(d.get('windows_outputs_differ'))} "
                f"| {_n(d.get('counts_identical_over_two_runs'))} |")
        notes = [(d.get("model"), d["parameter_bytes_note"]) for d in rows
                 if d.get("parameter_bytes_note")]
        mismatched = [d["model"] for d in rows if d.get("parameter_bytes") and
                      not d.get("parameter_bytes_match_card")]
        out.append("")
        if mismatched:
            out.append(f"Parameter bytes in the ELF do **not** match the card for: "
                       f"{', '.join(sorted(set(mismatched)))}.")
        elif rows:
            out.append("Parameter bytes: the int8 weight arrays in every ELF equal the model "
                       "card's `int8_weight_bytes`.")
        for model, note in notes:
            out.append(f"- {model}: {note}")
        out.append("")
    if budget and budget.get("measurements"):
        out += [
            "### Size budgets (`tinyrnn budget`)",
            "",
            "Smartwatch-shaped models generated untrained from a fixed seed (sizes and "
            "instruction counts depend on shapes, not training), on every emulated board. "
            f"Check {'passed' if budget.get('passed') else '**failed**'}; growth threshold "
            f"{budget.get('threshold_percent')}% over the stored baseline.",
            "",
            "| model | board | flash B | RAM B | model bytes | instructions (emulated) / inference "
            "| instructions / MAC | cycles (estimated) / MAC | timing model |",
            "|---|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for m in budget["measurements"]:
            out.append(f"| {m['model']} | {m['env']} | {_n(m['flash_bytes'])} | {_n(m['ram_bytes'])} "
                       f"| {_n(m['model_bytes'])} | {_n(m['instructions_per_inference'])} "
                       f"| {_n(m['instructions_per_mac'])} "
                       f"| {_n(m.get('cycles_estimated_per_mac', ''))} "
                       f"| {m.get('timing_model', '')} |")
        out += ["", "Cycles are estimated: QEMU's executed instruction stream folded with the "
                "core's timing model (docs/cycle-model.md), not measured."]
        out.append("")
    return out
