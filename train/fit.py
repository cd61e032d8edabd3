"""Train one classifier reproducibly and save it with everything later steps need."""

from __future__ import annotations

import io
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tinyrnn.core.buildtree import (
    DEFAULT_ROOT,
    commit,
    model_dir,
    read_json,
    temp_path,
    write_bytes_atomic,
    write_json,
)
from tinyrnn.train.convergence import convergence, epoch_timer
from tinyrnn.train.dataset import Dataset, stratified_split
from tinyrnn.train.init import apply_init, check_init
from tinyrnn.train.models import build_classifier, check_cell, classifier_params
from tinyrnn.train.normalization import Normalization
from tinyrnn.train.schedule import MAX_STEPS, PATIENCE_STEPS, plan_schedule

CALIBRATION_WINDOWS = 200


@dataclass(frozen=True)
class TrainConfig:
    dataset: str = "watch"
    cell: str = "lstm"
    units: int = 32
    layers: int = 1
    # None: set from the data by train/schedule.py (gradient steps, adapted batch, plateau).
    epochs: int | None = None
    batch_size: int | None = None
    seed: int = 0
    patience: int | None = None
    learning_rate: float = 3e-3
    validation_fraction: float = 0.15
    clipnorm: float = 1.0
    max_steps: int = MAX_STEPS
    patience_steps: int = PATIENCE_STEPS
    init: str = "default"

    @property
    def name(self) -> str:
        stack = f"x{self.layers}" if self.layers > 1 else ""
        tag = Path(self.dataset).stem if self.dataset.endswith(".npz") else self.dataset
        init = "" if self.init == "default" else f"-{self.init}"
        return f"{tag}-{self.cell}-u{self.units}{stack}{init}-s{self.seed}"

    def to_json(self) -> dict:
        return asdict(self)


# TF threads for training. These recurrent models are too small for TF's thread pools, whose
# threads spin while they wait: with TF's default (one per core) a 6-epoch watch model took
# 10.3 CPU-s in 7.4 s (LSTM), 9.0 in 6.9 (GRU), 4.1 in 3.9 (RNN); with one thread 7.6 in 7.7,
# 7.4 in 7.4, 3.4 in 3.3, same accuracy. The main job runs its device lane beside training,
# so CPU saved is time saved.
TRAIN_THREADS = 1


def seed_everything(seed: int) -> None:
    """Same seed, same weights: seeds Python, numpy and TF, and asks TF for deterministic ops."""
    import tensorflow as tf
    import tf_keras as keras

    try:
        tf.config.threading.set_intra_op_parallelism_threads(TRAIN_THREADS)
        tf.config.threading.set_inter_op_parallelism_threads(TRAIN_THREADS)
    except RuntimeError:  # TF already started in this process (an API caller's): keep its pools
        pass
    os.environ["PYTHONHASHSEED"] = str(seed)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def is_trained(out: Path, config: TrainConfig) -> bool:
    """A finished result is one whose metrics exist for exactly this configuration."""
    cfg = out / "config.json"
    return (out / "metrics.json").is_file() and cfg.is_file() and (
        read_json(cfg).get("train") == config.to_json()
    )


def train(
    config: TrainConfig, data: Dataset, root: Path = DEFAULT_ROOT, force: bool = False,
    verbose: int = 2,
) -> Path:
    """Train, then save model, normalization, history and metrics under the model's folder.

    Skips work whose result is already there for the same configuration, unless ``force``.
    Files are replaced atomically and metrics.json is written last, so an interrupted run
    leaves either the previous finished model or an obviously unfinished folder.
    """
    import tf_keras as keras

    check_cell(config.cell)
    check_init(config.init)
    out = model_dir(config.name, root)
    if not force and is_trained(out, config):
        print(f"[train] {config.name}: already trained, skipping (use --force to retrain)")
        return out
    out.mkdir(parents=True, exist_ok=True)
    # metrics.json marks a finished model: a retrain interrupted from here on must not keep
    # the old one's mark next to half-replaced files.
    (out / "metrics.json").unlink(missing_ok=True)
    seed_everything(config.seed)

    norm = Normalization.fit(data.x_train)
    x_train = norm.apply(data.x_train)
    x_test = norm.apply(data.x_test)
    fit_idx, val_idx = stratified_split(data.y_train, config.validation_fraction, config.seed)
    schedule = plan_schedule(len(fit_idx), config.max_steps, config.patience_steps,
                             config.batch_size, config.epochs, config.patience)

    model = build_classifier(
        config.cell, config.units, config.layers, data.steps, data.channels, data.num_classes
    )
    init_record = apply_init(model, config.cell, config.init, data.steps, config.seed)
    model.compile(
        # Clipping: LSTM losses spiked (0.22 -> 1.0) between epochs without it.
        optimizer=keras.optimizers.Adam(config.learning_rate, clipnorm=config.clipnorm),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    print(
        f"[train] {config.name}: {model.count_params()} params, {len(fit_idx)} train / "
        f"{len(val_idx)} validation / {len(data.y_test)} test windows; {schedule.rule}"
    )
    stop = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=schedule.patience_epochs, restore_best_weights=True
    )
    timer = epoch_timer()
    start = time.monotonic()
    history = model.fit(
        x_train[fit_idx],
        data.y_train[fit_idx],
        validation_data=(x_train[val_idx], data.y_train[val_idx]),
        epochs=schedule.max_epochs,
        batch_size=schedule.batch_size,
        shuffle=True,
        callbacks=[stop, timer],
        verbose=verbose,
    )
    seconds = time.monotonic() - start
    probs = model.predict(x_test, batch_size=256, verbose=0)
    test_acc = float(np.mean(np.argmax(probs, axis=1) == data.y_test))

    # Calibration windows for int8 conversion: a seeded sample of the (normalized) training
    # split, saved with the model so conversion never needs the raw data set again.
    rng = np.random.default_rng(config.seed)
    calib = rng.choice(fit_idx, size=min(CALIBRATION_WINDOWS, len(fit_idx)), replace=False)
    buf = io.BytesIO()
    np.save(buf, x_train[np.sort(calib)])
    write_bytes_atomic(out / "calibration.npy", buf.getvalue())

    tmp = temp_path(out / "model.keras", ".keras")  # Keras insists on the extension
    try:
        model.save(tmp)
        commit(tmp, out / "model.keras")
    finally:
        tmp.unlink(missing_ok=True)
    write_json(out / "normalization.json", norm.to_json())
    write_json(
        out / "config.json",
        {
            "train": config.to_json(),
            "schedule": schedule.to_json(),
            "initialisation": init_record,
            "dataset": data.summary(),
            "class_names": data.class_names,
            "steps": data.steps,
            "channels": data.channels,
            "num_classes": data.num_classes,
        },
    )
    hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    hist["epoch_seconds"] = [round(s, 4) for s in timer.seconds]
    write_json(out / "history.json", hist)
    epochs_run = len(hist["loss"])
    write_json(
        out / "metrics.json",
        {
            "keras_params": int(model.count_params()),
            "formula_params": classifier_params(
                config.cell, config.units, config.layers, data.channels, data.num_classes
            ),
            "float_test_accuracy": test_acc,
            "epochs_run": epochs_run,
            "best_epoch": int(np.argmin(hist["val_loss"])) + 1,
            "train_seconds": round(seconds, 1),
            "convergence": convergence(hist["val_accuracy"], timer.seconds),
            "batch_size": schedule.batch_size,
            "gradient_steps": epochs_run * schedule.steps_per_epoch,
            "seed": config.seed,
        },
    )
    print(
        f"[train] {config.name}: float test accuracy {test_acc:.4f} after {epochs_run} epochs "
        f"({seconds:.0f} s)"
    )
    return out


def load_model(out: Path):
    import tf_keras as keras

    return keras.models.load_model(out / "model.keras", compile=False)
