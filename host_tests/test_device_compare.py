"""The tinyrnn-vs-TFLM table (deploy/device_compare.py) measured with two targets at once, as the
main job does: the rows come back in the one-worker order, and every row whose reference is
exact agrees with it on every window (tinyrnn C vs its host build, TFLM reference kernels vs the
tflite-micro interpreter, the TINYRNN_GRU custom op vs the tinyrnn C host build)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from tinyrnn.deploy.device_compare import run_compare, targets_for
from tinyrnn.deploy.tflm_lib import unavailable_reason

_REASON = unavailable_reason() or (None if shutil.which("qemu-system-arm") else
                                   "qemu-system-arm not found: bash scripts/install-toolchain.sh")
pytestmark = [pytest.mark.device, pytest.mark.skipif(_REASON is not None, reason=str(_REASON))]

ENV = "mps2-an386"
WINDOWS = 3


@pytest.fixture(scope="module")
def gru(tiny_build: Path) -> Path:
    found = [d for d in sorted((tiny_build / "models").iterdir()) if "gru" in d.name]
    assert found, f"no GRU under {tiny_build / 'models'}"
    return found[0]


def test_two_workers_keep_the_order_and_exact_rows_agree(gru: Path) -> None:
    rows = run_compare([gru], [ENV], WINDOWS, progress=False, workers=2)
    targets = targets_for(gru)
    assert len(targets) == 5  # tinyrnn; TFLM ref and CMSIS-NN on TF's graph and on the custom op
    assert [(r["backend"], r["model_file"]) for r in rows] == \
        [(t.backend, t.graph_file) for t in targets]
    assert all(r["status"] == "ok" and r["windows"] == WINDOWS for r in rows), rows
    exact = [r for r in rows if r["backend"] in ("tinyrnn", "tflm")
             or r["model_file"] == "int8_custom.tflite"]
    assert len(exact) == 4
    assert [r["outputs_differing"] for r in exact] == [0, 0, 0, 0]
    # the custom op runs tinyrnn's kernel inside TFLM: its instructions include the interpreter
    custom = [r for r in rows if r["model_file"] == "int8_custom.tflite" and r["backend"] != "tinyrnn"]
    tinyrnn = rows[0]
    assert all(r["instructions_per_inference"] > tinyrnn["instructions_per_inference"]
               for r in custom)


def test_a_set_stop_starts_no_row(gru: Path) -> None:
    stop = threading.Event()
    stop.set()
    assert run_compare([gru], [ENV], WINDOWS, progress=False, workers=2, stop=stop) == []
