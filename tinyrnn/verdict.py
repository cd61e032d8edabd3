"""Verdicts on the GRU-vs-LSTM-vs-RNN claims, with numbers and a bootstrap over seeds.

Input: the per-trial results of the sweeps (tinyrnn/sweep/trial.py). Every claim is judged the
same way: an estimate with a 95% percentile-bootstrap interval (seeds resampled with replacement
within each cell and size), compared with a threshold:

  interval entirely on the claim's side of the threshold   -> "supported"
  interval entirely on the other side                      -> "not supported"
  interval contains the threshold                          -> "inconclusive"

Equal cost: accuracy is interpolated on each cell's single-layer curve (mean over seeds per
size, linear in log2(cost)) at COST_POINTS costs spread over the range both cells cover, and the
difference is averaged over those points. Costs are deterministic per shape (exact counts).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field

import numpy as np

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"
BOOTSTRAP = 1000
COST_POINTS = 16
# "As accurate": the GRU may trail by less than this many accuracy points at equal cost.
EQUIVALENCE_POINTS = 1.0
# "About 3/4 of the parameters": the ratio must lie within this of 0.75.
RATIO_TOLERANCE = 0.05
GATED = ("lstm", "gru")
MIN_SEEDS = 2
# Long memory: delays every cell learns (20 steps) say nothing about long memory.
LONG_DELAY = 40


@dataclass(frozen=True)
class Point:
    dataset: str
    cell: str
    units: int
    layers: int
    seed: int
    init: str
    accuracy: float            # int8 test accuracy (0..1)
    float_accuracy: float
    costs: dict                # param_bytes, instructions, ram_bytes, ... (may be empty)
    epochs_to_reach: int | None
    seconds_per_epoch: float | None
    train_seconds: float | None

    @classmethod
    def from_result(cls, r: dict) -> Point:
        s, conv = r["spec"], r.get("convergence") or {}
        return cls(s["dataset"], s["cell"], s["units"], s["layers"], s["seed"], s["init"],
                   r["int8_accuracy"], r["float_accuracy"], r.get("costs") or {},
                   conv.get("epochs_to_reach"), conv.get("seconds_per_epoch"),
                   r.get("train_seconds"))


@dataclass
class Verdict:
    claim: str
    verdict: str
    estimate: float | None
    low: float | None
    high: float | None
    unit: str
    detail: str
    numbers: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)


def judge(low: float, high: float, threshold: float, larger_is_claim: bool = True) -> str:
    if larger_is_claim:
        if low > threshold:
            return SUPPORTED
        if high < threshold:
            return NOT_SUPPORTED
        return INCONCLUSIVE
    return judge(-high, -low, -threshold)


def _interval(samples: np.ndarray) -> tuple[float, float]:
    return float(np.percentile(samples, 2.5)), float(np.percentile(samples, 97.5))


def _groups(points: list[Point], key) -> dict:
    out: dict = defaultdict(list)
    for p in points:
        out[key(p)].append(p)
    return out


# ---- equal cost ---------------------------------------------------------------------------------

def _curve(by_size: dict[int, list[Point]], metric: str, rng: np.random.Generator | None):
    """(log2 cost, mean accuracy) per size, sorted by cost; seeds resampled when rng is given."""
    xs, ys = [], []
    for pts in by_size.values():
        acc = np.array([p.accuracy for p in pts])
        if rng is not None:
            acc = rng.choice(acc, size=len(acc), replace=True)
        xs.append(np.log2(pts[0].costs[metric]))
        ys.append(acc.mean())
    order = np.argsort(xs)
    return np.asarray(xs)[order], np.asarray(ys)[order]


def matched_difference(points: list[Point], dataset: str, a: str, b: str, metric: str,
                       seed: int = 0) -> dict | None:
    """Mean accuracy difference a - b (points) at equal ``metric``, with a bootstrap interval;
    None when the cells share no cost range (or lack costs)."""
    sel = [p for p in points if p.dataset == dataset and p.layers == 1 and p.init == "default"
           and metric in p.costs]
    curves = {}
    for cell in (a, b):
        by_size = _groups([p for p in sel if p.cell == cell], lambda p: p.units)
        if len(by_size) < 2:
            return None
        curves[cell] = by_size
    lo = max(min(np.log2(p[0].costs[metric]) for p in c.values()) for c in curves.values())
    hi = min(max(np.log2(p[0].costs[metric]) for p in c.values()) for c in curves.values())
    if hi <= lo:
        return None
    grid = np.linspace(lo, hi, COST_POINTS)

    def diff(rng):
        xa, ya = _curve(curves[a], metric, rng)
        xb, yb = _curve(curves[b], metric, rng)
        return 100 * float(np.mean(np.interp(grid, xa, ya) - np.interp(grid, xb, yb)))

    rng = np.random.default_rng(seed)
    boots = np.array([diff(rng) for _ in range(BOOTSTRAP)])
    low, high = _interval(boots)
    seeds = min(len(v) for c in curves.values() for v in c.values())
    return {"estimate": diff(None), "low": low, "high": high, "cost_range": [2 ** lo, 2 ** hi],
            "min_seeds": seeds}


# ---- paired per shape -------------------------------------------------------------------------

def paired_difference(points: list[Point], a: str, b: str, attr: str, seed: int = 0,
                      datasets: tuple[str, ...] | None = None) -> dict | None:
    """Mean of attr(a) - attr(b) over matching (dataset, units, layers) groups; bootstrap over
    seeds within each group."""
    sel = [p for p in points if p.init == "default" and getattr(p, attr) is not None
           and (datasets is None or p.dataset in datasets)]
    groups = _groups(sel, lambda p: (p.dataset, p.units, p.layers))
    pairs = []
    for _, pts in groups.items():
        va = np.array([getattr(p, attr) for p in pts if p.cell == a], dtype=float)
        vb = np.array([getattr(p, attr) for p in pts if p.cell == b], dtype=float)
        if len(va) and len(vb):
            pairs.append((va, vb))
    if not pairs:
        return None
    # Groups with one seed on a side add no spread: use the others when there are any.
    seeded = [(va, vb) for va, vb in pairs if min(len(va), len(vb)) >= MIN_SEEDS]
    pairs = seeded or pairs
    rng = np.random.default_rng(seed)

    def stat(r):
        d = []
        for va, vb in pairs:
            if r is not None:
                va, vb = r.choice(va, len(va)), r.choice(vb, len(vb))
            d.append(va.mean() - vb.mean())
        return float(np.mean(d))

    boots = np.array([stat(rng) for _ in range(BOOTSTRAP)])
    low, high = _interval(boots)
    mean_a = float(np.mean([va.mean() for va, _ in pairs]))
    mean_b = float(np.mean([vb.mean() for _, vb in pairs]))
    return {"estimate": stat(None), "low": low, "high": high, "groups": len(pairs),
            "mean_a": mean_a, "mean_b": mean_b,
            "min_seeds": min(min(len(va), len(vb)) for va, vb in pairs)}


def shape_ratio(points: list[Point], a: str, b: str, metric: str) -> dict | None:
    """cost(a) / cost(b) at the same shape and data set (costs are exact; no interval)."""
    by_shape: dict = {}
    for p in points:
        if metric in p.costs:
            by_shape[(p.dataset, p.units, p.layers, p.cell)] = p.costs[metric]
    ratios = {f"{d} u{u}{'x' + str(n) if n > 1 else ''}": by_shape[(d, u, n, a)] / v
              for (d, u, n, c), v in by_shape.items() if c == b and (d, u, n, a) in by_shape}
    if not ratios:
        return None
    vals = np.array(list(ratios.values()))
    return {"estimate": float(vals.mean()), "low": float(vals.min()), "high": float(vals.max()),
            "ratios": {k: round(v, 3) for k, v in ratios.items()}}


# ---- the claims ---------------------------------------------------------------------------------

def _seeded(verdict: str, m: dict) -> str:
    """One seed gives no interval: never more than inconclusive."""
    return verdict if m.get("min_seeds", 0) >= MIN_SEEDS else INCONCLUSIVE


def _missing(claim: str, why: str) -> Verdict:
    return Verdict(claim, INCONCLUSIVE, None, None, None, "", f"not measured: {why}")


def verdicts(points: list[Point], memory_points: list[Point] | None = None) -> list[Verdict]:
    out: list[Verdict] = []
    real = sorted({p.dataset for p in points if not p.dataset.startswith("recall")})

    claim = "The GRU has about 3/4 of the LSTM's parameters"
    r = shape_ratio(points, "gru", "lstm", "param_bytes")
    if r is None:
        out.append(_missing(claim, "no GRU and LSTM of the same shape with costs"))
    else:
        ok = abs(r["low"] - 0.75) <= RATIO_TOLERANCE and abs(r["high"] - 0.75) <= RATIO_TOLERANCE
        far = r["high"] < 0.75 - RATIO_TOLERANCE or r["low"] > 0.75 + RATIO_TOLERANCE
        out.append(Verdict(claim, SUPPORTED if ok else NOT_SUPPORTED if far else INCONCLUSIVE,
                           r["estimate"], r["low"], r["high"], "x (parameter bytes, int8 + int32 "
                           "biases)", f"GRU/LSTM parameter bytes {r['low']:.3f}-{r['high']:.3f} "
                           f"over {len(r['ratios'])} shapes (3/4 +- {RATIO_TOLERANCE})", r))

    for metric, label in (("param_bytes", "parameter bytes"),
                          ("instructions", "instructions per inference")):
        for ds in real:
            claim = f"At equal {label}, the GRU is as accurate as the LSTM ({ds})"
            m = matched_difference(points, ds, "gru", "lstm", metric)
            if m is None:
                out.append(_missing(claim, "needs >= 2 sizes of each cell with costs"))
                continue
            v = _seeded(judge(m["low"], m["high"], -EQUIVALENCE_POINTS), m)
            out.append(Verdict(claim, v, m["estimate"], m["low"], m["high"], "points GRU - LSTM",
                               f"int8 accuracy GRU - LSTM {m['estimate']:+.2f} points "
                               f"[{m['low']:+.2f}, {m['high']:+.2f}] at matched {label} "
                               f"{m['cost_range'][0]:,.0f}-{m['cost_range'][1]:,.0f}; as accurate"
                               f" = not behind by {EQUIVALENCE_POINTS:g} point or more", m))
            for gated in GATED:
                claim = f"At equal {label}, the {gated.upper()} beats the plain RNN ({ds})"
                m = matched_difference(points, ds, gated, "rnn", metric)
                if m is None:
                    out.append(_missing(claim, "needs >= 2 sizes of each cell with costs"))
                    continue
                out.append(Verdict(claim, _seeded(judge(m["low"], m["high"], 0.0), m),
                                   m["estimate"], m["low"], m["high"],
                                   f"points {gated.upper()} - RNN",
                                   f"int8 accuracy {gated.upper()} - RNN {m['estimate']:+.2f} "
                                   f"points [{m['low']:+.2f}, {m['high']:+.2f}] at matched "
                                   f"{label}", m))

    claim = "The GRU converges in fewer epochs than the LSTM"
    m = paired_difference(points, "lstm", "gru", "epochs_to_reach", datasets=tuple(real))
    out.append(_missing(claim, "no convergence records") if m is None else Verdict(
        claim, _seeded(judge(m["low"], m["high"], 0.0), m), m["estimate"], m["low"], m["high"],
        "epochs LSTM - GRU",
        f"epochs to 95% of best validation accuracy: LSTM {m['mean_a']:.1f} vs GRU "
        f"{m['mean_b']:.1f} (difference {m['estimate']:+.1f} [{m['low']:+.1f}, {m['high']:+.1f}]"
        f", {m['groups']} shapes)", m))
    for attr, claim, unit in (
            ("seconds_per_epoch", "The GRU trains faster per epoch than the LSTM", "s"),
            ("train_seconds", "The GRU trains faster in total than the LSTM", "s")):
        m = paired_difference(points, "lstm", "gru", attr, datasets=tuple(real))
        out.append(_missing(claim, "no timings") if m is None else Verdict(
            claim, _seeded(judge(m["low"], m["high"], 0.0), m), m["estimate"], m["low"],
            m["high"], f"{unit} LSTM - GRU",
            f"LSTM {m['mean_a']:.2f} s vs GRU {m['mean_b']:.2f} s (difference "
            f"{m['estimate']:+.2f} [{m['low']:+.2f}, {m['high']:+.2f}]; wall time on a shared "
            "2-core host)", m))

    claim = "The GRU is faster on the device than the LSTM (same units)"
    r = shape_ratio(points, "gru", "lstm", "instructions")
    out.append(_missing(claim, "no device costs") if r is None else Verdict(
        claim, judge(-r["high"], -r["low"], -1.0), r["estimate"], r["low"], r["high"],
        "x instructions GRU/LSTM",
        f"instructions (emulated Cortex-M4) GRU/LSTM {r['low']:.3f}-{r['high']:.3f} over "
        f"{len(r['ratios'])} shapes", r))

    mem = memory_points or []
    for gated in GATED:
        for init in ("default", "chrono"):
            claim = (f"The {gated.upper()} beats the plain RNN on long memory "
                     f"({init} initialisation)")
            # the RNN has no gates: its default-init runs are the baseline for both inits
            sel = [Point(**{**asdict(p), "init": "default"}) for p in mem
                   if int(p.dataset.removeprefix("recall")) >= LONG_DELAY
                   and ((p.cell == gated and p.init == init)
                        or (p.cell == "rnn" and p.init == "default"))]
            m = paired_difference(sel, gated, "rnn", "accuracy")
            if m is None:
                out.append(_missing(claim, "no delayed-recall runs"))
                continue
            m = {k: (100 * v if k in ("estimate", "low", "high", "mean_a", "mean_b") else v)
                 for k, v in m.items()}
            out.append(Verdict(claim, _seeded(judge(m["low"], m["high"], 0.0), m), m["estimate"],
                               m["low"], m["high"], f"points {gated.upper()} - RNN",
                               f"int8 accuracy on delayed recall, mean over {m['groups']} delays"
                               f" >= {LONG_DELAY} steps: "
                               f"{gated.upper()} {m['mean_a']:.1f}% vs RNN {m['mean_b']:.1f}% "
                               f"({m['estimate']:+.1f} [{m['low']:+.1f}, {m['high']:+.1f}])", m))
    for v in out:
        if v.numbers.get("min_seeds", MIN_SEEDS) < MIN_SEEDS:
            v.detail += f" (fewer than {MIN_SEEDS} seeds in a group: no interval, so inconclusive)"
    return out


def verdict_table(vs: list[Verdict]) -> str:
    lines = ["| claim | verdict | numbers |", "|---|---|---|"]
    lines += [f"| {v.claim} | **{v.verdict}** | {v.detail} |" for v in vs]
    return "\n".join(lines)
