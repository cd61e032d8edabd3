"""What one sweep trial is, and the named grids (presets) of trials."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import asdict, dataclass, fields

from tinyrnn.core.experiment import check_cell
from tinyrnn.train.init import check_init

# The long-memory task trains faster with a higher rate (a long loss plateau before the memory
# is found) and runs its whole step budget: patience equal to the budget disables early stop.
RECALL_LEARNING_RATE = 0.01
RECALL_MAX_STEPS = 1200


@dataclass(frozen=True)
class TrialSpec:
    dataset: str
    cell: str
    units: int
    layers: int = 1
    seed: int = 0
    init: str = "default"

    def __post_init__(self) -> None:
        check_cell(self.cell)
        check_init(self.init)
        if self.units < 1 or self.layers < 1:
            raise ValueError(f"units and layers must be positive, got {self.units}, {self.layers}")

    @property
    def is_recall(self) -> bool:
        return self.dataset.startswith("recall")

    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def short(self) -> str:
        stack = f"x{self.layers}" if self.layers > 1 else ""
        init = "" if self.init == "default" else f" {self.init}"
        return f"{self.dataset} {self.cell}{self.units}{stack}{init} s{self.seed}"

    def shape(self) -> tuple[str, int, int]:
        return (self.cell, self.units, self.layers)

    @classmethod
    def from_json(cls, d: dict) -> TrialSpec:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown trial fields {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)


def grid(datasets, cells, units, seeds, layers=(1,), inits=("default",),
         extra: list[TrialSpec] | None = None) -> list[TrialSpec]:
    specs = [TrialSpec(d, c, u, n, s, i) for d, c, u, n, s, i in
             itertools.product(datasets, cells, units, layers, seeds, inits)]
    # Seeds outermost: an interrupted or partial sweep has every shape at seed 0 first.
    out = list(dict.fromkeys(specs + (extra or [])))
    return sorted(out, key=lambda s: s.seed)


CELLS = ("lstm", "gru", "rnn")
GATED_CELLS = ("lstm", "gru")  # the plain RNN has no gate bias to initialise
REAL = ("watch", "vowels")


def _two_layer(datasets, units, seeds) -> list[TrialSpec]:
    return grid(datasets, CELLS, (units,), seeds, layers=(2,))


# reduced: what the main job runs (must keep `make run` under 20 minutes on 2 cores); its 32-unit
# watch models with seeds 0-2 are the main job's own models (only int8 accuracy and costs are
# added). Measured on a loaded 2-core host: ~2 min per watch trial at 8/16 units, so the 16-unit
# row (another ~3 min idle) is left to `--preset frontier`.
# frontier: the full answer (issue 10): 8-64 units, 2 layers at 16, 5 seeds, both data sets.
# memory: delayed recall at 20-160 steps, Keras default vs chrono gate biases.
PRESETS: dict[str, dict] = {
    "reduced": {
        "about": "watch, units 8 (seed 0) and 32 (seeds 0-2 = the main job's models)",
        "specs": lambda: grid(("watch",), CELLS, (8,), (0,))
        + grid(("watch",), CELLS, (32,), (0, 1, 2)),
        "costs": True,
    },
    "frontier": {
        "about": "units 8, 16, 32, 64 and 2 layers of 16; seeds 0-4; watch and vowels",
        "specs": lambda: grid(REAL, CELLS, (8, 16, 32, 64), range(5),
                              extra=_two_layer(REAL, 16, range(5))),
        "costs": True,
    },
    "memory": {
        "about": "delayed recall at 20, 40, 80, 160 steps; default and chrono init; seeds 0-2; "
                 "32 units",
        "specs": lambda: grid([f"recall{t}" for t in (20, 40, 80, 160)], GATED_CELLS, (32,),
                              range(3), inits=("default", "chrono"),
                              extra=grid([f"recall{t}" for t in (20, 40, 80, 160)], ("rnn",),
                                         (32,), range(3))),
        "costs": False,
    },
}


def preset_specs(name: str) -> list[TrialSpec]:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return list(PRESETS[name]["specs"]())


def specs_digest(specs: list[TrialSpec]) -> str:
    return hashlib.sha256("\n".join(sorted(s.key() for s in specs)).encode()).hexdigest()[:10]
