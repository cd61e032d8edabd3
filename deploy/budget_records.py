"""What one budget measurement holds: shared by the tinyrnn and the TFLM measurers
(deploy/budget.py, deploy/budget_tflm.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Measurement:
    model: str
    env: str
    flash_bytes: int
    ram_bytes: int
    model_bytes: int
    instructions_per_inference: int
    macs: int
    instructions_per_mac: float
    counter: str
    counts_repeat: bool
    arena_bytes: int
    state_bytes: int
    # QEMU trace of one inference x the board core's timing model (deploy/cycles.py)
    cycles_estimated_per_inference: int = 0
    cycles_estimated_per_mac: float = 0.0
    timing_model: str = ""

    def metric(self, name: str) -> int:
        return int(getattr(self, name))
