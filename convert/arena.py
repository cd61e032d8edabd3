"""TFLM tensor arena needed by a model, measured with TFLM itself (the tflite-micro package).

A too-small arena can crash the interpreter rather than raise, so every probe is a child
process. The recording allocator's total (one probe with a generous arena) bounds the search;
a bisection then finds the smallest arena that allocates and runs one inference.
Numbers are for this 64-bit host: pointers and structs are wider than on a Cortex-M, so a
32-bit target needs somewhat less.
"""

from __future__ import annotations

import re
from pathlib import Path

from tinyrnn.convert.isolate import run_isolated

GRANULARITY = 16
_TOTAL_RE = re.compile(r"Arena allocation total (\d+) bytes")


def probe_job(tflite_path: str, arena_size: int, report: bool = False) -> dict:
    """Child side: allocate with ``arena_size`` and invoke once on zeros."""
    import contextlib
    import io
    import os
    import sys
    import tempfile

    import numpy as np
    from tflite_micro import runtime

    data = Path(tflite_path).read_bytes()
    interp = runtime.Interpreter.from_bytes(data, arena_size=arena_size)
    details = interp.get_input_details(0)
    interp.set_input(np.zeros(details["shape"], dtype=details["dtype"]), 0)
    interp.invoke()
    total = None
    if report:
        # print_allocations writes to the C-level stderr: capture the file descriptor.
        with tempfile.TemporaryFile(mode="w+") as tmp, contextlib.redirect_stderr(io.StringIO()):
            sys.stderr.flush()
            saved = os.dup(2)
            os.dup2(tmp.fileno(), 2)
            try:
                interp.print_allocations()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            tmp.seek(0)
            m = _TOTAL_RE.search(tmp.read())
            total = int(m.group(1)) if m else None
    return {"total": total}


def _allocates(path: Path, size: int) -> bool:
    return run_isolated("tinyrnn.convert.arena:probe_job", timeout=120, tflite_path=str(path),
                        arena_size=size).ok


def measure_arena(path: Path, ceiling: int = 8 << 20) -> dict:
    """Smallest working arena (to GRANULARITY bytes) and the recording allocator's total."""
    first = run_isolated("tinyrnn.convert.arena:probe_job", timeout=120, tflite_path=str(path),
                         arena_size=ceiling, report=True)
    if not first.ok:
        raise RuntimeError(f"{path}: TFLM cannot run this model even with a {ceiling}-byte arena:"
                           f" {first.error.splitlines()[0]}")
    recorded = first.value["total"] or ceiling
    hi = -(-recorded // GRANULARITY) * GRANULARITY
    if not _allocates(path, hi):
        hi = ceiling
    lo = 0  # known (assumed) to fail
    while hi - lo > GRANULARITY:
        mid = (lo + hi) // 2 // GRANULARITY * GRANULARITY
        if mid <= lo:
            break
        if _allocates(path, mid):
            hi = mid
        else:
            lo = mid
    return {"arena_bytes": hi, "recorded_total_bytes": first.value["total"],
            "host": "x86_64 (64-bit pointers)"}
