"""Shared helpers of the firmware/protocol tests: one build per board per session, and the
Python mirror of the protocol fixture (firmware/test/fixture_model, which is not a model)."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

from tinyrnn.deploy.firmware import FirmwareBuild, build
from tinyrnn.deploy.pio_bootstrap import build_root

FIXTURE_STEPS = 16
FIXTURE_CHANNELS = 6
FIXTURE_OUTPUTS = 7


@functools.cache
def fixture_build(env: str) -> FirmwareBuild:
    """The protocol-fixture firmware for env, built once per test process into its own folder
    (pytest-xdist workers build side by side; ccache shares their objects)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return build(env, build_dir=build_root() / "test-firmware" / f"fixture-{worker}")


def s8(data: bytes | Sequence[int]) -> list[int]:
    return [b - 256 if b > 127 else b for b in bytes(data)]


def fixture_mirror(window: bytes, steps: int | None = None) -> list[int]:
    """Outputs of the fixture after `steps` time steps from reset (all of them by default):
    out[k] = clamp(sum_t floor(x[t][k % C] / 16), -128, 127)."""
    x = s8(window)
    n = FIXTURE_STEPS if steps is None else steps
    return [
        max(-128, min(127, sum(x[t * FIXTURE_CHANNELS + k % FIXTURE_CHANNELS] >> 4
                               for t in range(n))))
        for k in range(FIXTURE_OUTPUTS)
    ]
