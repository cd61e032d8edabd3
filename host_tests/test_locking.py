"""Two tinyrnn processes on one build tree: the second stops with a message naming the holder;
a SIGKILLed holder frees the tree; a SIGKILL in the middle of an atomic write leaves the old or
the new file whole, never half of one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tinyrnn.core.locking import LOCK_NAME, BuildTreeBusy, hold_build_tree

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def _holder(root: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "tinyrnn.core.locking", str(root), "60"], env=ENV)
    lock = root / LOCK_NAME
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if lock.is_file() and b"lock-probe" in lock.read_bytes():
            return proc
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the holder never took the lock")


def test_second_writer_is_refused_and_a_killed_holder_frees_the_tree(tmp_path: Path) -> None:
    holder = _holder(tmp_path)
    try:
        run = subprocess.run([sys.executable, "-m", "tinyrnn", "--build", str(tmp_path),
                              "report"], env=ENV, capture_output=True, text=True, timeout=120)
        assert run.returncode == 1
        assert "is busy" in run.stderr and f"pid {holder.pid}" in run.stderr, run.stderr
        with pytest.raises(BuildTreeBusy, match="lock-probe"):
            with hold_build_tree(tmp_path, "test"):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The kernel released the lock with the process: the stale file blocks nothing.
    with hold_build_tree(tmp_path, "test"):
        assert f"pid {os.getpid()}" in (tmp_path / LOCK_NAME).read_text()


_WRITER = r"""
import sys
from pathlib import Path
from tinyrnn.core.buildtree import write_json
path = Path(sys.argv[1])
i = 0
while True:
    i += 1
    write_json(path, {"generation": i, "payload": [i] * 200000})
"""


def test_sigkill_during_atomic_writes_leaves_a_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "card.json"
    for round_ in range(8):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(target)], env=ENV)
        time.sleep(0.4 + 0.13 * round_)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if target.exists():
            data = json.loads(target.read_text())  # whole, or this raises
            assert data["payload"] == [data["generation"]] * 200000
    assert target.exists(), "the writer never finished a single file"
    # Leftovers are dot-prefixed temporaries that no reader opens by its artifact name.
    assert all(p.name.startswith(".card.json.") for p in tmp_path.iterdir() if p != target)
