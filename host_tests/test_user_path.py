"""A new user's path: the README's step commands, one by one, on their own small .npz.

For all three cells: train, convert, quantize-rnn, compile, inspect, evaluate and device eval on the
emulated mps2-an386 must all succeed, the device must agree with the host on every window, and
the artifacts must be the ones ``tinyrnn all --dataset`` makes for the same settings (same files,
byte-identical .tflite and tinyrnn C).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tinyrnn.core.buildtree import BUILD_ENV

pytestmark = [pytest.mark.slow, pytest.mark.device]

CELLS = ("lstm", "gru", "rnn")
SETTINGS = ["--cells", ",".join(CELLS), "--seeds", "0", "--units", "8", "--epochs", "3"]
REPO = Path(__file__).resolve().parents[1]
DESCRIPTION = "three synthetic tones, 24 steps x 2 channels, one recording id per window"


def _tones(path: Path) -> Path:
    """Three classes of noisy tones; 12 recordings of 8 windows, so a group split is possible."""
    rng = np.random.default_rng(7)
    t = np.arange(24)
    xs, ys, groups = [], [], []
    for rec in range(12):
        label = rec % 3
        for _ in range(8):
            phase = rng.uniform(0, 2 * np.pi)
            base = np.sin(2 * np.pi * (label + 1) * t / 24 + phase)
            xs.append(np.stack([base, np.cos(2 * np.pi * (label + 1) * t / 24 + phase)], 1)
                      + rng.normal(0, 0.2, (24, 2)))
            ys.append(label)
            groups.append(rec)
    np.savez(path, X=np.asarray(xs, np.float32), y=np.asarray(ys), groups=np.asarray(groups),
             class_names=np.array(["low", "mid", "high"]), description=np.array(DESCRIPTION))
    return path


def _run(*argv: str) -> int:
    from tinyrnn.cli import main

    try:
        return main(list(argv))
    except SystemExit as exc:  # device commands exit through SystemExit
        return int(exc.code or 0)


@pytest.fixture(scope="module")
def npz(tmp_path_factory) -> Path:
    return _tones(tmp_path_factory.mktemp("userdata") / "tones.npz")


@pytest.fixture(scope="module")
def whole_job_started(tmp_path_factory, npz) -> Iterator[tuple[Path, subprocess.Popen]]:
    """`tinyrnn all` in its own process, started before the step-by-step run so the two overlap
    (each mostly keeps one core busy: TF conversions in children, PlatformIO, QEMU)."""
    root = tmp_path_factory.mktemp("all")
    env = {k: v for k, v in os.environ.items() if k != BUILD_ENV}
    proc = subprocess.Popen([sys.executable, "-m", "tinyrnn", "--build", str(root), "all",
                             "--dataset", str(npz), *SETTINGS], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    yield root, proc
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


@pytest.fixture(scope="module")
def step_by_step(tmp_path_factory, npz, whole_job_started) -> Path:
    root = tmp_path_factory.mktemp("steps")
    mp = pytest.MonkeyPatch()
    mp.setenv(BUILD_ENV, str(root))  # main() sets it for its children; restored afterwards
    try:
        b = ["--build", str(root)]
        assert _run(*b, "train", "--dataset", str(npz), *SETTINGS) == 0
        models = sorted((root / "models").iterdir())
        assert [m.name for m in models] == [f"tones-{c}-u8-s0" for c in ("gru", "lstm", "rnn")]
        assert _run(*b, "convert") == 0
        assert _run(*b, "quantize-rnn", *(str(m) for m in models if "-lstm-" not in m.name)) == 0
        for m in models:
            assert _run(*b, "compile", str(m)) == 0, m.name
        assert _run(*b, "inspect") == 0
        assert _run(*b, "evaluate") == 0
        for m in models:
            assert _run(*b, "device", "eval", str(m), "--env", "mps2-an386") == 0, m.name
    finally:
        mp.undo()
    return root


@pytest.fixture(scope="module")
def whole_job(whole_job_started) -> Path:
    root, proc = whole_job_started
    _, err = proc.communicate(timeout=1800)
    assert proc.returncode == 0, f"tinyrnn all failed ({proc.returncode}):\n{err[-3000:]}"
    return root


def test_compile_takes_the_deployable_model(step_by_step):
    for cell in ("gru", "rnn"):
        d = step_by_step / "models" / f"tones-{cell}-u8-s0"
        summary = json.loads((d / "tinyrnn" / "summary.json").read_text())
        custom = hashlib.sha256((d / "int8_custom.tflite").read_bytes()).hexdigest()
        assert summary["source_sha256"] == custom, f"{d.name}: not compiled from int8_custom.tflite"


@pytest.mark.parametrize("cell", CELLS)
def test_device_agrees_with_host_on_every_window(step_by_step, cell):
    r = json.loads((step_by_step / "models" / f"tones-{cell}-u8-s0" / "device-mps2-an386.json")
                   .read_text())
    assert r["windows"] > 0 and r["windows_outputs_differ"] == 0


def test_group_split_keeps_recordings_on_one_side(step_by_step):
    cfg = json.loads((step_by_step / "models" / "tones-lstm-u8-s0" / "config.json").read_text())
    split = cfg["dataset"]["split"]
    assert split["kind"] == "groups"
    assert not set(split["train_groups"]) & set(split["test_groups"])
    assert cfg["dataset"]["description"] == DESCRIPTION


@pytest.mark.parametrize("cell", CELLS)
def test_steps_reproduce_the_whole_job(step_by_step, whole_job, cell):
    name = f"tones-{cell}-u8-s0"
    a, b = step_by_step / "models" / name, whole_job / "models" / name
    files = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    compared = [f for f in files if f.endswith((".tflite", ".c", ".h", ".cc"))]
    assert any(f.startswith("tinyrnn/") for f in compared)
    for f in compared:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f"{name}/{f} differs"


def test_report_is_worded_from_the_data_set(whole_job):
    text = (whole_job / "report" / "report.md").read_text()
    assert DESCRIPTION in text.split("\n", 1)[0]
    assert "split by group" in text and "split by subject" not in text
