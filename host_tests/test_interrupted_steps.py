"""Every step interrupted at every write it makes, by SIGKILL and by SIGINT (Ctrl-C).

The fault hook in tinyrnn/core/buildtree.py (``TINYRNN_FAULT_WRITE=<n>:<kill|int>[:<stage>]``)
signals the step's process group at its n-th build-tree write: "before" = the temporary holds
half its bytes and the artifact is not replaced yet, "after" = it is. An uninterrupted run of
the README's steps on a small .npz (one SimpleRNN, so ``quantize-rnn`` is a step of its own)
counts each step's writes and gives, per step, the tree before and after it. Then, per fault:

1. every file in the interrupted tree is the finished file from before the step, or the step's
   final result, or an unpublished temporary (hidden ``.*.tmp``) that no reader opens: nothing
   finished is lost, nothing half-written is trusted;
2. a rerun of the same step completes, and the tree equals the uninterrupted run's (bytes, except
   for fields that record time or place: see ``_normalized``);
3. SIGINT exits 130 with one ``tinyrnn: interrupted`` line and no traceback; SIGKILL dies.

``make test`` runs SIGKILL at every write of the quick steps (compile, device eval, report) and
at the first write of the slow ones (train, convert, quantize-rnn: for convert that write is in
the conversion child), and SIGINT at each step's middle write. ``TINYRNN_INTERRUPT_ALL=1`` runs
every write with both signals, for inspect and evaluate too (docs/reliability.md has the figures
of such a run).

PlatformIO's own outputs (``<build>/firmware/``, ``<build>/pio-core/``) are SCons's, and
``<build>/ccache/`` is the compiler cache: they are not compared byte for byte (their ELF embeds
the tree's path; the cache holds whatever was compiled); the device result that depends on them
is.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tinyrnn.core.buildtree import FAULT_ENV, FAULT_LOG_ENV, is_temporary
from tinyrnn.core.locking import LOCK_NAME

pytestmark = [pytest.mark.slow, pytest.mark.device]

REPO = Path(__file__).resolve().parents[1]
ALL = os.environ.get("TINYRNN_INTERRUPT_ALL") == "1"
MODEL = "tones-rnn-u8-s0"
# SCons's build outputs and the compiler cache (see the module docstring)
NOT_COMPARED = ("firmware/", "pio-core/", "ccache/")
# Steps whose every write is interrupted in make test too; each run of the others imports
# TensorFlow twice (interrupted run + rerun), 20-50 s on a busy 2-core machine.
QUICK = {"compile", "device eval", "report"}


@dataclass(frozen=True)
class Step:
    name: str
    argv: tuple[str, ...]  # "{model}" and "{npz}" are filled in per tree
    interrupted: bool = True  # False: a prerequisite, interrupted only with TINYRNN_INTERRUPT_ALL


STEPS = (
    Step("train", ("train", "--dataset", "{npz}", "--cells", "rnn", "--seeds", "0", "--units",
                   "8", "--epochs", "2")),
    Step("convert", ("convert", "--no-crash-probe")),
    Step("quantize-rnn", ("quantize-rnn", "{model}")),
    Step("compile", ("compile", "{model}")),
    Step("inspect", ("inspect",), interrupted=False),
    Step("evaluate", ("evaluate",), interrupted=False),
    Step("device eval", ("device", "eval", "{model}", "--limit", "4")),
    Step("report", ("report",)),
)


@dataclass
class Reference:
    step: Step
    before: Path  # the tree before the step
    after: Path  # the tree after an uninterrupted run of it
    writes: list[str]  # the step's writes, in order (relative paths)
    seconds: float


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (FAULT_ENV, FAULT_LOG_ENV)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return {**env, **extra}


def _run(step: Step, root: Path, npz: Path, **env: str) -> subprocess.CompletedProcess:
    argv = [a.format(model=root / "models" / MODEL, npz=npz) for a in step.argv]
    # Its own session: the fault hook signals the whole process group (children included), as
    # a terminal's Ctrl-C does, and must not reach pytest.
    # SIGINT back to its default too: a shell starts background jobs (`make test &`, nohup) with
    # SIGINT ignored, Python keeps it ignored, and no Ctrl-C would arrive.
    return subprocess.run([sys.executable, "-m", "tinyrnn", "--build", str(root), *argv],
                          env=_env(TINYRNN_BUILD=str(root), **env), capture_output=True,
                          text=True, timeout=900, start_new_session=True,
                          preexec_fn=_default_sigint)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _files(root: Path) -> dict[str, bytes]:
    out = {}
    for p in root.rglob("*"):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and rel != LOCK_NAME and not rel.startswith(NOT_COMPARED):
            out[rel] = p.read_bytes()
    return out


# Fields that record when, how long or where, not what: wall-clock seconds, the stderr tail of a
# crashed conversion child (pids, clocks), the ELF's absolute path, windows a rerun resumed.
_VOLATILE = {"detail", "firmware", "resumed_windows"}


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in _VOLATILE and "seconds" not in k}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _normalized(rel: str, data: bytes):
    """What must be reproducible. model.keras: Keras writes the save time (metadata.json, zip
    entry dates) and Python object ids (config.json "shared_object_id") into it; its weights and
    architecture are compared. report.md: its "Generated <time> ... in <tree>" line."""
    if rel.endswith(".json"):
        return _strip(json.loads(data))
    if rel.endswith(".keras"):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return {n: re.sub(rb'"shared_object_id": \d+', b"", z.read(n))
                    for n in z.namelist() if n != "metadata.json"}
    if rel.endswith(".md"):
        return [line for line in data.split(b"\n") if not line.startswith(b"Generated ")]
    return data


def _same(rel: str, a: bytes, b: bytes) -> bool:
    return a == b or _normalized(rel, a) == _normalized(rel, b)


def _tones(path: Path) -> Path:
    sys.path.insert(0, str(Path(__file__).parent))
    from test_user_path import _tones as tones

    return tones(path)


@pytest.fixture(scope="module")
def npz(tmp_path_factory) -> Path:
    return _tones(tmp_path_factory.mktemp("data") / "tones.npz")


@pytest.fixture(scope="module")
def references(tmp_path_factory, npz) -> dict[str, Reference]:
    """The README's steps, uninterrupted, each write logged; a snapshot of the tree per step."""
    base = tmp_path_factory.mktemp("reference")
    root = base / "tree"
    root.mkdir()
    refs = {}
    for i, step in enumerate(STEPS):
        before = base / f"{i}-before"
        shutil.copytree(root, before, symlinks=True)
        log = base / f"{i}.writes"
        start = time.monotonic()
        run = _run(step, root, npz, **{FAULT_LOG_ENV: str(log)})
        seconds = time.monotonic() - start
        assert run.returncode == 0, f"{step.name}: {run.stderr[-2000:]}"
        writes = [Path(p).relative_to(root).as_posix()
                  for p in log.read_text().splitlines()] if log.exists() else []
        assert writes, f"{step.name} wrote nothing through the build-tree helpers"
        after = base / f"{i}-after"
        shutil.copytree(root, after, symlinks=True)
        refs[step.name] = Reference(step, before, after, writes, seconds)
    return refs


def _faults(ref: Reference) -> list[tuple[int, str, str]]:
    """(n, signal, stage) to run: see the module docstring for the make-test sample."""
    n = len(ref.writes)
    points = [(i, "before") for i in range(1, n + 1)] + [(n, "after")]
    middle = points[len(points) // 2]
    if ALL:
        return [(i, sig, stage) for sig in ("kill", "int") for i, stage in points]
    kill = points if ref.step.name in QUICK else [points[0]]
    return [(i, "kill", stage) for i, stage in kill] + [(middle[0], "int", middle[1])]


def _check_interrupted(ref: Reference, tree: Path, run: subprocess.CompletedProcess,
                       sig: str) -> list[str]:
    problems = []
    if sig == "kill":
        if run.returncode != -signal.SIGKILL:
            problems.append(f"exit {run.returncode}, not killed: {run.stderr[-500:]}")
    else:
        if run.returncode != 130:
            problems.append(f"exit {run.returncode} after SIGINT, not 130")
        if "Traceback" in run.stderr + run.stdout:
            problems.append(f"a traceback after SIGINT: {run.stderr[-1500:]}")
        if "tinyrnn: interrupted: " not in run.stderr:
            problems.append(f"no interrupted message: {run.stderr[-500:]}")
    before, after, now = _files(ref.before), _files(ref.after), _files(tree)
    for rel, data in now.items():
        if is_temporary(Path(rel)):
            continue  # never published: no reader opens it by an artifact name
        if rel.endswith(".partial.json"):  # device checkpoint: whole, and keyed (trusted)
            json.loads(data)
            continue
        if rel in before and before[rel] == data:
            continue
        if rel in after and _same(rel, data, after[rel]):
            continue
        problems.append(f"{rel}: neither the finished file from before nor the step's result")
    for rel in before:
        if rel not in now and rel in after:
            problems.append(f"{rel}: a finished artifact was lost")
    return problems


def _check_rerun(ref: Reference, tree: Path, run: subprocess.CompletedProcess) -> list[str]:
    if run.returncode != 0:
        return [f"rerun failed (exit {run.returncode}): {run.stderr[-1500:]}"]
    after, now = _files(ref.after), _files(tree)
    problems = [f"{rel}: missing after the rerun" for rel in after if rel not in now]
    for rel, data in now.items():
        if is_temporary(Path(rel)):
            continue  # a killed writer's leftover, hidden and never read
        if rel not in after:
            problems.append(f"{rel}: left by the rerun, not made by an uninterrupted run")
        elif not _same(rel, data, after[rel]):
            problems.append(f"{rel}: differs from the uninterrupted run's")
    return problems


@pytest.mark.parametrize("name", [s.name for s in STEPS if s.interrupted or ALL])
def test_step_survives_an_interruption_at_every_write(name, references, npz, tmp_path):
    ref = references[name]
    start = time.monotonic()

    def one(fault: tuple[int, str, str]) -> list[str]:
        n, sig, stage = fault
        tree = tmp_path / f"{n}-{sig}-{stage}"
        shutil.copytree(ref.before, tree, symlinks=True)
        log = tmp_path / f"{n}-{sig}-{stage}.writes"
        run = _run(ref.step, tree, npz, **{FAULT_ENV: f"{n}:{sig}:{stage}", FAULT_LOG_ENV: str(log)})
        where = f"{name}: {sig} {stage} write {n}/{len(ref.writes)} ({ref.writes[n - 1]})"
        problems = _check_interrupted(ref, tree, run, sig)
        rerun = _run(ref.step, tree, npz)
        problems += _check_rerun(ref, tree, rerun)
        shutil.rmtree(tree)
        return [f"{where}: {p}" for p in problems]

    # Each case has its own copy of the tree, so two run at once: most of a case is a child
    # importing TensorFlow or waiting on QEMU, one core each.
    faults = _faults(ref)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(one, faults))
    failures = [f for problems in results for f in problems]
    figures = [(*fault, not problems) for fault, problems in zip(faults, results, strict=True)]
    seconds = time.monotonic() - start
    kills = sum(1 for f in figures if f[1] == "kill")
    print(f"\n[interrupted] {name}: {len(ref.writes)} writes; {kills} SIGKILL + "
          f"{len(figures) - kills} SIGINT interruptions, {sum(f[3] for f in figures)} intact and "
          f"rerun identical; {seconds:.0f} s")
    assert not failures, "\n".join(failures)
    assert len(figures) >= 2


def test_writes_are_counted_for_every_step(references):
    """The hook sees each step's artifacts: a writer that bypasses the atomic helpers would be
    missing here and never interrupted."""
    writes = {name: set(ref.writes) for name, ref in references.items()}
    m = f"models/{MODEL}"
    assert {f"{m}/model.keras", f"{m}/calibration.npy", f"{m}/metrics.json"} <= writes["train"]
    assert {f"{m}/float.tflite", f"{m}/int8.tflite", f"{m}/conversion.json",
            f"{m}/tflm/int8/model_data.cc"} <= writes["convert"]
    assert f"{m}/int8_custom.tflite" in writes["quantize-rnn"]
    assert writes["compile"] == {f"{m}/tinyrnn"}
    assert f"{m}/device-mps2-an386.json" in writes["device eval"]
    assert {"report/report.md", "report/confusion.png"} <= writes["report"]
    for ref in references.values():  # nothing written into the tree outside the helpers
        before = _files(ref.before)
        made = {rel for rel, data in _files(ref.after).items() if before.get(rel) != data}
        logged = set(ref.writes)
        unlogged = [rel for rel in made if rel not in logged
                    and not any(rel.startswith(w + "/") for w in logged)]
        assert not unlogged, f"{ref.step.name} wrote {unlogged} without the atomic helpers"


def _holder(root: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "tinyrnn.core.locking", str(root), "120"],
                            env=_env())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lock = root / LOCK_NAME
        if lock.is_file() and b"lock-probe" in lock.read_bytes():
            return proc
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the holder never took the lock")


def test_a_second_process_on_the_tree_is_refused_for_every_step(references, npz, tmp_path):
    """Each step command, started while another tinyrnn holds the tree, stops at once naming
    the holder, and changes nothing."""
    tree = tmp_path / "tree"
    shutil.copytree(references["device eval"].before, tree, symlinks=True)
    before = _files(tree)
    holder = _holder(tree)
    try:
        for step in STEPS:
            run = _run(step, tree, npz)
            assert run.returncode == 1, f"{step.name}: {run.returncode} {run.stderr[-800:]}"
            assert f"build tree {tree} is busy" in run.stderr, run.stderr
            assert f"pid {holder.pid}" in run.stderr and "lock-probe" in run.stderr, run.stderr
            assert "Traceback" not in run.stderr
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert _files(tree) == before
