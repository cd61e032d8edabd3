"""``tinyrnn sweep`` on tiny budgets: a 2x2 grid finishes, two launchers sharing one storage
run every trial once, a killed sweep resumes with the same results and no duplicate, and a
budget-constrained search never returns a model over budget."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
GRID = ["--datasets", "vowels", "--cells", "gru,rnn", "--units", "4,8", "--max-steps", "30"]


def _specs():
    from tinyrnn.sweep.space import grid

    return grid(("vowels",), ("gru", "rnn"), (4, 8), (0,))


def _env(root: Path) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _launch(root: Path, study: str, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "tinyrnn", "--build", str(root), "sweep", *GRID,
           "--workers", "1", "--study", study, *extra]
    return subprocess.Popen(cmd, cwd=REPO, env=_env(root), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _trials(root: Path, study: str):
    from tinyrnn.sweep.study import _optuna, storage_for

    return _optuna().load_study(study_name=study,
                                storage=storage_for(root, study)).get_trials(deepcopy=False)


def _complete(root: Path, study: str) -> dict[str, float]:
    """key -> int8 accuracy of COMPLETE trials; fails on a duplicate."""
    from optuna.trial import TrialState

    out: dict[str, float] = {}
    for t in _trials(root, study):
        if t.state == TrialState.COMPLETE:
            key = t.user_attrs["key"]
            assert key not in out, f"trial {t.number} duplicates {key}"
            out[key] = t.value
    return out


@pytest.fixture(scope="module")
def cost_cache(tmp_path_factory) -> Path:
    """Device costs of the four shapes, measured once (QEMU) and copied into each test's tree."""
    from tinyrnn.sweep.costs import Shape, cost_dir, shape_costs

    root = tmp_path_factory.mktemp("costs")
    for s in _specs():
        shape_costs(Shape(s.cell, s.units, s.layers, 29, 12, 9), root)
    return cost_dir(root)


def _tree(tmp_path: Path, cost_cache: Path, name: str) -> Path:
    root = tmp_path / name
    shutil.copytree(cost_cache, root / "sweep" / "costs",
                    ignore=shutil.ignore_patterns("models", "*.lock"))
    return root


@pytest.fixture(scope="module")
def reference(tmp_path_factory, cost_cache) -> dict[str, float]:
    """An uninterrupted 2x2 sweep: two launchers at once on one storage (as two machines)."""
    root = _tree(tmp_path_factory.mktemp("ref"), cost_cache, "build")
    # one launcher with two local worker processes, one more launcher as a second machine
    procs = [_launch(root, "t", "--workers", "2"), _launch(root, "t")]
    logs = [p.communicate(timeout=900)[0] for p in procs]
    for p, log in zip(procs, logs, strict=True):
        assert p.returncode == 0, log[-3000:]
    done = _complete(root, "t")
    assert set(done) == {s.key() for s in _specs()}
    return done


def test_2x2_grid_by_three_workers_runs_every_trial_once(reference):
    assert len(reference) == 4
    assert all(0.0 <= v <= 1.0 for v in reference.values())


def test_killed_sweep_resumes_with_same_results_and_no_duplicate(tmp_path, cost_cache,
                                                                 reference):
    from optuna.trial import TrialState

    root = _tree(tmp_path, cost_cache, "build")
    p = _launch(root, "r")
    deadline = time.monotonic() + 600
    killed = None
    while time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.5)
        if not (root / "sweep" / "r.journal").is_file():
            continue
        trials = _trials(root, "r")
        running = [t for t in trials if t.state == TrialState.RUNNING and "pid" in t.user_attrs]
        if running and any(t.state == TrialState.COMPLETE for t in trials):
            killed = running[0].number
            os.killpg(p.pid, signal.SIGKILL)
            break
    p.wait(timeout=60)
    assert killed is not None, "the sweep never had a trial running after a finished one"
    before = _complete(root, "r")
    assert 0 < len(before) < 4

    from tinyrnn.sweep.space import grid
    from tinyrnn.sweep.study import SweepPlan, run_sweep

    plan = SweepPlan(study="r", specs=grid(("vowels",), ("gru", "rnn"), (4, 8), (0,)),
                     max_steps=30)
    out = run_sweep(plan, root, workers=1)
    assert (out.complete, out.total) == (4, 4)
    after = _complete(root, "r")
    assert {k: after[k] for k in before} == before  # finished trials kept as they were
    assert after == reference                        # and the rerun gives the same results
    states = {t.number: t.state for t in _trials(root, "r")}
    assert states[killed] == TrialState.FAIL         # the killed trial is marked, not lost


def test_budget_search_never_returns_a_model_over_budget(tmp_path, cost_cache):
    from tinyrnn.core.buildtree import read_json
    from tinyrnn.sweep.costs import Costs
    from tinyrnn.sweep.study import SweepPlan, run_sweep

    costs = sorted((Costs(**read_json(p)) for p in cost_cache.glob("*.json")),
                   key=lambda c: c.instructions)
    # between the cheapest two and the dearest two shapes
    limit = (costs[1].instructions + costs[2].instructions) // 2
    root = _tree(tmp_path, cost_cache, "build")
    plan = SweepPlan(study="b", specs=_specs(), max_steps=30, limits={"instructions": limit})
    out = run_sweep(plan, root, workers=1)
    assert out.feasible == 2 and out.complete == 2
    assert out.best is not None and out.best["costs"]["instructions"] <= limit
    ran = {t.user_attrs["key"] for t in _trials(root, "b")}
    assert len(ran) == 2  # the shapes over budget were never trained
    # sampler-driven search (TPE over the candidates that fit): same guarantee
    tpe = run_sweep(SweepPlan(study="b-tpe", specs=_specs(), max_steps=30, n_trials=2,
                              limits={"instructions": limit}), root, workers=1)
    assert tpe.complete == 2 and tpe.best["costs"]["instructions"] <= limit
    with pytest.raises(ValueError, match="no candidate fits"):
        run_sweep(SweepPlan(study="b0", specs=_specs(), max_steps=30,
                            limits={"instructions": costs[0].instructions - 1}), root, workers=1)
