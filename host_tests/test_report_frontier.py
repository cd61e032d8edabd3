"""The frontier section's own logic: Pareto front, coverage wording, tables from results."""

from __future__ import annotations

import numpy as np

from tinyrnn.report_frontier import frontier_table, memory_sentence, pareto
from tinyrnn.verdict import Point


def test_pareto_front_keeps_only_undominated_points():
    xs = np.array([100, 200, 300, 150, 400.0])
    ys = np.array([50, 70, 65, 40, 90.0])
    # (150, 40) is beaten by (100, 50); (300, 65) by (200, 70)
    assert pareto(xs, ys).tolist() == [0, 1, 4]


def _p(cell, t, init, acc, seed=0):
    return Point(f"recall{t}", cell, 32, 1, seed, init, acc, acc, {}, None, None, None)


def test_memory_sentence_says_when_gru_needs_chrono():
    pts = [_p("gru", t, "default", 0.25) for t in (40, 80)]
    pts += [_p("gru", t, "chrono", 1.0) for t in (40, 80)]
    assert "only learns long memory" in memory_sentence(pts)
    pts = [_p("gru", t, i, 0.97) for t in (40, 80) for i in ("default", "chrono")]
    assert "only" not in memory_sentence(pts)


def test_frontier_table_one_row_per_shape_with_mean_and_std():
    c = {"param_bytes": 852, "instructions": 46960, "ram_bytes": 104, "flash_bytes": 13856,
         "firmware_ram_bytes": 8936}
    pts = [Point("vowels", "gru", 8, 1, s, "default", a, a, c, 5, 0.1, 3.0)
           for s, a in enumerate((0.90, 0.92, 0.94))]
    rows = frontier_table(pts)
    assert len(rows) == 3
    assert "| vowels | GRU | 8 | 1 | 3 | 92.0 ± 2.0 |" in rows[2]
    assert "46,960" in rows[2]
