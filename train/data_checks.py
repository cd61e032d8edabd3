"""Checks on a whole data set that go beyond one split's shapes (train/dataset.py): enough
windows and classes to train a classifier, and values bounded so that normalization stays finite.

Constant channels (std 0, a stuck or unused sensor) are accepted: train/normalization.py gives
them unit spread, so they normalize to a constant and the network learns to ignore them."""

from __future__ import annotations

import numpy as np


class DatasetError(ValueError):
    """A data set is malformed; the message names the problem and how to fix it."""


# Raw magnitudes beyond this are sentinels or corrupt records, not sensor readings: next to
# ordinary values they leave float32 no resolution after normalization (7 significant digits).
MAX_ABS_VALUE = 1e15


def check_not_empty(y: np.ndarray, what: str) -> None:
    if np.asarray(y).size == 0:
        raise DatasetError(f"{what}: the data set has no windows (y is empty); give at least one "
                           "window per class")


def check_class_count(num_classes: int, y_train: np.ndarray) -> None:
    if num_classes < 2:
        raise DatasetError(
            f"only one class ({num_classes}) in the labels: a classifier needs at least 2 classes; "
            "add windows of another class (e.g. a 'rest' or 'other' class)")
    if len(y_train) < num_classes:
        raise DatasetError(
            f"{len(y_train)} training windows for {num_classes} classes: every class needs at "
            "least one training window; add data or merge classes")


def check_values(x_train: np.ndarray, x_test: np.ndarray) -> None:
    """Raw values bounded by MAX_ABS_VALUE. That bound is what keeps normalization finite: with
    |x| <= 1e15 and every std >= MIN_STD = 1e-6 (train/normalization.py), a normalized value is
    at most 2e15 / 1e-6 = 2e21, far below float32's 3.4e38, so NaN/inf cannot appear after it."""
    for what, x in (("train", x_train), ("test", x_test)):
        peak = float(np.max(np.abs(x)))
        if peak > MAX_ABS_VALUE:
            where = tuple(int(i) for i in np.unravel_index(np.argmax(np.abs(x)), x.shape))
            raise DatasetError(
                f"{what}: X holds {peak:.3g} at (window, step, channel) {where}, beyond "
                f"{MAX_ABS_VALUE:.0e}: a sentinel or corrupt value; drop or clip those windows")
