"""Property-based bit-exactness: for random shapes and scales (ranges in property_cases.py), the
compiled C equals the numpy reference (GRU with both reset_after settings, SimpleRNN) and the
tflite-micro interpreter (LSTM, models written by lstm_tflite.py) on every output byte.
`make test` runs a few hundred cases per cell; set TINYRNN_PROPERTY_EXAMPLES for thousands."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from model_fuzz import runtime_archive
from property_cases import (
    CHANNELS,
    LAYERS,
    LSTM_KERNEL_LAYERS,
    STEPS,
    UNITS,
    LstmCase,
    RecurrentCase,
    check_lstm,
    check_recurrent,
    examples,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("property")
    return root, runtime_archive(root)


def _small_or_any(lo: int, hi: int, small: int) -> st.SearchStrategy[int]:
    # Half the draws small: most bugs live at edges (1, non-multiples of 4), and small cases
    # are cheap, so more of them fit the budget.
    return st.one_of(st.integers(lo, min(small, hi)), st.integers(lo, hi))


def recurrent_cases(cell: str) -> st.SearchStrategy[RecurrentCase]:
    return st.builds(
        RecurrentCase, cell=st.just(cell),
        reset_after=st.booleans() if cell == "gru" else st.just(False),
        steps=_small_or_any(*STEPS, 24), channels=_small_or_any(*CHANNELS, 8),
        units=_small_or_any(*UNITS, 16), classes=st.integers(2, 12),
        layers=st.integers(*LAYERS),
        weight_scale=st.sampled_from([0.05, 0.3, 1.0, 2.0, 4.0, 8.0]),
        calib_spread=st.sampled_from([0.05, 1.0, 5.0, 20.0]), seed=st.integers(0, 2**16))


def _mostly_small(lo: int, hi: int, small: int) -> st.SearchStrategy[int]:
    # An LSTM case costs its steps x units^2 in the interpreter and its weights in gcc: three
    # draws in four stay small so that a few hundred fit in `make test`.
    return st.one_of(*[st.integers(lo, min(small, hi))] * 3, st.integers(lo, hi))


def lstm_cases() -> st.SearchStrategy[LstmCase]:
    return st.builds(
        LstmCase, steps=_mostly_small(*STEPS, 24), channels=_mostly_small(*CHANNELS, 8),
        units=st.lists(_mostly_small(*UNITS, 16), min_size=LAYERS[0], max_size=LAYERS[1]).map(
            tuple),
        classes=st.integers(2, 12), head=st.sampled_from(["softmax", "mlp", "linear", "probe"]),
        weight_scale=st.sampled_from([0.05, 0.3, 1.0, 2.0, 4.0, 8.0]),
        input_scale=st.floats(-3.0, 0.0).map(lambda e: 10.0 ** e),
        input_zp=st.integers(-128, 127), bias_spread=st.sampled_from([0.3, 1.0, 3.0, 50.0]),
        hidden_range=st.floats(0.01, 1.0),
        cell_power=st.integers(-16, -8),
        # 1e-5 lies below one cell-state step for powers <= -17 + 1: TFLM then holds the cell at 0
        cell_clip=st.one_of(st.sampled_from([0.0, 10.0, 1e-5]), st.floats(0.05, 20.0)),
        seed=st.integers(0, 2**16))


_counter = itertools.count()
COVERED: dict[str, list] = {"gru": [], "rnn": [], "lstm": []}


def _property(cell: str, n: int):
    strategy = lstm_cases() if cell == "lstm" else recurrent_cases(cell)
    check = check_lstm if cell == "lstm" else check_recurrent

    @settings(max_examples=n, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(work: tuple[Path, Path], case) -> None:
        root, runtime = work
        assert check(case, root, runtime, next(_counter)) > 0
        COVERED[cell].append(case)

    return run


test_gru_equals_numpy = _property("gru", examples(90))
test_rnn_equals_numpy = _property("rnn", examples(60))
test_lstm_equals_tflite_micro = _property("lstm", examples(300))


def _span(name: str, values: list[int]) -> str:
    return f"{name} {min(values)}..{max(values)}"


def test_cases_spanned_the_ranges() -> None:
    """Runs after the properties (file order): the drawn cases reached the range edges."""
    if not any(COVERED.values()):
        pytest.skip("run together with the property tests")
    for cell, cases in COVERED.items():
        if not cases:
            continue
        units = [u for c in cases for u in (c.units if cell == "lstm" else (c.units,))]
        layers = [len(c.units) if cell == "lstm" else c.layers for c in cases]
        print(f"\n{cell}: {len(cases)} cases, {_span('units', units)}, "
              f"{_span('channels', [c.channels for c in cases])}, "
              f"{_span('steps', [c.steps for c in cases])}, {_span('layers', layers)}")
        assert min(units) == 1 and any(u % 4 for u in units) and max(units) > 64
        assert max(c.steps for c in cases) > 128 and min(c.steps for c in cases) == 1
        assert max(c.channels for c in cases) > 16 and set(layers) == {1, 2, 3}
    if COVERED["gru"]:
        assert {c.reset_after for c in COVERED["gru"]} == {True, False}
    if lstm := COVERED["lstm"]:
        assert {c.head for c in lstm} == {"softmax", "mlp", "linear", "probe"}
        assert max(c.weight_scale for c in lstm) >= 4.0, "no saturating gates drawn"
        assert min(c.cell_power for c in lstm) <= -15, "no cell state clamped near +-1"
        assert min(c.hidden_range for c in lstm) < 0.05, "no hidden state saturating int8"
        assert {c.cell_clip == 0.0 for c in lstm} == {True, False}
        print(f"lstm layers per kernel: {dict(LSTM_KERNEL_LAYERS)}")
        assert all(LSTM_KERNEL_LAYERS.values()) and len(LSTM_KERNEL_LAYERS) == 2


@pytest.mark.parametrize("case", [
    # generic kernel (gate biases too wide for the packed one)
    LstmCase(steps=3, channels=3, units=(7,), classes=3, head="linear", weight_scale=0.3,
             input_scale=0.3, input_zp=-128, bias_spread=50.0, hidden_range=0.5,
             cell_power=-13, cell_clip=1e-06, seed=7),
    LstmCase(steps=7, channels=2, units=(9,), classes=3, head="softmax", weight_scale=0.3,
             input_scale=0.001, input_zp=-73, bias_spread=50.0, hidden_range=0.5,
             cell_power=-10, cell_clip=1e-06, seed=6),
    # packed kernel, clip just below one step of 2^-16
    LstmCase(steps=6, channels=3, units=(5,), classes=3, head="softmax", weight_scale=1.0,
             input_scale=0.03, input_zp=0, bias_spread=0.3, hidden_range=0.5, cell_power=-16,
             cell_clip=2.0 ** -16 * 0.9999, seed=1),
], ids=["generic", "generic-softmax", "packed"])
def test_lstm_cell_clip_below_one_step(work: tuple[Path, Path], case: LstmCase) -> None:
    """Found by the LSTM property: a cell clip that quantizes to 0 made the C skip clipping
    while TFLM holds the cell state at 0 (plan.py now zeroes the cell multipliers)."""
    root, runtime = work
    before = dict(LSTM_KERNEL_LAYERS)
    assert check_lstm(case, root, runtime, next(_counter)) > 0
    kernel = "tinyrnn_lstm_packed_step" if case.seed == 1 else "tinyrnn_lstm_step"
    assert LSTM_KERNEL_LAYERS[kernel] > before.get(kernel, 0), f"{kernel} not reached"
