"""Parameter counts and MACs: Keras agrees with the closed forms the report quotes."""

from __future__ import annotations

import pytest

from tinyrnn.train.models import (
    build_classifier,
    classifier_macs,
    classifier_params,
    recurrent_macs,
    recurrent_params,
)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize(("units", "layers", "channels", "classes"),
                         [(32, 1, 6, 7), (1, 1, 1, 2), (17, 2, 3, 5), (64, 1, 16, 4)])
def test_keras_parameter_count_equals_closed_form(cell, units, layers, channels, classes):
    model = build_classifier(cell, units, layers, 10, channels, classes)
    assert model.count_params() == classifier_params(cell, units, layers, channels, classes)


def test_closed_forms_as_stated_in_the_issue():
    u, c = 32, 6
    assert recurrent_params("lstm", u, c) == 4 * (u * (u + c) + u) == 4992
    assert recurrent_params("gru", u, c) == 3 * (u * (u + c) + 2 * u) == 3840
    assert recurrent_params("rnn", u, c) == u * (u + c) + u == 1248


def test_gru_costs_about_three_quarters_of_lstm():
    ratio = recurrent_params("gru", 32, 6) / recurrent_params("lstm", 32, 6)
    assert 0.75 < ratio < 0.78
    assert recurrent_macs("gru", 32, 6, 100) / recurrent_macs("lstm", 32, 6, 100) == 0.75
    assert classifier_macs("lstm", 32, 1, 100, 6, 7) == 100 * 4 * 32 * 38 + 32 * 7


def test_unknown_cell_is_rejected():
    with pytest.raises(ValueError, match="choose one of lstm, gru, rnn"):
        build_classifier("transformer", 8, 1, 10, 2, 2)
