"""Data sets: validation errors name the problem; windowing and the subject split are right."""

from __future__ import annotations

import numpy as np
import pytest

from tinyrnn.train.dataset import DatasetError, make_dataset, stratified_split
from tinyrnn.train.normalization import Normalization
from tinyrnn.train.npz_data import load_npz
from tinyrnn.train.sources import load_dataset
from tinyrnn.train.synthetic import load_recall
from tinyrnn.train.watch import sliding_windows, window_recordings


def _xy(n=20, t=5, c=3, k=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, t, c)).astype(np.float32), np.arange(n) % k


def _save(tmp_path, **arrays):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda x, y: (x[:, :, 0], y), "rank 3"),
        (lambda x, y: (x, y[:-1]), "must match"),
        (lambda x, y: (np.where(np.arange(x.size).reshape(x.shape) == 7, np.nan, x), y),
         "NaN/inf"),
        (lambda x, y: (np.where(np.arange(x.size).reshape(x.shape) == 3, np.inf, x), y),
         "NaN/inf"),
        (lambda x, y: (x, y + 5), "labels must be 0..6 with no gaps"),
        (lambda x, y: (x, y - 1), "labels must be"),
        (lambda x, y: (x, y.reshape(-1, 1)), "rank 1"),
        (lambda x, y: (x[:0], y[:0]), "empty"),
    ],
)
def test_bad_training_arrays_are_rejected_with_a_named_problem(tmp_path, mutate, message):
    x, y = _xy()
    bx, by = mutate(x, y)
    with pytest.raises(DatasetError, match=message):
        load_npz(_save(tmp_path, X=bx, y=by, X_test=x, y_test=y))


def test_empty_class_is_rejected(tmp_path):
    x, y = _xy(k=3)
    y_train = np.where(y == 1, 0, y)  # class 1 never seen in training
    with pytest.raises(DatasetError, match=r"classes \[1\] have no training window"):
        load_npz(_save(tmp_path, X=x, y=y_train, X_test=x, y_test=y))


def test_train_and_test_shapes_must_agree(tmp_path):
    x, y = _xy()
    x2, _ = _xy(t=6)
    with pytest.raises(DatasetError, match="same time steps and channels"):
        load_npz(_save(tmp_path, X=x, y=y, X_test=x2, y_test=y))
    x3, _ = _xy(c=4)
    with pytest.raises(DatasetError, match="same time steps and channels"):
        load_npz(_save(tmp_path, X=x, y=y, X_test=x3, y_test=y))


def test_missing_arrays_and_unreadable_files(tmp_path):
    x, y = _xy()
    with pytest.raises(DatasetError, match="missing array 'y'"):
        load_npz(_save(tmp_path, X=x))
    with pytest.raises(DatasetError, match="together"):
        load_npz(_save(tmp_path, X=x, y=y, X_test=x))
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file at all")
    with pytest.raises(DatasetError, match=r"not a readable \.npz"):
        load_npz(bad)
    with pytest.raises(DatasetError, match="unknown data set"):
        load_dataset("nope")


def test_npz_without_test_split_gets_a_seeded_stratified_split(tmp_path):
    x, y = _xy(n=100, k=4)
    path = _save(tmp_path, X=x, y=y, class_names=np.array(["a", "b", "c", "d"]))
    a, b = load_npz(path, seed=3), load_npz(path, seed=3)
    assert np.array_equal(a.x_test, b.x_test)
    assert len(a.y_test) == 20
    assert np.bincount(a.y_test).tolist() == [5, 5, 5, 5]
    assert a.class_names == ["a", "b", "c", "d"]
    c = load_npz(path, seed=4)
    assert not np.array_equal(a.x_test, c.x_test)


def test_stratified_split_partitions_indices():
    y = np.repeat(np.arange(3), [10, 20, 30])
    tr, te = stratified_split(y, 0.2, seed=0)
    assert sorted(np.concatenate([tr, te]).tolist()) == list(range(60))
    assert np.bincount(y[te]).tolist() == [2, 4, 6]


def test_sliding_windows_count_content_and_stride():
    series = np.arange(23 * 2, dtype=np.float32).reshape(23, 2)
    w = sliding_windows(series, 10, 5)
    assert w.shape == (3, 10, 2)  # starts 0, 5, 10; 15 would overrun
    assert np.array_equal(w[1], series[5:15])
    assert sliding_windows(series[:9], 10, 5).shape == (0, 10, 2)


def test_windows_keep_their_recording_label_and_subject():
    recs = [np.zeros((30, 1)), np.ones((20, 1))]
    x, y, g = window_recordings(recs, np.array([4, 2]), np.array([7, 9]), 10, 10)
    assert y.tolist() == [4, 4, 4, 2, 2]
    assert g.tolist() == [7, 7, 7, 9, 9]
    assert x[3:].min() == 1.0


def test_watch_split_by_subject(watch):
    assert watch.x_train.shape[1:] == (100, 6)
    assert len(watch.y_train) == 3675 and len(watch.y_test) == 1002
    assert watch.split_info["test_subjects"] == [9, 10]
    assert not set(watch.split_info["train_subjects"]) & set(watch.split_info["test_subjects"])
    assert watch.num_classes == 7
    assert np.bincount(watch.y_test, minlength=7).min() > 0


def test_normalization_is_fitted_on_training_data_only(watch):
    norm = Normalization.fit(watch.x_train)
    z = norm.apply(watch.x_train).reshape(-1, 6)
    assert np.allclose(z.mean(axis=0), 0, atol=1e-4)
    assert np.allclose(z.std(axis=0), 1, atol=1e-3)
    # The test split is not used: its own statistics differ.
    assert not np.allclose(norm.apply(watch.x_test).reshape(-1, 6).mean(axis=0), 0, atol=1e-3)
    assert Normalization.from_json(norm.to_json()) == norm


def test_constant_channel_does_not_divide_by_zero():
    x = np.zeros((4, 3, 2), dtype=np.float32)
    x[..., 1] = np.arange(12).reshape(4, 3)
    norm = Normalization.fit(x)
    assert np.isfinite(norm.apply(x)).all()


def test_recall_task_is_seeded_and_puts_the_label_at_step_zero():
    a = load_recall(steps=16, train_windows=50, test_windows=10)
    a2 = load_recall(steps=16, train_windows=50, test_windows=10)
    assert np.array_equal(a.x_train, a2.x_train)
    assert a.steps == 16 and a.channels == 5
    assert np.array_equal(np.argmax(a.x_train[:, 0, :4], axis=1), a.y_train)
    assert (a.x_train[:, 0, 4] == 1).all() and (a.x_train[:, 1:, 4] == 0).all()


def test_make_dataset_requires_enough_class_names():
    x, y = _xy(k=3)
    with pytest.raises(DatasetError, match="one name per class"):
        make_dataset("d", x, y, x, y, class_names=["a", "b"])
