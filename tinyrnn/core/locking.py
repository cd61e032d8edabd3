"""One writer per build tree: an advisory ``fcntl.flock`` on ``<build>/.tinyrnn.lock``.

Every command that writes into the build tree holds it for its whole run; a second tinyrnn
process on the same tree stops at once with a message naming the holder instead of
interleaving writes. The kernel drops the lock when the holder exits, however it dies (SIGKILL
included), so a stale lock file never blocks anything: only a live holder does."""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_NAME = ".tinyrnn.lock"


class BuildTreeBusy(RuntimeError):
    """Another live tinyrnn process holds the build tree."""


@contextmanager
def hold_build_tree(root: Path, command: str) -> Iterator[None]:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "another process"
            raise BuildTreeBusy(
                f"build tree {root} is busy: {holder} is writing to it. Wait for it to finish, "
                f"or give this run its own tree with --build (or TINYRNN_BUILD)") from None
        info = (f"`tinyrnn {command}` (pid {os.getpid()}, started "
                f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())})\n").encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, info, 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def command_writes(command: str) -> bool:
    """Commands that only read the tree (or write nothing there, like `export`) run alongside a
    writer. `sweep` workers share the tree on purpose: their Optuna storage hands each trial to
    one worker."""
    return command not in {"data", "list", "sweep", "export"}


if __name__ == "__main__":  # pragma: no cover - a manual probe: hold the lock for N seconds
    with hold_build_tree(Path(sys.argv[1]), "lock-probe"):
        time.sleep(float(sys.argv[2]))
