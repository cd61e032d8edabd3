"""report.md and its plots: what each cell costs and how accurate it stays, from the build tree.

Everything is read from the per-model JSON files (metrics, cards, evaluations); nothing is
recomputed here, so the report always describes the artifacts that exist.
"""

from __future__ import annotations

import datetime as dt
import platform
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyrnn.core.buildtree import (
    DEFAULT_ROOT,
    ModelFolder,
    read_json,
    report_dir,
    trained_models,
    write_figure,
    write_text_atomic,
)
from tinyrnn.core.experiment import CELLS, MAIN_DATASET, MEMORY_DATASETS
from tinyrnn.report_frontier import frontier_section

CELL_TITLE = {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN"}


@dataclass
class ModelRecord:
    name: str
    dataset: str
    cell: str
    units: int
    seed: int
    config: dict
    metrics: dict
    card: dict | None
    evaluation: dict | None


def load_records(root: Path) -> list[ModelRecord]:
    records = []
    for d in trained_models(root):
        folder = ModelFolder(d)
        cfg = folder.config()
        t = cfg["train"]
        records.append(ModelRecord(
            name=d.name, dataset=cfg["dataset"]["name"], cell=t["cell"], units=t["units"], seed=t["seed"],
            config=cfg, metrics=folder.metrics(), card=folder.card(), evaluation=folder.evaluation(),
        ))
    return records


def mean_std(values: list[float]) -> str:
    if not values:
        return "n/a"
    a = 100 * np.asarray(values)
    return f"{a.mean():.1f} ± {a.std(ddof=1) if len(a) > 1 else 0.0:.1f} (n={len(a)})"


def _acc(r: ModelRecord, runtime: str) -> float | None:
    if r.evaluation and runtime in r.evaluation["runtimes"]:
        return r.evaluation["runtimes"][runtime]["accuracy"]
    if runtime == "keras_float":
        return r.metrics["float_test_accuracy"]
    return None


def _by_cell(records: list[ModelRecord], dataset: str) -> dict[str, list[ModelRecord]]:
    groups: dict[str, list[ModelRecord]] = defaultdict(list)
    for r in records:
        if r.dataset == dataset:
            groups[r.cell].append(r)
    return {c: sorted(groups[c], key=lambda r: r.seed) for c in CELLS if c in groups}


def _values(rs: list[ModelRecord], runtime: str) -> list[float]:
    return [a for a in (_acc(r, runtime) for r in rs) if a is not None]


def _fmt(v) -> str:
    return f"{v:,}" if isinstance(v, int) else "n/a"


def cost_table(groups: dict[str, list[ModelRecord]]) -> list[str]:
    lines = [
        "| cell | Keras params | closed form | MACs / inference | TF int8 weight bytes | "
        "float .tflite | TF int8 .tflite (graph) | TFLM arena, TF int8 (host) | "
        "deployable int8 .tflite | tinyrnn weights / RAM / flash est. |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for cell, rs in groups.items():
        r = rs[0]
        c = r.card or {}
        v = c.get("variants", {})
        fl, q = v.get("float", {}), v.get("int8", {})
        dep = next((x for x in v.values() if x.get("file") == c.get("deployable_int8")), {})
        tr = c.get("tinyrnn", {})
        same = r.metrics["keras_params"] == r.metrics["formula_params"]
        lines.append(
            f"| {CELL_TITLE[cell]} | {r.metrics['keras_params']:,} | "
            f"{r.metrics['formula_params']:,} {'(equal)' if same else '(DIFFERS)'} | "
            f"{_fmt(c.get('macs_per_inference'))} | {_fmt(c.get('tf_int8_weight_bytes'))} | "
            f"{_fmt(fl.get('tflite_bytes'))} ({fl.get('graph', fl.get('status', '-'))}) | "
            f"{_fmt(q.get('tflite_bytes'))} ({q.get('graph', q.get('status', '-'))}) | "
            f"{_fmt(q.get('tflm_arena', {}).get('arena_bytes'))} | "
            f"{_fmt(dep.get('tflite_bytes'))} ({dep.get('graph', '-')}) | "
            + (f"{tr['weight_bytes']:,} B / {tr['arena_bytes'] + tr['state_bytes']:,} B / "
               f"{tr['flash_estimate_bytes']:,} B |" if tr else "n/a |")
        )
    return lines


def accuracy_table(groups: dict[str, list[ModelRecord]]) -> list[str]:
    runtimes = ["keras_float", "tflite_float", "tflite_int8", "tflm_int8", "tinyrnn_int8"]
    lines = ["| cell | seeds | epochs run | " + " | ".join(runtimes) + " | deployed int8 − float |",
             "|---|---|---|" + "---|" * len(runtimes) + "---|"]
    for cell, rs in groups.items():
        deltas = [r.evaluation["int8_minus_float_points"] for r in rs
                  if r.evaluation and "int8_minus_float_points" in r.evaluation]
        delta = (f"{np.mean(deltas):+.2f} pts (worst {max(deltas, key=abs):+.2f})"
                 if deltas else "n/a")
        lines.append(
            f"| {CELL_TITLE[cell]} | {', '.join(str(r.seed) for r in rs)} | "
            f"{', '.join(str(r.metrics['epochs_run']) for r in rs)} | "
            + " | ".join(mean_std(_values(rs, rt)) for rt in runtimes) + f" | {delta} |"
        )
    return lines


def conversion_table(groups: dict[str, list[ModelRecord]]) -> list[str]:
    lines = ["| cell | variant | outcome | bytes | ops |", "|---|---|---|---|---|"]
    for cell, rs in groups.items():
        probed = next((r for r in rs if r.card and any(
            v.get("status") in ("crashed", "failed") for v in r.card["variants"].values())), rs[0])
        if not probed.card:
            continue
        for key, v in probed.card["variants"].items():
            ops = ", ".join(f"{k}×{n}" for k, n in v.get("ops", {}).items())
            if len(ops) > 80:
                ops = f"{sum(v['ops'].values())} ops ({len(v['ops'])} kinds)"
            outcome = v.get("graph", "") if v["status"] == "ok" else \
                f"**{v['status']}**: {v.get('error', '')}"
            lines.append(f"| {CELL_TITLE[cell]} | {key} | {outcome} | "
                         f"{v.get('tflite_bytes', '')} | {ops} |")
    return lines


def agreement_lines(groups: dict[str, list[ModelRecord]]) -> list[str]:
    lines = ["| cell | Keras~TFLite float | float~TFLM int8 | TFLite int8~TFLM int8 | "
             "max LSB (TFLite int8 vs TFLM) | windows differing |", "|---|---|---|---|---|---|"]
    for cell, rs in groups.items():
        ev = [r.evaluation for r in rs if r.evaluation]
        if not ev:
            continue

        def agree(key: str, ev=ev) -> str:
            vals = [e["agreement"][key] for e in ev if key in e["agreement"]]
            return f"{100 * min(vals):.1f}–{100 * max(vals):.1f}%" if vals else "n/a"

        lsb = [e["int8_lsb_difference"] for e in ev if "int8_lsb_difference" in e]
        differing = (f"{100 * np.mean([x['windows_differing'] for x in lsb]):.1f}%"
                     if lsb else "n/a")
        lines.append(
            f"| {CELL_TITLE[cell]} | {agree('keras_float~tflite_float')} | "
            f"{agree('keras_float~tflm_int8')} | {agree('tflite_int8~tflm_int8')} | "
            f"{max(x['max_lsb'] for x in lsb) if lsb else 'n/a'} | "
            f"{differing} |"
        )
    return lines


def answer_lines(watch: dict[str, list[ModelRecord]], memory: dict[str, list[ModelRecord]]
                 ) -> list[str]:
    lines = []
    if "lstm" in watch and "gru" in watch:
        lstm, gru = watch["lstm"][0], watch["gru"][0]
        p = gru.metrics["keras_params"] / lstm.metrics["keras_params"]
        macs = (gru.card["macs_per_inference"] / lstm.card["macs_per_inference"]
                if gru.card and lstm.card else float("nan"))
        fl = [100 * a for a in _values(watch["lstm"], "keras_float")]
        fg = [100 * a for a in _values(watch["gru"], "keras_float")]
        diff = np.mean(fg) - np.mean(fl) if fl and fg else float("nan")
        spread = max(np.std(fl, ddof=1), np.std(fg, ddof=1)) if len(fl) > 1 and len(fg) > 1 \
            else float("nan")
        if np.isnan(spread):
            verdict = "one seed per cell cannot tell (run with several seeds)"
        elif abs(diff) <= 2 * spread:
            verdict = "similar: the difference is within twice the seed spread"
        else:
            verdict = "GRU better" if diff > 0 else "GRU worse"
        lines.append(
            f"- **GRU vs LSTM cost**: at {lstm.units} units the GRU has {p:.2f}× the LSTM's "
            f"parameters and {macs:.2f}× its MACs (closed forms: 3/4 of the recurrent weights "
            f"plus 2u extra biases for reset_after).")
        lines.append(
            f"- **GRU vs LSTM accuracy** (float, {lstm.dataset}, {len(fg)} seeds): GRU "
            f"{np.mean(fg):.1f}% vs LSTM {np.mean(fl):.1f}% (difference {diff:+.1f} points, "
            f"largest per-cell seed spread {spread:.1f}): {verdict}.")
        gv = gru.card["variants"] if gru.card else {}
        lv = lstm.card["variants"] if lstm.card else {}
        unrolled = gv.get("int8", {}).get("tflite_bytes")
        custom = gv.get("int8_custom", {}).get("tflite_bytes")
        lstm_bytes = lv.get("int8", {}).get("tflite_bytes")
        gq = [100 * a for a in _values(watch["gru"], "tinyrnn_int8")]
        lq = [100 * a for a in _values(watch["lstm"], "tflm_int8")]
        if unrolled and custom and lstm_bytes:
            lines.append(
                f"- **In int8**: TF 2.21 gives the LSTM one fused op ({lstm_bytes:,} bytes) but "
                f"the GRU only as an unrolled graph ({unrolled:,} bytes, TFLM arena "
                f"{gv['int8'].get('tflm_arena', {}).get('arena_bytes', 0):,} B). With tinyrnn's "
                f"own int8 GRU (custom op) it is {custom:,} bytes, and its int8 accuracy is "
                f"{np.mean(gq):.1f}% vs the LSTM's {np.mean(lq):.1f}% (TFLM int8).")
        if gru.card and lstm.card and "tinyrnn" in gru.card and "tinyrnn" in lstm.card:
            gt, lt = gru.card["tinyrnn"], lstm.card["tinyrnn"]
            lines.append(
                f"- **tinyrnn runtime**: GRU {gt['weight_bytes']:,} weight bytes and "
                f"{gt['arena_bytes'] + gt['state_bytes']} B RAM vs LSTM {lt['weight_bytes']:,} "
                f"and {lt['arena_bytes'] + lt['state_bytes']} B "
                f"({gt['weight_bytes'] / lt['weight_bytes']:.2f}× the weights).")
    if memory:
        longest = max(memory, key=lambda n: memory[n][next(iter(memory[n]))][0].config["steps"])
        groups = memory[longest]
        first = groups[next(iter(groups))][0]
        chance = 100 / first.config["num_classes"]
        accs = {c: [100 * a for a in _values(rs, "keras_float")] for c, rs in groups.items()}
        rnn = float(np.mean(accs.get("rnn", [np.nan])))
        gated = {c: float(np.mean(accs[c])) for c in ("lstm", "gru") if c in accs}
        best = max(gated, key=gated.get) if gated else None
        if best and rnn < chance + 10 and gated[best] > rnn + 20:
            verdict = (f"yes: the plain RNN stays near chance while the {CELL_TITLE[best]} "
                       "learns the task")
        elif best and gated[best] > rnn + 5:
            verdict = "partly: a gated cell does better, but the RNN is not at chance"
        else:
            verdict = "no, not on this task and budget: the plain RNN did not fall behind"
        failed_gated = [CELL_TITLE[c] for c, v in gated.items() if v < chance + 10]
        caveat = (f" Note: {', '.join(failed_gated)} also stayed near chance at this length "
                  "within the training budget." if failed_gated else "")
        parts = ", ".join(f"{CELL_TITLE[c]} {mean_std([a / 100 for a in v])}"
                          for c, v in accs.items())
        lines.append(f"- **Long memory** ({first.config['dataset']['description']}; chance "
                     f"{chance:.0f}%): float test accuracy {parts}. Does the plain RNN fail on "
                     f"long memory? {verdict}.{caveat} Per length: see the long-memory table.")
    return lines


def _plots(watch: dict[str, list[ModelRecord]], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for cell, rs in watch.items():
        if not rs[0].card:
            continue
        for ax, xkey, xlabel in ((axes[0], "int8_weight_bytes", "int8 weight bytes"),
                                 (axes[1], "macs_per_inference", "MACs per inference")):
            x = rs[0].card.get(xkey) or rs[0].card.get("float_weight_bytes")
            for runtime, marker in (("keras_float", "o"), ("tflm_int8", "s")):
                vals = [100 * a for a in _values(rs, runtime)]
                if vals:
                    ax.errorbar([x], [np.mean(vals)], yerr=[np.std(vals)], fmt=marker,
                                capsize=4, label=f"{CELL_TITLE[cell]} {runtime}")
            ax.set_xlabel(xlabel)
            ax.set_ylabel("test accuracy (%)")
    axes[0].legend(fontsize=7)
    axes[0].set_title("accuracy vs parameter bytes")
    axes[1].set_title("accuracy vs MACs")
    fig.tight_layout()
    write_figure(out / "accuracy_vs_cost.png", fig, dpi=110)
    plt.close(fig)
    made.append("accuracy_vs_cost.png")

    cells = [c for c, rs in watch.items() if rs[0].evaluation]
    if cells:
        fig, axes = plt.subplots(1, len(cells), figsize=(4.2 * len(cells), 4))
        axes = np.atleast_1d(axes)
        for ax, cell in zip(axes, cells, strict=True):
            ev = watch[cell][0].evaluation
            runtime = "tflm_int8" if "tflm_int8" in ev["runtimes"] else "keras_float"
            cm = np.asarray(ev["runtimes"][runtime]["confusion"])
            ax.imshow(cm, cmap="Blues")
            names = ev["class_names"]
            ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
            ax.set_yticks(range(len(names)), names, fontsize=7)
            for (i, j), v in np.ndenumerate(cm):
                ax.text(j, i, str(v), ha="center", va="center", fontsize=6)
            ax.set_title(f"{CELL_TITLE[cell]} {runtime} (seed {watch[cell][0].seed})", fontsize=9)
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
        fig.tight_layout()
        write_figure(out / "confusion.png", fig, dpi=110)
        plt.close(fig)
        made.append("confusion.png")
    return made


def bench_section(root: Path, watch: dict[str, list[ModelRecord]]) -> list[str]:
    """tinyrnn runtime against TFLM on the same int8 LSTM, from `tinyrnn bench-aot` JSON."""
    rows = []
    for r in watch.get("lstm", []):
        path = root / "bench-aot" / f"{r.name}.json"
        if not path.is_file():
            continue
        b = read_json(path)
        ram, speed = b["ram"], b["host_speed"]
        code = b["code_cortex_m4_linked"]["dsp_os"]["code_bytes"]
        dev = b.get("device_mps2_an386", {}).get("dsp_os", {})
        rows.append(
            f"| {r.name} | {ram['tflm_arena_bytes']:,} | {ram['tinyrnn_total_bytes']:,} "
            f"({100 * ram['ratio']:.1f}%) | {code:,} | {speed['tflm_us']:.0f} | "
            f"{speed['tinyrnn_us']:.0f} ({speed['speedup']:.2f}×) | "
            f"{_fmt(dev.get('instructions_per_inference'))} "
            f"({dev.get('instructions_per_mac', float('nan')):.2f}/MAC) |")
    if not rows:
        return []
    return ["## tinyrnn runtime vs TFLM (same int8 LSTM)", "",
            "RAM: TFLM's smallest arena (tflite-micro, 64-bit host) against tinyrnn's static "
            "arena + recurrent state. Code: runtime code this model links for Cortex-M4, -Os, "
            "weights excluded. Host speed: one window per invoke, both measured in one run. "
            "Instructions: emulated Cortex-M4 (QEMU -icount), DSP path.", "",
            "| model | TFLM arena B | tinyrnn RAM B | tinyrnn code B | TFLM µs | tinyrnn µs | "
            "instructions (emulated) / inference |", "|---|---|---|---|---|---|---|", *rows, ""]


def split_words(split: dict) -> str:
    """How the data set was split, in words true for that split."""
    kind = split.get("kind")
    if "test_subjects" in split:
        return (f"split by subject (test subjects {split['test_subjects']}, training subjects "
                f"{split.get('train_subjects')})")
    if kind == "groups":
        return f"split by group (test groups {split['test_groups']})"
    if kind == "given":
        return "train and test sets as given in the file"
    if kind == "stratified":
        return (f"stratified random split, {split.get('test_fraction', 0.2):.0%} test, "
                f"seed {split.get('seed')}")
    return f"split {split}" if split else "split as generated"


def write_report(root: Path = DEFAULT_ROOT) -> Path:
    # The per-cell tables compare the main job's one shape (its models have cards); sweep-only
    # sizes, stacks and initialisations are in the frontier section.
    records = [r for r in load_records(root) if r.config["train"].get("layers", 1) == 1
               and r.config["train"].get("init", "default") == "default"]
    main_units = {r.units for r in records if r.card}
    if main_units:
        records = [r for r in records if r.units in main_units
                   and (r.card or r.dataset in MEMORY_DATASETS)]
    if not records:
        raise FileNotFoundError(f"no trained models under {root}; run `tinyrnn all` first")
    out = report_dir(root)
    out.mkdir(parents=True, exist_ok=True)
    datasets = sorted({r.dataset for r in records}, key=lambda n: (n != MAIN_DATASET, n))
    with_cards = [n for n in datasets if any(r.card for r in records if r.dataset == n)]
    main = MAIN_DATASET if MAIN_DATASET in with_cards else (with_cards or datasets)[0]
    watch = _by_cell(records, main)
    memory = {n: _by_cell(records, n) for n in MEMORY_DATASETS if n in datasets and n != main}
    others = [n for n in datasets if n != main and n not in MEMORY_DATASETS
              and any(r.card for r in records if r.dataset == n)]
    any_rec = next(iter(watch.values()))[0] if watch else records[0]
    t = any_rec.config["train"]
    lines = [
        f"# tinyrnn report: {' vs '.join(CELL_TITLE[c] for c in CELLS if c in watch)} on "
        f"{any_rec.config['dataset']['description'] or main}",
        "",
        f"Generated {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')} on "
        f"{platform.machine()} from the artifacts in `{root}`. Training: {t['units']} units, "
        f"{t['layers']} layer(s), Adam {t['learning_rate']}; "
        f"{any_rec.config.get('schedule', {}).get('rule', '')}.",
        "",
        "## The answer",
        "",
        *answer_lines(watch, memory),
        "",
    ]
    if watch:
        ds = any_rec.config["dataset"]
        lines += [
            f"## {main}: {ds['description']}",
            "",
            f"{ds['train_windows']} training / {ds['test_windows']} test windows; "
            f"{split_words(ds['split'])}. Accuracies are mean ± sample std over seeds, in %.",
            "",
            "### Cost per cell (seed of the first model; identical across seeds)",
            "",
            *cost_table(watch),
            "",
            "TFLM arena: smallest arena that allocates and runs, measured with the tflite-micro "
            "interpreter on this 64-bit host (a 32-bit MCU needs somewhat less).",
            "",
            "### Accuracy per runtime",
            "",
            *accuracy_table(watch),
            "",
            "### Agreement between runtimes (predicted class, range over seeds)",
            "",
            *agreement_lines(watch),
            "",
            "### What TF 2.21's converter can produce",
            "",
            *conversion_table(watch),
            "",
        ]
    if memory:
        lines += ["## Long-memory task (float accuracy, %, mean ± std over seeds)", "",
                  "| length | " + " | ".join(CELL_TITLE[c] for c in CELLS) + " |",
                  "|---|" + "---|" * len(CELLS)]
        for groups in memory.values():
            steps = groups[next(iter(groups))][0].config["steps"]
            lines.append(f"| {steps} | " + " | ".join(
                mean_std(_values(groups.get(c, []), "keras_float")) for c in CELLS) + " |")
        lines.append("")
    for ds_name in others:
        group = _by_cell(records, ds_name)
        lines += [f"## {ds_name}", "", *cost_table(group), "", *accuracy_table(group), ""]
    from tinyrnn.report_device import device_section

    lines += bench_section(root, watch)
    lines += device_section(root)
    from tinyrnn.report_compare import compare_section

    lines += compare_section(root)
    lines += frontier_section(root, out)
    plots = _plots(watch, out) if watch else []
    lines += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    lines += ["## Models", "", "| model | float acc | int8 acc (tinyrnn, else TFLM) | epochs | "
              "train s |",
              "|---|---|---|---|---|"]
    for r in records:
        q = _acc(r, "tinyrnn_int8") if _acc(r, "tinyrnn_int8") is not None else \
            _acc(r, "tflm_int8")
        lines.append(f"| {r.name} | {100 * r.metrics['float_test_accuracy']:.1f} | "
                     f"{'' if q is None else f'{100 * q:.1f}'} | {r.metrics['epochs_run']} | "
                     f"{r.metrics['train_seconds']} |")
    path = out / "report.md"
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path
