"""Affine int8 quantization of inputs, the one rule host and device share.

TFLM's QUANTIZE kernel rounds half away from zero (C's ``lroundf``,
``std::round``), not half to even like ``np.round``: on a tie the two differ by one step, so
every host path that feeds a device or a reference (evaluation, device eval, ``device run``,
benchmarks, the GRU/RNN reference) calls ``quantize`` below. docs/toolchain-facts.md records it.
"""

from __future__ import annotations

import numpy as np


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype=np.int8) -> np.ndarray:
    """q = clamp(round(x / scale) + zero_point), rounding half away from zero like C's lroundf."""
    info = np.iinfo(dtype)
    v = np.asarray(x, dtype=np.float64) / scale
    q = np.sign(v) * np.floor(np.abs(v) + 0.5) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return ((q.astype(np.float32) - zero_point) * scale).astype(np.float32)
