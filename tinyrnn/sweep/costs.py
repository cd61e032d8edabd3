"""Device costs of a model shape, measured once per shape and cached.

Sizes and instruction counts depend on the shape, not on what the weights learned, so they are
measured on an untrained model of the same shape, as the CI budgets are (deploy/budget.py):
int8 through our quantizer or TF's converter, tinyrnn C, firmware built for an emulated board,
a few windows run under QEMU -icount (instructions (emulated), not cycles).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from tinyrnn.core.buildtree import read_json, write_json

DEFAULT_BOARD = "mps2-an386"  # Cortex-M4 with DSP
COST_METRICS = ("param_bytes", "instructions", "ram_bytes", "flash_bytes", "firmware_ram_bytes")


@dataclass(frozen=True)
class Shape:
    cell: str
    units: int
    layers: int
    steps: int
    channels: int
    classes: int

    def key(self, board: str) -> str:
        raw = json.dumps(asdict(self), sort_keys=True) + board
        return f"{self.cell}{self.units}x{self.layers}-{hashlib.sha256(raw.encode()).hexdigest()[:10]}"


@dataclass(frozen=True)
class Costs:
    board: str
    param_bytes: int        # const parameter arrays in the ELF (weights, biases, requant)
    instructions: int       # per inference, QEMU -icount: instructions (emulated)
    ram_bytes: int          # the model's RAM: tinyrnn arena + recurrent state
    flash_bytes: int        # whole firmware image (harness + runtime + model)
    firmware_ram_bytes: int  # whole firmware RAM, 8 KB stack included
    macs: int

    def to_json(self) -> dict:
        return asdict(self)

    def within(self, limits: dict[str, int | None]) -> bool:
        return all(v is None or getattr(self, k) <= v for k, v in limits.items())


def cost_dir(root: Path) -> Path:
    return root / "sweep" / "costs"


def shape_costs(shape: Shape, root: Path, board: str = DEFAULT_BOARD) -> Costs:
    """Measured once per (shape, board); a file lock keeps parallel workers from building the
    same firmware folder at once (the second one then reads the cache)."""
    from tinyrnn.deploy.budget import ModelSpec, generate_model, measure

    base = cost_dir(root)
    base.mkdir(parents=True, exist_ok=True)
    key = shape.key(board)
    cached = base / f"{key}.json"
    with open(base / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if cached.is_file():
            return Costs(**read_json(cached))
        spec = ModelSpec(name=f"sweep-{key}", cell=shape.cell, units=shape.units,
                         layers=shape.layers, steps=shape.steps, channels=shape.channels,
                         classes=shape.classes)
        model_c = generate_model(spec, root=base / "models")
        m = measure(spec, model_c, board)
        if not m.counts_repeat:
            raise RuntimeError(f"{key}: instruction counts differed between runs of one window")
        costs = Costs(board=board, param_bytes=m.model_bytes,
                      instructions=m.instructions_per_inference,
                      ram_bytes=m.arena_bytes + m.state_bytes, flash_bytes=m.flash_bytes,
                      firmware_ram_bytes=m.ram_bytes, macs=m.macs)
        write_json(cached, costs.to_json())
        return costs
