"""Run one job in a child Python process, so a native crash is a report, not the end of the run.

TF 2.21's int8 calibrator segfaults on models with WHILE loops, and TFLM's interpreter can die on
a too-small arena: both take the whole process with them. A job is ``module:function`` called
with JSON keyword arguments in a fresh interpreter; it returns a JSON-able value.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STDERR_TAIL = 1500


@dataclass
class ChildResult:
    job: str
    ok: bool
    value: Any
    returncode: int
    seconds: float
    error: str = ""

    @property
    def crashed(self) -> bool:
        return self.returncode < 0

    def describe(self) -> str:
        if self.ok:
            return f"{self.job}: ok in {self.seconds:.1f} s"
        return f"{self.job}: {self.error}"


def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def run_isolated(job: str, timeout: float = 600.0, **kwargs: Any) -> ChildResult:
    """Call ``job`` (``package.module:function``) with ``kwargs`` in a child process."""
    with tempfile.TemporaryDirectory(prefix="tinyrnn-child-") as tmp:
        result_path = Path(tmp) / "result.json"
        args_path = Path(tmp) / "args.json"
        args_path.write_text(json.dumps(kwargs))
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        cwd = Path(__file__).resolve().parent.parent
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(cwd), env.get("PYTHONPATH")]))
        start = time.monotonic()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "tinyrnn.convert.isolate", job, str(args_path), str(result_path)],
                capture_output=True,
                text=True,
                timeout=timeout,
                env=env,
            )
        except subprocess.TimeoutExpired:
            return ChildResult(job, False, None, -9, time.monotonic() - start,
                               f"timed out after {timeout:.0f} s")
        seconds = time.monotonic() - start
        tail = proc.stderr[-STDERR_TAIL:].strip()
        if proc.returncode == 0 and result_path.is_file():
            return ChildResult(job, True, json.loads(result_path.read_text()), 0, seconds)
        if proc.returncode < 0:
            error = f"child process crashed with {_signal_name(proc.returncode)}"
        else:
            last = tail.splitlines()[-1] if tail else "no error output"
            error = f"child process failed (exit {proc.returncode}): {last}"
        return ChildResult(job, False, None, proc.returncode, seconds, error + "\n" + tail)


def _child_main(job: str, args_path: str, result_path: str) -> None:
    module_name, func_name = job.split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    value = func(**json.loads(Path(args_path).read_text()))
    Path(result_path).write_text(json.dumps(value))


if __name__ == "__main__":
    _child_main(*sys.argv[1:4])
