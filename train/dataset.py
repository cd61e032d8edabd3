"""The one in-memory form every data set takes, and its validation.

Whatever the source (smartwatch recordings, a synthetic task, a user's ``.npz``), training and
conversion see a :class:`Dataset`: float32 windows ``[N, T, C]``, int labels ``0..K-1``, a fixed
train/test split and class names. Validation lives here so every source gets the same checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinyrnn.train.data_checks import DatasetError, check_class_count, check_values


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    description: str = ""
    # Which subjects (or other groups) ended up on each side of the split, for the record.
    split_info: dict = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def channels(self) -> int:
        return int(self.x_train.shape[2])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def summary(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "train_windows": len(self.y_train),
            "test_windows": len(self.y_test),
            "steps": self.steps,
            "channels": self.channels,
            "class_names": list(self.class_names),
            "train_class_counts": np.bincount(self.y_train, minlength=self.num_classes).tolist(),
            "test_class_counts": np.bincount(self.y_test, minlength=self.num_classes).tolist(),
            "split": self.split_info,
        }


def check_windows(x: np.ndarray, y: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Check one side of a split and return it as (float32 [N,T,C], int64 [N])."""
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim != 3:
        raise DatasetError(
            f"{what}: X must have rank 3 [windows, time steps, channels], got shape {x.shape}; "
            "reshape a single-channel series to [N, T, 1]"
        )
    if not np.issubdtype(x.dtype, np.number):
        raise DatasetError(f"{what}: X must be numeric, got dtype {x.dtype}")
    if y.ndim != 1:
        raise DatasetError(f"{what}: y must have rank 1 [windows], got shape {y.shape}")
    if len(x) != len(y):
        raise DatasetError(
            f"{what}: X has {len(x)} windows but y has {len(y)} labels; they must match one to one"
        )
    if len(x) == 0 or x.shape[1] == 0 or x.shape[2] == 0:
        raise DatasetError(f"{what}: X is empty (shape {x.shape}); give at least one window")
    x = x.astype(np.float32)
    bad = ~np.isfinite(x)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DatasetError(
            f"{what}: X has {int(bad.sum())} NaN/inf values (first at window, step, channel "
            f"{first}); interpolate or drop those windows"
        )
    if not (np.issubdtype(y.dtype, np.integer) or np.all(np.mod(y, 1) == 0)):
        raise DatasetError(f"{what}: y must hold integer class indices, got dtype {y.dtype}")
    return x, y.astype(np.int64)


def check_labels(y_train: np.ndarray, y_test: np.ndarray, num_classes: int) -> None:
    for what, y in (("train", y_train), ("test", y_test)):
        if y.min() < 0 or y.max() >= num_classes:
            raise DatasetError(
                f"{what}: labels must be 0..{num_classes - 1}, found {int(y.min())}..{int(y.max())}"
                "; map your classes to consecutive integers starting at 0"
            )
    seen = sorted(set(np.unique(y_train).tolist()) | set(np.unique(y_test).tolist()))
    if len(seen) != num_classes:
        raise DatasetError(
            f"labels must be 0..{num_classes - 1} with no gaps, found only {seen}; renumber the "
            "classes consecutively from 0 (or give class_names for every class)"
        )
    missing = sorted(set(range(num_classes)) - set(np.unique(y_train).tolist()))
    if missing:
        raise DatasetError(
            f"train: classes {missing} have no training window; every class 0..{num_classes - 1} "
            "needs examples (or remove the class and renumber)"
        )


def make_dataset(
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    class_names: list[str] | None = None,
    description: str = "",
    split_info: dict | None = None,
) -> Dataset:
    """Validate both sides of a split and build a :class:`Dataset`."""
    x_train, y_train = check_windows(x_train, y_train, "train")
    x_test, y_test = check_windows(x_test, y_test, "test")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DatasetError(
            f"train windows are [T, C] = {list(x_train.shape[1:])} but test windows are "
            f"{list(x_test.shape[1:])}; both must have the same time steps and channels"
        )
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    if class_names is not None:
        class_names = [str(c) for c in class_names]
        if len(class_names) < num_classes:
            raise DatasetError(
                f"class_names has {len(class_names)} names but labels go up to {num_classes - 1}; "
                "give one name per class"
            )
        num_classes = len(class_names)
    else:
        class_names = [f"class{k}" for k in range(num_classes)]

    check_class_count(num_classes, y_train)
    check_labels(y_train, y_test, num_classes)
    check_values(x_train, x_test)
    return Dataset(
        name=name,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        class_names=class_names,
        description=description,
        split_info=split_info or {},
    )


def stratified_split(
    y: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) with each class split in the same proportion, reproducibly."""
    rng = np.random.default_rng(seed)
    train_idx: list[np.ndarray] = []
    test_idx: list[np.ndarray] = []
    for k in np.unique(y):
        idx = np.flatnonzero(y == k)
        rng.shuffle(idx)
        n_test = round(len(idx) * test_fraction)
        if len(idx) > 1:
            n_test = min(max(n_test, 1), len(idx) - 1)
        else:
            n_test = 0
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    return np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(test_idx))
