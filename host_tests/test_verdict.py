"""The verdict code on synthetic results whose right verdict is known."""

from __future__ import annotations

import numpy as np
import pytest

from tinyrnn.verdict import (
    INCONCLUSIVE,
    NOT_SUPPORTED,
    SUPPORTED,
    Point,
    judge,
    matched_difference,
    paired_difference,
    verdicts,
)

UNITS = (8, 16, 32, 64)


def _bytes(cell: str, u: int) -> int:
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    return gates * (u * (u + 6) + u) + 7 * u


def _points(acc_of, noise=0.002, seeds=5, epochs=None, sec=None, dataset="watch"):
    rng = np.random.default_rng(0)
    pts = []
    for cell in ("lstm", "gru", "rnn"):
        for u in UNITS:
            b = _bytes(cell, u)
            for s in range(seeds):
                acc = float(np.clip(acc_of(cell, b) + rng.normal(0, noise), 0, 1))
                pts.append(Point(dataset, cell, u, 1, s, "default", acc, acc,
                                 {"param_bytes": b, "instructions": 2 * b * 100},
                                 (epochs or {}).get(cell, 10), (sec or {}).get(cell, 1.0),
                                 10.0))
    return pts


def _curve(offset):
    # accuracy rises with log cost; each cell has its own offset (points of accuracy)
    return lambda cell, b: 0.5 + 0.05 * np.log2(b) / 2 + offset.get(cell, 0.0)


def test_judge_three_ways():
    assert judge(0.5, 2.0, 0.0) == SUPPORTED
    assert judge(-2.0, -0.5, 0.0) == NOT_SUPPORTED
    assert judge(-0.5, 0.5, 0.0) == INCONCLUSIVE
    assert judge(-2.0, -0.5, 0.0, larger_is_claim=False) == SUPPORTED


def _find(vs, start):
    return next(v for v in vs if v.claim.startswith(start))


def test_clear_win_clear_loss_overlap_at_equal_cost():
    win = verdicts(_points(_curve({"gru": 0.03})))
    assert _find(win, "At equal parameter bytes, the GRU is as accurate").verdict == SUPPORTED
    loss = verdicts(_points(_curve({"gru": -0.05})))
    v = _find(loss, "At equal parameter bytes, the GRU is as accurate")
    assert v.verdict == NOT_SUPPORTED and v.high < -1.0
    # same curve, big seed noise: the interval spans the -1 point margin
    overlap = verdicts(_points(_curve({"gru": -0.01}), noise=0.06, seeds=3))
    v = _find(overlap, "At equal parameter bytes, the GRU is as accurate")
    assert v.verdict == INCONCLUSIVE and v.low < -1.0 < v.high


def test_matched_difference_recovers_a_known_offset():
    pts = _points(_curve({"gru": 0.02}), noise=0.0)
    m = matched_difference(pts, "watch", "gru", "lstm", "param_bytes")
    assert m["estimate"] == pytest.approx(2.0, abs=1e-6)
    assert m["low"] == pytest.approx(2.0, abs=1e-6)  # no seed noise -> a point interval
    assert matched_difference(pts, "other", "gru", "lstm", "param_bytes") is None


def test_gated_beats_rnn_and_parameter_ratio_and_device_speed():
    vs = verdicts(_points(_curve({"rnn": -0.10})))
    assert _find(vs, "At equal parameter bytes, the GRU beats the plain RNN").verdict == SUPPORTED
    assert _find(vs, "At equal parameter bytes, the LSTM beats").verdict == SUPPORTED
    ratio = _find(vs, "The GRU has about 3/4")
    assert ratio.verdict == SUPPORTED and 0.70 < ratio.estimate < 0.80
    assert _find(vs, "The GRU is faster on the device").verdict == SUPPORTED


def test_convergence_and_time_claims():
    pts = _points(_curve({}), epochs={"lstm": 20, "gru": 12}, sec={"lstm": 2.0, "gru": 1.5})
    vs = verdicts(pts)
    assert _find(vs, "The GRU converges in fewer epochs").verdict == SUPPORTED
    assert _find(vs, "The GRU trains faster per epoch").verdict == SUPPORTED
    pts = _points(_curve({}), epochs={"lstm": 10, "gru": 18})
    assert _find(verdicts(pts), "The GRU converges in fewer epochs").verdict == NOT_SUPPORTED
    m = paired_difference(pts, "lstm", "gru", "epochs_to_reach")
    assert m["estimate"] == pytest.approx(-8.0)


def test_long_memory_claim_by_init():
    mem = []
    for t in (20, 40, 80):
        for s in range(3):
            for cell, init, acc in (("rnn", "default", (0.24, 0.26, 0.25)[s]),
                                    ("lstm", "default", 0.95),
                                    ("gru", "default", (0.26, 0.24, 0.25)[s]),
                                    ("gru", "chrono", 1.0), ("lstm", "chrono", 1.0)):
                mem.append(Point(f"recall{t}", cell, 32, 1, s, init, acc, acc, {}, None, None,
                                 None))
    vs = verdicts([], mem)
    assert _find(vs, "The LSTM beats the plain RNN on long memory (default").verdict == SUPPORTED
    assert _find(vs, "The GRU beats the plain RNN on long memory (chrono").verdict == SUPPORTED
    gru_default = _find(vs, "The GRU beats the plain RNN on long memory (default")
    assert gru_default.verdict == INCONCLUSIVE  # both at chance: the interval spans 0


def test_missing_measurements_are_inconclusive_not_invented():
    vs = verdicts([])
    assert all(v.verdict == INCONCLUSIVE and v.detail.startswith("not measured") for v in vs)


def test_one_seed_is_never_more_than_inconclusive():
    vs = verdicts(_points(_curve({"gru": 0.05}), seeds=1))
    v = _find(vs, "At equal parameter bytes, the GRU is as accurate")
    assert v.estimate > 4.0 and v.verdict == INCONCLUSIVE and "no interval" in v.detail
    # exact costs need no seeds
    assert _find(vs, "The GRU is faster on the device").verdict == SUPPORTED
