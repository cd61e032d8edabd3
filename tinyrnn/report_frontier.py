"""The report's cost-accuracy section: frontiers, verdicts, convergence and long memory.

Reads the sweep results beside the models (``build/models/*/sweep.json``), so it describes
whatever sweeps ran: the reduced frontier of the main job, or the full ``--preset frontier``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from tinyrnn.core.buildtree import BuildTree, read_json, write_figure
from tinyrnn.sweep.space import preset_specs
from tinyrnn.sweep.trial import collect_results
from tinyrnn.verdict import Point, verdict_table, verdicts

CELL_TITLE = {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN"}
CELL_COLOUR = {"lstm": "tab:blue", "gru": "tab:orange", "rnn": "tab:green"}
COST_AXES = (("param_bytes", "parameter bytes (int8 weights + int32 biases)"),
             ("instructions", "instructions (emulated) per inference, Cortex-M4"),
             ("ram_bytes", "peak model RAM (arena + state), bytes"))


def _ms(values) -> str:
    a = 100 * np.asarray(values, dtype=float)
    return f"{a.mean():.1f} ± {a.std(ddof=1) if len(a) > 1 else 0.0:.1f}"


def _shape_groups(points: list[Point]) -> dict:
    g: dict = defaultdict(list)
    for p in points:
        g[(p.dataset, p.cell, p.units, p.layers, p.init)].append(p)
    return dict(sorted(g.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][3], kv[0][2])))


def frontier_coverage(results: list[dict]) -> str:
    done = {read_key(r) for r in results}
    full = {s.key() for s in preset_specs("frontier")}
    reduced = {s.key() for s in preset_specs("reduced")}
    have = len(done & full)
    if have == len(full):
        return f"the full frontier (`tinyrnn sweep --preset frontier`, all {len(full)} trials)"
    what = "the reduced frontier of the main job" if reduced <= done else "a partial frontier"
    return (f"{what}: {have} of the full frontier's {len(full)} trials "
            "(`tinyrnn sweep --preset frontier` runs the rest)")


def read_key(r: dict) -> str:
    import json

    return json.dumps(r["spec"], sort_keys=True)


def frontier_table(points: list[Point]) -> list[str]:
    lines = ["| data set | cell | units | layers | seeds | int8 accuracy % | float % | "
             "param bytes | instructions (emulated) | model RAM B | firmware flash / RAM B |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for (ds, cell, u, n, _init), pts in _shape_groups(points).items():
        c = pts[0].costs
        lines.append(
            f"| {ds} | {CELL_TITLE[cell]} | {u} | {n} | {len(pts)} | "
            f"{_ms([p.accuracy for p in pts])} | {_ms([p.float_accuracy for p in pts])} | "
            + (f"{c['param_bytes']:,} | {c['instructions']:,} | {c['ram_bytes']:,} | "
               f"{c['flash_bytes']:,} / {c['firmware_ram_bytes']:,} |" if c else
               "n/a | n/a | n/a | n/a |"))
    return lines


def pareto(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Indices of points no other point beats (cost <= and accuracy >=, one strictly)."""
    idx = []
    for i in range(len(xs)):
        dominated = np.any((xs <= xs[i]) & (ys >= ys[i]) & ((xs < xs[i]) | (ys > ys[i])))
        if not dominated:
            idx.append(i)
    return np.array(sorted(idx, key=lambda i: xs[i]), dtype=int)


def _frontier_plot(points: list[Point], dataset: str, out: Path) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [(k, v) for k, v in _shape_groups(points).items() if k[0] == dataset and v[0].costs]
    if not groups:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, (metric, label) in zip(axes, COST_AXES, strict=True):
        xs, ys = [], []
        for (_, cell, u, n, _), pts in groups:
            acc = 100 * np.array([p.accuracy for p in pts])
            x = pts[0].costs[metric]
            ax.errorbar([x], [acc.mean()], yerr=[acc.std(ddof=1) if len(acc) > 1 else 0],
                        fmt="o" if n == 1 else "s", color=CELL_COLOUR[cell], capsize=3)
            ax.annotate(f"{u}{'x' + str(n) if n > 1 else ''}", (x, acc.mean()), fontsize=6,
                        xytext=(3, 3), textcoords="offset points")
            xs.append(x)
            ys.append(acc.mean())
        front = pareto(np.array(xs, dtype=float), np.array(ys))
        ax.step(np.array(xs)[front], np.array(ys)[front], where="post", color="k", lw=0.8,
                ls="--", label="Pareto front (means)")
        ax.set_xscale("log")
        ax.set_xlabel(label, fontsize=8)
        ax.set_ylabel("int8 test accuracy (%)")
    for cell, colour in CELL_COLOUR.items():
        axes[0].plot([], [], "o", color=colour, label=CELL_TITLE[cell])
    axes[0].plot([], [], "s", color="gray", label="2 layers")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{dataset}: int8 accuracy vs cost (mean ± std over seeds; labels = units)")
    fig.tight_layout()
    name = f"frontier_{dataset}.png"
    write_figure(out / name, fig, dpi=110)
    plt.close(fig)
    return name


def convergence_table(results: list[dict]) -> list[str]:
    g: dict = defaultdict(list)
    for r in results:
        s = r["spec"]
        if r.get("convergence") and not s["dataset"].startswith("recall"):
            g[(s["dataset"], s["cell"], s["units"], s["layers"])].append(r)
    lines = ["| data set | cell | units | layers | seeds | batch / max epochs | epochs run | "
             "epochs to 95% | s to 95% | s / epoch | train s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for (ds, cell, u, n), rs in sorted(g.items()):
        c = [r["convergence"] for r in rs]
        sch = rs[0].get("schedule") or {}

        def m(key, cs=c):
            return f"{np.mean([x[key] for x in cs]):.1f}"

        lines.append(f"| {ds} | {CELL_TITLE[cell]} | {u} | {n} | {len(rs)} | "
                     f"{sch.get('batch_size', '?')} / {sch.get('max_epochs', '?')} | "
                     f"{np.mean([r['epochs_run'] for r in rs]):.1f} | {m('epochs_to_reach')} | "
                     f"{m('seconds_to_reach')} | {np.mean([x['seconds_per_epoch'] for x in c]):.2f}"
                     f" | {np.mean([r['train_seconds'] for r in rs]):.1f} |")
    return lines


def _curves_plot(results: list[dict], root: Path, out: Path) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sel = [r for r in results if r["spec"]["seed"] == 0 and r["spec"]["layers"] == 1
           and not r["spec"]["dataset"].startswith("recall")]
    datasets = sorted({r["spec"]["dataset"] for r in sel})
    if not datasets:
        return None
    fig, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4), squeeze=False)
    for ax, ds in zip(axes[0], datasets, strict=True):
        for r in sorted((r for r in sel if r["spec"]["dataset"] == ds),
                        key=lambda r: r["spec"]["units"]):
            h = BuildTree(root).model(r["model"]).history_json
            if not h.is_file():
                continue
            acc = read_json(h).get("val_accuracy", [])
            u = r["spec"]["units"]
            ax.plot(range(1, len(acc) + 1), 100 * np.array(acc), color=CELL_COLOUR[r["spec"]["cell"]],
                    alpha=0.35 + 0.65 * min(1.0, u / 64), lw=1,
                    label=f"{CELL_TITLE[r['spec']['cell']]} {u}")
        ax.set_title(f"{ds}: validation accuracy per epoch (seed 0)")
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation accuracy (%)")
        ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    write_figure(out / "learning_curves.png", fig, dpi=110)
    plt.close(fig)
    return "learning_curves.png"


def memory_table(points: list[Point]) -> list[str]:
    g: dict = defaultdict(list)
    for p in points:
        g[(int(p.dataset.removeprefix("recall")), p.cell, p.init)].append(p)
    lengths = sorted({k[0] for k in g})
    combos = [(c, i) for c in ("lstm", "gru", "rnn") for i in ("default", "chrono")
              if any(k[1:] == (c, i) for k in g)]
    lines = ["| length | " + " | ".join(f"{CELL_TITLE[c]} {i} (int8 / float)" for c, i in combos)
             + " |", "|---|" + "---|" * len(combos)]
    for t in lengths:
        cells = []
        for c, i in combos:
            pts = g.get((t, c, i), [])
            cells.append(f"{_ms([p.accuracy for p in pts])} / {_ms([p.float_accuracy for p in pts])}"
                         f" (n={len(pts)})" if pts else "-")
        lines.append(f"| {t} | " + " | ".join(cells) + " |")
    return lines


def _memory_plot(points: list[Point], out: Path) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not points:
        return None
    g: dict = defaultdict(list)
    for p in points:
        g[(p.cell, p.init)].append(p)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, attr, title in ((axes[0], "accuracy", "int8"), (axes[1], "float_accuracy", "float")):
        for (cell, init), pts in sorted(g.items()):
            by_t: dict = defaultdict(list)
            for p in pts:
                by_t[int(p.dataset.removeprefix("recall"))].append(100 * getattr(p, attr))
            ts = sorted(by_t)
            ax.errorbar(ts, [np.mean(by_t[t]) for t in ts],
                        yerr=[np.std(by_t[t], ddof=1) if len(by_t[t]) > 1 else 0 for t in ts],
                        color=CELL_COLOUR[cell], ls="-" if init == "default" else "--",
                        marker="o", capsize=3, label=f"{CELL_TITLE[cell]} {init}")
        ax.axhline(25, color="gray", lw=0.7, ls=":")
        ax.set_xscale("log", base=2)
        lengths = sorted({int(p.dataset.removeprefix("recall")) for p in points})
        ax.set_xticks(lengths, [str(t) for t in lengths])
        ax.set_xlabel("delay (time steps); chrono GRU and LSTM overlap at 100%")
        ax.set_title(f"delayed recall, {title} (chance 25%)")
    axes[0].set_ylabel("test accuracy (%)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    write_figure(out / "long_memory.png", fig, dpi=110)
    plt.close(fig)
    return "long_memory.png"


def memory_sentence(points: list[Point]) -> str:
    """Says in words whether the GRU needs the better initialisation for long memory."""
    def mean(cell, init, t_min):
        a = [p.accuracy for p in points if p.cell == cell and p.init == init
             and int(p.dataset.removeprefix("recall")) >= t_min]
        return float(np.mean(a)) if a else None

    d, c = mean("gru", "default", 40), mean("gru", "chrono", 40)
    if d is None or c is None:
        return ""
    if d < 0.5 and c >= 0.9:
        return ("The GRU only learns long memory (40 steps and more) with the chrono "
                f"initialisation: {100 * d:.0f}% with Keras' default vs {100 * c:.0f}% with "
                "chrono (int8, mean over lengths >= 40 and seeds).")
    return (f"GRU at 40 steps and more: {100 * d:.0f}% with Keras' default initialisation, "
            f"{100 * c:.0f}% with chrono (int8, mean over lengths and seeds).")


def frontier_section(root: Path, out: Path) -> list[str]:
    results = collect_results(root)
    if not results:
        return []
    points = [Point.from_result(r) for r in results]
    real = [p for p in points if not p.dataset.startswith("recall")]
    memory = [p for p in points if p.dataset.startswith("recall")]
    lines = ["## Cost-accuracy frontiers (sweeps)", "",
             f"This section shows {frontier_coverage(results)}. int8 accuracy is the deployed "
             "model's (tinyrnn C on the host, bit-exact with the device) on the full test set. "
             "Costs per shape: parameter bytes and instructions (emulated, QEMU -icount on "
             "mps2-an386, not cycles) from an untrained model of the same shape, as the CI "
             "budgets are; model RAM = tinyrnn arena + recurrent state.", ""]
    rules = sorted({r["schedule"]["rule"] for r in results if r.get("schedule")
                    and not r["spec"]["dataset"].startswith("recall")})
    if rules:
        lines += ["Training budget (train/schedule.py; per model in its config.json): "
                  + "; ".join(f"`{x}`" for x in rules[:4]), ""]
    if real:
        lines += ["### Frontier table", "", *frontier_table(real), ""]
        for ds in sorted({p.dataset for p in real}):
            name = _frontier_plot(real, ds, out)
            if name:
                lines += [f"![{name}]({name})", ""]
    vs = verdicts(real, memory)
    lines += ["### Verdicts", "",
              "95% percentile-bootstrap intervals over seeds; supported / not supported when the "
              "interval lies on one side of the threshold, inconclusive when it straddles it "
              "(tinyrnn/verdict.py).", "", verdict_table(vs), ""]
    if real:
        lines += ["### Convergence (mean over seeds)", "",
                  "Epochs and wall time to first reach 95% of the model's best validation "
                  "accuracy; seconds per epoch = median epoch. Wall times come from a shared "
                  "2-core host: compare cells within one sweep only.", "",
                  *convergence_table(results), ""]
        name = _curves_plot(results, root, out)
        if name:
            lines += [f"![{name}]({name})", ""]
    if memory:
        lines += ["### Long memory: delayed recall vs delay", "",
                  "Accuracy % (mean ± std over seeds), int8 / float, by initialisation "
                  "(`tinyrnn train --init chrono`: Tallec & Ollivier 2018 chrono gate biases; "
                  "default = Keras, LSTM forget bias 1). The SimpleRNN has no gates to "
                  "initialise.", "", *memory_table(memory), ""]
        sentence = memory_sentence(memory)
        if sentence:
            lines += [sentence, ""]
        name = _memory_plot(memory, out)
        if name:
            lines += [f"![{name}]({name})", ""]
    return lines
