"""Whole-data-set checks before training (train/data_checks.py): each bad data set gets a
DatasetError naming the problem; a constant channel is accepted with unit spread."""

from __future__ import annotations

import numpy as np
import pytest

from tinyrnn.train.dataset import DatasetError, make_dataset
from tinyrnn.train.normalization import Normalization
from tinyrnn.train.npz_data import load_npz


def _xy(n: int = 20, t: int = 5, c: int = 3, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, t, c)).astype(np.float32), np.arange(n) % k


def _npz(tmp_path, **arrays):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    return path


def test_npz_with_zero_windows(tmp_path) -> None:
    x, y = _xy()
    with pytest.raises(DatasetError, match="no windows"):
        load_npz(_npz(tmp_path, X=x[:0], y=y[:0]))


@pytest.mark.parametrize("shape", [(10, 0, 3), (10, 5, 0)])
def test_npz_with_zero_steps_or_channels(tmp_path, shape) -> None:
    with pytest.raises(DatasetError, match="empty"):
        load_npz(_npz(tmp_path, X=np.zeros(shape, np.float32), y=np.arange(10) % 2))


def test_single_class(tmp_path) -> None:
    x, _ = _xy()
    with pytest.raises(DatasetError, match="at least 2 classes"):
        load_npz(_npz(tmp_path, X=x, y=np.zeros(len(x), np.int64)))


def test_more_classes_than_windows() -> None:
    x, y = _xy(n=3, k=3)
    with pytest.raises(DatasetError, match="3 training windows for 5 classes"):
        make_dataset("d", x, y, x, y, class_names=[f"c{k}" for k in range(5)])


def test_sentinel_values(tmp_path) -> None:
    x, y = _xy()
    x[4, 2, 1] = 1e30
    with pytest.raises(DatasetError, match=r"1e\+30 at \(window, step, channel\)"):
        make_dataset("d", x, y, x.copy(), y)


def test_normalization_stays_finite_at_the_limits() -> None:
    """The worst data the checks let through: values at +-MAX_ABS_VALUE in test, a training
    channel with the smallest spread normalization keeps. No NaN/inf comes out."""
    from tinyrnn.train.data_checks import MAX_ABS_VALUE
    from tinyrnn.train.normalization import MIN_STD

    x, y = _xy()
    x[:, :, 0] = np.where(np.arange(len(x))[:, None] % 2 == 0, 0.0, 2.5 * MIN_STD)
    x_test = x.copy()
    x_test[0, :, 0] = MAX_ABS_VALUE
    x_test[1, :, 0] = -MAX_ABS_VALUE
    data = make_dataset("d", x, y, x_test, y)
    norm = Normalization.fit(data.x_train)
    assert MIN_STD <= norm.std[0] < 2 * MIN_STD
    assert np.isfinite(norm.apply(data.x_test)).all()


def test_constant_channel_is_accepted_with_unit_spread() -> None:
    x, y = _xy()
    x[:, :, 2] = 7.0
    data = make_dataset("d", x, y, x.copy(), y)
    norm = Normalization.fit(data.x_train)
    assert norm.std[2] == 1.0 and norm.mean[2] == pytest.approx(7.0)
    assert np.all(norm.apply(data.x_train)[:, :, 2] == 0.0)
