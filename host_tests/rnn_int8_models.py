"""Trained smartwatch models for the int8 GRU/RNN tests and benchmark, cached under
build/test-cache/rnn-int8-<hash>/ (keyed by the training parameters and this file's trainer).

GRU and SimpleRNN go through the pipeline's own ``tinyrnn.train.fit.train`` (Keras default
reset_after=True); the reset_after=False GRU, which ``build_classifier`` does not offer, is
trained here with the same data, normalization, optimizer and calibration sample.
"""

from __future__ import annotations

import fcntl
import hashlib
import inspect
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
UNITS = 32
EPOCHS = 30
SEED = 0
SPECS = {"gru": ("gru", True), "rnn": ("rnn", True), "gru_ra0": ("gru", False),
         "lstm": ("lstm", True)}
# The models host_tests/test_rnn_int8_model.py needs (conftest.py trains them ahead)
TEST_KEYS = ("gru", "rnn", "gru_ra0")


def _child(root: str, key: str) -> None:  # runs in a child process (TF import + training)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np

    from tinyrnn.train.fit import TrainConfig, seed_everything, train
    from tinyrnn.train.sources import load_dataset

    cell, reset_after = SPECS[key]
    data = load_dataset("watch", seed=SEED)
    cfg = TrainConfig(dataset="watch", cell=cell, units=UNITS, epochs=EPOCHS, seed=SEED,
                      batch_size=64, patience=8)
    if reset_after:
        train(cfg, data, root=Path(root), verbose=0)
        return
    # reset_after=False GRU: the same recipe as tinyrnn.train.fit.train with the layer option changed.
    import tf_keras as keras

    from tinyrnn.core.buildtree import write_json
    from tinyrnn.train.dataset import stratified_split
    from tinyrnn.train.normalization import Normalization

    out = Path(root) / "models" / f"watch-gru-ra0-u{UNITS}-s{SEED}"
    if (out / "metrics.json").is_file():
        return
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(SEED)
    norm = Normalization.fit(data.x_train)
    x_train, x_test = norm.apply(data.x_train), norm.apply(data.x_test)
    fit_idx, val_idx = stratified_split(data.y_train, cfg.validation_fraction, SEED)
    inp = keras.Input((data.steps, data.channels), name="window")
    h = keras.layers.GRU(UNITS, reset_after=False, name="gru0")(inp)
    model = keras.Model(inp, keras.layers.Dense(data.num_classes, activation="softmax",
                                                name="head")(h))
    model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience,
                                         restore_best_weights=True)
    model.fit(x_train[fit_idx], data.y_train[fit_idx],
              validation_data=(x_train[val_idx], data.y_train[val_idx]), epochs=EPOCHS,
              batch_size=cfg.batch_size, shuffle=True, callbacks=[stop], verbose=0)
    acc = float(np.mean(np.argmax(model.predict(x_test, verbose=0), 1) == data.y_test))
    rng = np.random.default_rng(SEED)
    calib = rng.choice(fit_idx, size=min(200, len(fit_idx)), replace=False)
    np.save(out / "calibration.npy", x_train[np.sort(calib)])
    model.save(out / "model.keras")
    write_json(out / "normalization.json", norm.to_json())
    write_json(out / "config.json", {"train": {**cfg.to_json(), "reset_after": False},
                                     "class_names": data.class_names, "steps": data.steps,
                                     "channels": data.channels,
                                     "num_classes": data.num_classes})
    write_json(out / "metrics.json", {"float_test_accuracy": acc, "seed": SEED})


def cache_root() -> Path:
    h = hashlib.sha256(inspect.getsource(_child).encode())
    h.update(json.dumps([UNITS, EPOCHS, SEED, SPECS]).encode())
    return REPO / "build" / "test-cache" / f"rnn-int8-{h.hexdigest()[:10]}"


# Children training at once: training runs on one TF thread (tinyrnn.train.fit.TRAIN_THREADS),
# so two use both cores of a 2-core machine.
PARALLEL = 2


@contextmanager
def _one_trainer(root: Path) -> Iterator[None]:
    """Holds the cache for one trainer at a time (blocking flock): the session's background
    child (host_tests/conftest.py) or a test; whoever comes second finds the models there."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / ".training.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


def start_background(keys: tuple[str, ...] = TEST_KEYS) -> subprocess.Popen:
    """Train keys in a low-priority process group while the tests that do not need them run
    (most keep one core busy); model_dirs() in the test then waits for it on the lock."""
    env = dict(os.environ, PYTHONPATH=f"{REPO}:{REPO / 'host_tests'}")
    return subprocess.Popen(["nice", "-n", "19", sys.executable, "-m", "rnn_int8_models", *keys],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, env=env, cwd=REPO, start_new_session=True)


def model_dirs(keys: tuple[str, ...] = TEST_KEYS) -> dict[str, Path]:
    """Train what is missing (one child process per model, PARALLEL at once) and return
    {key: model dir}."""
    root = cache_root()
    with _one_trainer(root):
        return _train_missing(root, keys)


def _train_missing(root: Path, keys: tuple[str, ...]) -> dict[str, Path]:
    names = {"gru": f"watch-gru-u{UNITS}-s{SEED}", "rnn": f"watch-rnn-u{UNITS}-s{SEED}",
             "lstm": f"watch-lstm-u{UNITS}-s{SEED}", "gru_ra0": f"watch-gru-ra0-u{UNITS}-s{SEED}"}
    out = {key: root / "models" / names[key] for key in keys}
    missing = [key for key in keys if not (out[key] / "metrics.json").is_file()]
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=f"{REPO}:{REPO / 'host_tests'}")
    for i in range(0, len(missing), PARALLEL):
        running = {key: subprocess.Popen(
            [sys.executable, "-c", f"import rnn_int8_models as m; m._child({str(root)!r}, {key!r})"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
            for key in missing[i:i + PARALLEL]}
        for key, proc in running.items():
            _, err = proc.communicate(timeout=1800)
            if proc.returncode != 0 or not (out[key] / "metrics.json").is_file():
                raise RuntimeError(f"training {key} failed ({proc.returncode}):\n{err[-3000:]}")
    return out


if __name__ == "__main__":
    for k, v in model_dirs(tuple(sys.argv[1:]) or tuple(SPECS)).items():
        print(k, v)
