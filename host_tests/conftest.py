"""Shared fixtures: a tiny but real trained/converted build tree, made once per session."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Device-side options (--device) live with the firmware tests' plugin, when present.
_plugin = Path(__file__).with_name("device_plugin.py")
pytest_plugins = ["device_plugin"] if _plugin.is_file() else []

REPO = Path(__file__).resolve().parent.parent


_prebuild: subprocess.Popen | None = None
_pretrain: subprocess.Popen | None = None
# The tests that link TFLM, all on the emulated Cortex-M4 (so does `tinyrnn budget` after them).
_TFLM_TESTS = ("test_tflm_device.py",)
# The tests that need the trained 32-unit smartwatch models of rnn_int8_models.py.
_TRAINED_TESTS = ("test_rnn_int8_model.py",)


# Session fixtures worth computing once: with pytest-xdist (make test) the modules that use one
# run in the same worker.
_SHARED_FIXTURES = ("tiny_build",)


def xdist_group(module_path: str, root: Path, serial_port: bool) -> str:
    """The worker group of a test module: the module itself (its module fixtures are built
    once), the first shared session fixture a function of it takes, or, when --device is a real
    board's serial port, one group for everything (one port, so one worker at a time)."""
    if serial_port:
        return "real-board"
    source = (root / module_path).read_text(encoding="utf-8")
    takes = [f for f in _SHARED_FIXTURES if re.search(rf"def \w+\([^)]*\b{f}\b", source)]
    return takes[0] if takes else module_path


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook; plain pytest runs without it
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """Whole groups per worker (see xdist_group). Scheduling by a node-id suffix
    (--dist loadgroup) does not work with pytest 9.2, which no longer reads it."""
    from xdist.scheduler import LoadScopeScheduling

    port = False
    if pytest_plugins:
        from device_plugin import device_option, is_serial_port

        port = is_serial_port(device_option(config))
    groups: dict[str, str] = {}

    class ModuleGroups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            if module not in groups:
                groups[module] = xdist_group(module, config.rootpath, port)
            return groups[module]

    return ModuleGroups(config, log)


def _first_worker() -> bool:
    """True in a plain run and in pytest-xdist's first worker: background jobs start once."""
    return os.environ.get("PYTEST_XDIST_WORKER", "gw0") == "gw0"


def pytest_collection_finish(session: pytest.Session) -> None:
    """Work for later tests in the background while the earlier ones run (most use one core):
    the Cortex-M4 TFLM libraries (about two minutes the TFLM tests would otherwise wait for)
    and the trained smartwatch models (about two minutes of training). If either fails, the
    tests that need it build or train (and report) it themselves."""
    global _prebuild, _pretrain
    if not _first_worker():
        return
    names = {Path(str(item.fspath)).name for item in session.items}
    if names & set(_TFLM_TESTS):
        from tinyrnn.deploy.tflm_lib import start_background_build

        _prebuild = start_background_build(["mps2-an386"])
    if names & set(_TRAINED_TESTS):
        from rnn_int8_models import start_background

        _pretrain = start_background()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _prebuild is not None:
        from tinyrnn.deploy.tflm_lib import stop_background_build

        stop_background_build(_prebuild)
    if _pretrain is not None and _pretrain.poll() is None:
        os.killpg(_pretrain.pid, signal.SIGTERM)  # the trainer and its training children
        _pretrain.wait(timeout=30)


@pytest.fixture(scope="session")
def watch():
    from tinyrnn.train.watch import load_watch

    return load_watch()


@pytest.fixture(scope="session")
def small_watch_npz(tmp_path_factory, watch) -> Path:
    """A stratified fifth of the smartwatch windows: real data, seconds to train on."""
    from tinyrnn.train.dataset import stratified_split

    _, tr = stratified_split(watch.y_train, 0.25, seed=0)
    _, te = stratified_split(watch.y_test, 0.5, seed=0)
    path = tmp_path_factory.mktemp("data") / "watchsmall.npz"
    np.savez(path, X=watch.x_train[tr], y=watch.y_train[tr], X_test=watch.x_test[te],
             y_test=watch.y_test[te], class_names=np.array(watch.class_names))
    return path


def _train_tiny(root: Path, spec: Path, cell: str, seed: int = 0) -> Path:
    from tinyrnn.train.fit import TrainConfig, train
    from tinyrnn.train.sources import load_dataset

    data = load_dataset(str(spec), seed=seed)
    cfg = TrainConfig(dataset=str(spec), cell=cell, units=8, epochs=8, seed=seed, patience=8)
    return train(cfg, data, root=root, verbose=0)


@pytest.fixture(scope="session")
def tiny_build(tmp_path_factory, small_watch_npz) -> Path:
    """Train, convert, inspect and evaluate a tiny LSTM and GRU through the real pipeline."""
    from tinyrnn.pipeline import deploy_steps

    root = tmp_path_factory.mktemp("build")
    for cell in ("lstm", "gru"):
        d = _train_tiny(root, small_watch_npz, cell)
        deploy_steps(d, force=False, probe_crashes=True)
    return root


@pytest.fixture(scope="session")
def train_tiny():
    return _train_tiny
