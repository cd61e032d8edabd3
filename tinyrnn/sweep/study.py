"""The Optuna study behind ``tinyrnn sweep``: every trial of a grid (or a budget-constrained
search) run once, by any number of worker processes, resumable after any interruption.

Storage: by default an Optuna journal file in the build tree (``build/sweep/<study>.journal``);
the journal's file lock makes popping a queued trial atomic, so local workers never run the same
trial twice. Across machines pass an Optuna RDB URL (e.g. ``postgresql://user@host/db``): every
machine runs ``tinyrnn sweep ... --storage URL`` and they share one queue.

Resume: each trial holds its spec and key as user attributes; a worker records its host and pid
and refreshes a heartbeat while it runs. A rerun marks RUNNING trials of dead workers (pid gone
on this host, or heartbeat older than STALE_SECONDS) as FAIL and queues their specs again;
finished trials are kept and their results are also on disk, so nothing finished is lost.
Duplicates: a worker that pops a spec already COMPLETE (or RUNNING under a lower trial number)
prunes its copy instead of running it.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tinyrnn.core.buildtree import write_json
from tinyrnn.sweep.costs import DEFAULT_BOARD, Costs, Shape, shape_costs
from tinyrnn.sweep.space import TrialSpec
from tinyrnn.sweep.trial import run_trial

HEARTBEAT_SECONDS = 30.0
STALE_SECONDS = 300.0
WAIT_SECONDS = 5.0
LIMIT_METRICS = ("flash_bytes", "firmware_ram_bytes", "instructions")


@dataclass
class SweepPlan:
    study: str
    specs: list[TrialSpec]
    measure_costs: bool = True
    board: str = DEFAULT_BOARD
    max_steps: int | None = None
    # Budget-constrained search: limits on the shape's costs on ``board`` (None = no limit).
    limits: dict[str, int | None] = field(default_factory=dict)
    # Sampler-driven search (Optuna TPE over the feasible shapes) instead of the whole grid.
    n_trials: int | None = None

    @property
    def constrained(self) -> bool:
        return any(v is not None for v in self.limits.values())


def _optuna():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def storage_for(root: Path, study: str, url: str | None = None):
    optuna = _optuna()
    if url:
        return optuna.storages.RDBStorage(url)
    from optuna.storages.journal import JournalFileBackend

    path = root / "sweep" / f"{study}.journal"
    path.parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_dead(t, now: float) -> bool:
    attrs = t.user_attrs
    if attrs.get("host") == socket.gethostname() and "pid" in attrs:
        return not _alive(int(attrs["pid"]))
    beat = attrs.get("heartbeat")
    if beat is None and t.datetime_start is not None:
        beat = t.datetime_start.timestamp()
    return beat is not None and now - float(beat) > STALE_SECONDS


def reclaim_dead(study) -> list[int]:
    """Mark RUNNING trials of dead workers FAIL; returns their numbers."""
    from optuna.trial import TrialState

    now = time.time()
    dead = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if _is_dead(t, now)]
    for t in dead:
        study._storage.set_trial_user_attr(t._trial_id, "reclaimed", now)
        study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
    return [t.number for t in dead]


def enqueue_missing(study, specs: list[TrialSpec]) -> int:
    """Queue every spec not yet COMPLETE, WAITING or RUNNING; returns how many were queued."""
    from optuna.trial import TrialState

    taken = {t.user_attrs.get("key") for t in study.get_trials(
        deepcopy=False, states=(TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING))}
    n = 0
    for spec in specs:
        if spec.key() not in taken:
            study.enqueue_trial({}, user_attrs={"spec": asdict(spec), "key": spec.key()})
            n += 1
    return n


def _duplicate_of(study, trial_number: int, key: str) -> int | None:
    from optuna.trial import TrialState

    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING)):
        if t.number != trial_number and t.user_attrs.get("key") == key and (
                t.state == TrialState.COMPLETE or t.number < trial_number):
            return t.number
    return None


class _Heartbeat:
    def __init__(self, study, trial_id: int) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(study, trial_id), daemon=True)

    def _run(self, study, trial_id: int) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            study._storage.set_trial_user_attr(trial_id, "heartbeat", time.time())

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def progress_line(study, total: int, started: float, done_here: int, workers: int) -> str:
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    done = len(complete)
    best = max(complete, key=lambda t: t.value) if complete else None
    best_s = (f"best so far {best.value:.4f} ({best.user_attrs['result']['model']})"
              if best else "no result yet")
    eta = ""
    if done_here and done < total:
        per = (time.monotonic() - started) / done_here
        eta = f", ETA {per * (total - done) / max(1, workers) / 60:.1f} min"
    return f"[sweep] {done}/{total} trials done, {best_s}{eta}"


def _next_trial(study, plan: SweepPlan, feasible: list[TrialSpec]):
    """Pop a queued spec (grid) or ask the sampler for one (search); None when finished."""
    from optuna.trial import TrialState

    if plan.n_trials is None:
        if not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            return None, None
        trial = study.ask()
        spec = trial.user_attrs.get("spec")
        if spec is None:  # another worker emptied the queue between the check and the pop
            trial.set_user_attr("note", "queue was empty; nothing run")
            study.tell(trial, state=TrialState.PRUNED)
            return None, None
        return trial, TrialSpec.from_json(spec)
    complete = {t.user_attrs.get("key") for t in study.get_trials(
        deepcopy=False, states=(TrialState.COMPLETE,))}
    if len(complete) >= min(plan.n_trials, len(feasible)):
        return None, None
    trial = study.ask()
    labels = [s.key() for s in feasible]
    key = trial.suggest_categorical("spec", labels)
    spec = feasible[labels.index(key)]
    trial.set_user_attr("spec", asdict(spec))
    trial.set_user_attr("key", key)
    return trial, spec


def worker_loop(plan: SweepPlan, root: Path, url: str | None, workers: int,
                feasible: list[TrialSpec]) -> int:
    """Run trials until none is left; returns how many this worker completed."""
    from optuna.trial import TrialState

    optuna = _optuna()
    study = optuna.load_study(study_name=plan.study, storage=storage_for(root, plan.study, url))
    total = plan.n_trials or len(feasible)
    total = min(total, len(feasible))
    started, done = time.monotonic(), 0
    while True:
        trial, spec = _next_trial(study, plan, feasible)
        if trial is None:
            return done
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        dup = _duplicate_of(study, trial.number, spec.key())
        if dup is not None:
            trial.set_user_attr("duplicate_of", dup)
            study.tell(trial, state=TrialState.PRUNED)
            continue
        print(f"[sweep] trial {trial.number}: {spec.short()} ...", flush=True)
        try:
            with _Heartbeat(study, trial._trial_id):
                result = run_trial(spec, root, measure_costs=plan.measure_costs,
                                   board=plan.board, max_steps=plan.max_steps)
        except Exception as e:  # one failed trial must not end the sweep; it is recorded
            trial.set_user_attr("error", f"{type(e).__name__}: {e}"[:2000])
            study.tell(trial, state=TrialState.FAIL)
            print(f"[sweep] trial {trial.number}: {spec.short()} FAILED: {e}", flush=True)
            continue
        trial.set_user_attr("result", result)
        study.tell(trial, result["int8_accuracy"])
        done += 1
        costs = result.get("costs") or {}
        print(f"[sweep] trial {trial.number}: {spec.short()}: int8 {result['int8_accuracy']:.4f}"
              f" (float {result['float_accuracy']:.4f})"
              + (f", {costs['param_bytes']:,} B params, {costs['instructions']:,} instructions "
                 f"(emulated), {costs['ram_bytes']} B RAM" if costs else ""), flush=True)
        print(progress_line(study, total, started, done, workers), flush=True)


def _worker_main(plan: SweepPlan, root: str, url: str | None, workers: int,
                 feasible: list[TrialSpec]) -> None:
    worker_loop(plan, Path(root), url, workers, feasible)


def feasible_specs(plan: SweepPlan, root: Path) -> tuple[list[TrialSpec], dict[str, Costs]]:
    """Specs whose shape fits the plan's limits; costs per spec key (measured, cached)."""
    from tinyrnn.train.sources import load_dataset

    dims: dict[str, tuple[int, int, int]] = {}
    costs: dict[str, Costs] = {}
    ok = []
    for spec in plan.specs:
        if spec.dataset not in dims:
            d = load_dataset(spec.dataset, seed=0)
            dims[spec.dataset] = (d.steps, d.channels, d.num_classes)
        shape = Shape(spec.cell, spec.units, spec.layers, *dims[spec.dataset])
        c = shape_costs(shape, root, plan.board)
        costs[spec.key()] = c
        if c.within(plan.limits):
            ok.append(spec)
    return ok, costs


def _run_workers(study, plan: SweepPlan, root: Path, url: str | None, workers: int,
                 feasible: list[TrialSpec]) -> None:
    dead = reclaim_dead(study)
    if dead:
        print(f"[sweep] trials {dead} belonged to dead workers: marked FAIL, queued again",
              flush=True)
    if plan.n_trials is None:
        queued = enqueue_missing(study, feasible)
        print(f"[sweep] study {plan.study}: {len(feasible)} trials, {queued} queued now, "
              f"{workers} worker(s)", flush=True)
    if workers <= 1:
        worker_loop(plan, root, url, 1, feasible)
        return
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker_main, args=(plan, str(root), url, workers, feasible))
             for _ in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    bad = [p.exitcode for p in procs if p.exitcode]
    if bad:
        raise RuntimeError(f"sweep workers exited with codes {bad}; rerun to resume")


@dataclass
class SweepOutcome:
    study: str
    total: int
    complete: int
    failed: int
    best: dict | None
    seconds: float
    feasible: int
    limits: dict


def run_sweep(plan: SweepPlan, root: Path, workers: int = 2, url: str | None = None
              ) -> SweepOutcome:
    optuna = _optuna()
    from optuna.trial import TrialState

    start = time.monotonic()
    feasible = plan.specs
    if plan.constrained:
        if not plan.measure_costs:
            raise ValueError("a budget-constrained search needs device costs; do not disable them")
        print(f"[sweep] measuring costs of {len(plan.specs)} candidates on {plan.board} "
              "(cached by shape)", flush=True)
        feasible, costs = feasible_specs(plan, root)
        if not feasible:
            cheapest = min(costs.values(), key=lambda c: c.instructions)
            raise ValueError(f"no candidate fits {plan.limits} on {plan.board}; the cheapest "
                             f"needs {cheapest.to_json()}: raise a limit or add smaller sizes")
        print(f"[sweep] {len(feasible)} of {len(plan.specs)} candidates fit {plan.limits}",
              flush=True)
    storage = storage_for(root, plan.study, url)
    sampler = optuna.samplers.TPESampler(seed=0) if plan.n_trials else None
    study = optuna.create_study(study_name=plan.study, storage=storage, direction="maximize",
                                load_if_exists=True, sampler=sampler)
    keys = {s.key() for s in feasible}
    while True:
        _run_workers(study, plan, root, url, workers, feasible)
        # Other launchers (other machines) may still be running trials of this grid: wait for
        # them, and take over any whose worker died meanwhile.
        running = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                   if t.user_attrs.get("key") in keys]
        if not running:
            break
        print(f"[sweep] waiting for {len(running)} trial(s) running in other workers", flush=True)
        time.sleep(WAIT_SECONDS)
    trials = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("key") in keys]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    within = [t for t in complete
              if Costs(**t.user_attrs["result"]["costs"]).within(plan.limits)] \
        if plan.constrained else complete
    best = max(within, key=lambda t: t.value).user_attrs["result"] if within else None
    outcome = SweepOutcome(plan.study, min(plan.n_trials or len(feasible), len(feasible)),
                           len(complete), sum(t.state == TrialState.FAIL for t in trials),
                           best, round(time.monotonic() - start, 1), len(feasible),
                           dict(plan.limits))
    write_json(root / "sweep" / f"{plan.study}.summary.json", asdict(outcome))
    return outcome
