"""Training budget by gradient steps, convergence figures and chrono initialisation."""

from __future__ import annotations

import numpy as np
import pytest

from tinyrnn.train.convergence import convergence
from tinyrnn.train.schedule import MAX_BATCH, MIN_BATCH, adapted_batch, plan_schedule


def test_small_data_gets_the_same_gradient_steps_as_large_data():
    big = plan_schedule(3124)
    small = plan_schedule(229)
    assert big.batch_size == MAX_BATCH
    assert small.batch_size < big.batch_size
    for s in (big, small):
        assert s.max_epochs * s.steps_per_epoch >= s.max_steps
        assert (s.max_epochs - 1) * s.steps_per_epoch < s.max_steps
    # a fixed 30 epochs of batch 64 would give the small set 30 * 4 = 120 steps
    assert small.max_epochs > big.max_epochs


def test_batch_rule_bounds_and_explicit_settings_win():
    assert adapted_batch(10) == MIN_BATCH
    assert adapted_batch(10**6) == MAX_BATCH
    assert adapted_batch(300) == 16  # 300 // 16 = 18 -> 16
    s = plan_schedule(3000, batch_size=32, epochs=7, patience=3)
    assert (s.batch_size, s.max_epochs, s.patience_epochs) == (32, 7, 3)
    assert "fixed 7 epochs" in s.rule
    with pytest.raises(ValueError, match="no training windows"):
        adapted_batch(0)


def test_convergence_reach_95_percent_of_best():
    acc = [0.2, 0.5, 0.86, 0.9, 0.88, 0.91]
    sec = [3.0, 1.0, 1.0, 1.0, 2.0, 1.0]
    c = convergence(acc, sec)
    # 0.95 * 0.91 = 0.8645: first reached at epoch 4 (0.86 falls short)
    assert c["epochs_to_reach"] == 4
    assert c["seconds_to_reach"] == pytest.approx(6.0)
    assert c["seconds_per_epoch"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="one time per epoch"):
        convergence([0.5], [1.0, 2.0])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_chrono_init_sets_gate_biases(cell):
    from tinyrnn.train.init import apply_init
    from tinyrnn.train.models import build_classifier

    t_max = 40
    model = build_classifier(cell, 6, 1, t_max, 3, 4)
    rec = apply_init(model, cell, "chrono", t_max, seed=0)
    assert rec["changed"] == [f"{cell}0"]
    bias = model.get_layer(f"{cell}0").cell.bias.numpy()
    if cell == "lstm":
        forget, inp = bias[6:12], bias[:6]
        np.testing.assert_allclose(inp, -forget)
        b = forget
    else:
        b = bias[0, :6]
        assert np.all(bias[1, :6] == 0)
    assert np.all(b >= 0) and np.all(b <= np.log(t_max - 1) + 1e-6)
    assert b.std() > 0  # spread time constants, not one value
    # Keep-gate at initialisation: sigmoid(b) well above the default 0.5 on average
    assert np.mean(1 / (1 + np.exp(-b))) > 0.8


def test_default_init_changes_nothing_and_bad_init_is_named():
    from tinyrnn.train.init import apply_init
    from tinyrnn.train.models import build_classifier

    model = build_classifier("gru", 4, 1, 10, 2, 3)
    before = [w.copy() for w in model.get_weights()]
    assert apply_init(model, "gru", "default", 10, 0)["changed"] == []
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="chrono"):
        apply_init(model, "gru", "glorot-magic", 10, 0)
