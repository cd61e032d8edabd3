"""A user's own data set in one documented format.

``.npz`` with ``X`` float [N, T, C] and ``y`` int [N]; optional ``X_test`` and ``y_test``
(otherwise a seeded split of X/y, 20% test: by group when ``groups`` [N] is given, so windows
of one recording or person are never on both sides, else stratified by class); optional
``class_names`` [K] and ``description`` (one string, used as the report's wording).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from tinyrnn.train.data_checks import check_not_empty
from tinyrnn.train.dataset import Dataset, DatasetError, make_dataset, stratified_split

FORMAT_HELP = (
    "expected an .npz with X float32 [N, T, C], y int [N] (labels 0..K-1), optionally "
    "X_test/y_test, groups [N], class_names and description"
)


def group_split(groups: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, list, list]:
    """Whole groups to the test side, in a seeded order, until it holds ~test_fraction of windows."""
    names = np.unique(groups)
    if len(names) < 2:
        raise DatasetError(f"groups has {len(names)} distinct value(s); a group-aware split needs "
                           "at least 2 (or drop groups for a stratified split)")
    order = np.random.default_rng(seed).permutation(len(names))
    test: list = []
    for i in order[:-1]:  # at least one group stays on the training side
        if np.isin(groups, test).sum() >= test_fraction * len(groups):
            break
        test.append(names[i])
    is_test = np.isin(groups, test)
    train = sorted(set(names.tolist()) - set(np.asarray(test).tolist()))
    return is_test, train, sorted(np.asarray(test).tolist())


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
        if "groups" in arrays:
            groups = np.asarray(arrays["groups"])
            if groups.shape != (len(y),):
                raise DatasetError(f"{path}: groups has shape {groups.shape}, expected ({len(y)},) "
                                   "(one group id per window)")
            is_test, train_groups, test_groups = group_split(groups, test_fraction, seed)
            x_train, y_train, x_test, y_test = x[~is_test], y[~is_test], x[is_test], y[is_test]
            split = {"kind": "groups", "train_groups": train_groups, "test_groups": test_groups,
                     "seed": seed}
        else:
            train_idx, test_idx = stratified_split(np.asarray(y), test_fraction, seed)
            x_train, y_train, x_test, y_test = x[train_idx], y[train_idx], x[test_idx], y[test_idx]
            split = {"kind": "stratified", "test_fraction": test_fraction, "seed": seed}
    description = (str(arrays["description"]) if "description" in arrays
                   else f"user data set {path.name}")
    return make_dataset(
        path.stem, x_train, y_train, x_test, y_test, class_names,
        description=description, split_info=split,
    )
