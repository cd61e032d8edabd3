"""Per-channel standardization fitted on the training split only.

The same constants are stored with the model and written into the generated C headers, so a
device applies exactly the host's preprocessing before quantizing its input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# Channels that never move (a stuck sensor) would divide by zero; treat them as unit spread.
MIN_STD = 1e-6


@dataclass(frozen=True)
class Normalization:
    mean: list[float]
    std: list[float]

    @classmethod
    def fit(cls, x_train: np.ndarray) -> Normalization:
        flat = x_train.reshape(-1, x_train.shape[-1]).astype(np.float64)
        std = flat.std(axis=0)
        std = np.where(std < MIN_STD, 1.0, std)
        return cls(mean=[float(v) for v in flat.mean(axis=0)], std=[float(v) for v in std])

    def apply(self, x: np.ndarray) -> np.ndarray:
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        return ((x - mean) / std).astype(np.float32)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> Normalization:
        return cls(mean=[float(v) for v in d["mean"]], std=[float(v) for v in d["std"]])
