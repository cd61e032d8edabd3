"""Smartwatch shoulder-exercise recordings shipped inside the seglearn wheel.

140 recordings of 10 subjects doing 7 exercises, 6 IMU channels (accelerometer + gyroscope) at
50 Hz. The file is read straight from the installed package (no download, and seglearn itself is
not imported: it would pull in pandas). Windows are cut per recording, and the split is by
subject so no person appears on both sides: that is what a device meets in the field.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from tinyrnn.train.dataset import Dataset, DatasetError, make_dataset

SAMPLE_RATE_HZ = 50
DEFAULT_TEST_SUBJECTS = (9, 10)


def watch_file() -> Path:
    spec = importlib.util.find_spec("seglearn")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(
            "the smartwatch data set ships in the seglearn wheel, which is not installed; "
            "run `make venv` (or pip install seglearn==1.2.5)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "watch_dataset.npy"
    if not path.is_file():
        raise DatasetError(f"{path} is missing from the seglearn install; reinstall seglearn")
    return path


def sliding_windows(series: np.ndarray, length: int, stride: int) -> np.ndarray:
    """All full windows ``[n, length, C]`` of a ``[T, C]`` series; a short tail is dropped."""
    if length <= 0 or stride <= 0:
        raise ValueError(f"window length and stride must be positive, got {length}, {stride}")
    n = 0 if len(series) < length else (len(series) - length) // stride + 1
    if n == 0:
        return np.zeros((0, length, series.shape[1]), dtype=series.dtype)
    starts = np.arange(n) * stride
    return np.stack([series[s : s + length] for s in starts])


def window_recordings(
    recordings: list[np.ndarray],
    labels: np.ndarray,
    groups: np.ndarray,
    length: int,
    stride: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Windows of every recording with the recording's label and group (subject) per window."""
    xs, ys, gs = [], [], []
    for rec, label, group in zip(recordings, labels, groups, strict=True):
        w = sliding_windows(np.asarray(rec, dtype=np.float32), length, stride)
        xs.append(w)
        ys.append(np.full(len(w), label, dtype=np.int64))
        gs.append(np.full(len(w), group, dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(gs)


def load_watch(
    window_seconds: float = 2.0,
    overlap: float = 0.5,
    test_subjects: tuple[int, ...] = DEFAULT_TEST_SUBJECTS,
) -> Dataset:
    if not 0.0 <= overlap < 1.0:
        raise DatasetError(f"overlap must be in [0, 1), got {overlap}")
    raw = np.load(watch_file(), allow_pickle=True).item()
    length = round(window_seconds * SAMPLE_RATE_HZ)
    stride = max(1, round(length * (1.0 - overlap)))
    x, y, subject = window_recordings(raw["X"], np.asarray(raw["y"]), raw["subject"], length, stride)
    all_subjects = sorted(int(s) for s in np.unique(raw["subject"]))
    unknown = sorted(set(test_subjects) - set(all_subjects))
    if unknown:
        raise DatasetError(f"test subjects {unknown} do not exist; subjects are {all_subjects}")
    is_test = np.isin(subject, test_subjects)
    train_subjects = sorted(set(all_subjects) - set(test_subjects))
    return make_dataset(
        "watch",
        x[~is_test],
        y[~is_test],
        x[is_test],
        y[is_test],
        class_names=list(raw["y_labels"]),
        description=(
            f"seglearn smartwatch exercises, {length}-sample windows ({window_seconds:g} s at "
            f"{SAMPLE_RATE_HZ} Hz), stride {stride}, split by subject"
        ),
        split_info={"train_subjects": train_subjects, "test_subjects": sorted(test_subjects)},
    )
