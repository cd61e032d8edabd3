"""A user's own data set in one documented format.

``.npz`` with ``X`` float [N, T, C] and ``y`` int [N]; optional ``X_test`` and ``y_test``
(otherwise a seeded stratified split of X/y, 20% test); optional ``class_names`` [K].
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from train.data_checks import check_not_empty
from train.dataset import Dataset, DatasetError, make_dataset, stratified_split

FORMAT_HELP = (
    "expected an .npz with X float32 [N, T, C], y int [N] (labels 0..K-1), optionally "
    "X_test/y_test and class_names"
)


def load_npz(path: Path, seed: int = 0, test_fraction: float = 0.2) -> Dataset:
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file; {FORMAT_HELP}")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        raise DatasetError(f"{path}: not a readable .npz ({e}); {FORMAT_HELP}") from e
    for key in ("X", "y"):
        if key not in arrays:
            raise DatasetError(f"{path}: missing array {key!r} (has {sorted(arrays)}); {FORMAT_HELP}")
    if ("X_test" in arrays) != ("y_test" in arrays):
        raise DatasetError(f"{path}: X_test and y_test must be given together or not at all")
    class_names = arrays["class_names"].tolist() if "class_names" in arrays else None
    if "X_test" in arrays:
        x_train, y_train = arrays["X"], arrays["y"]
        x_test, y_test = arrays["X_test"], arrays["y_test"]
        split = {"kind": "given"}
    else:
        x, y = arrays["X"], arrays["y"]
        check_not_empty(y, str(path))
        if np.asarray(y).ndim != 1 or len(x) != len(y):
            # Let make_dataset word the error; the split below needs a sane y first.
            return make_dataset(path.stem, x, y, x, y, class_names)
        train_idx, test_idx = stratified_split(np.asarray(y), test_fraction, seed)
        x_train, y_train, x_test, y_test = x[train_idx], y[train_idx], x[test_idx], y[test_idx]
        split = {"kind": "stratified", "test_fraction": test_fraction, "seed": seed}
    return make_dataset(
        path.stem, x_train, y_train, x_test, y_test, class_names,
        description=f"user data set {path.name}", split_info=split,
    )
