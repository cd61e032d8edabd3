"""Property-based bit-exactness: for random shapes and scales (ranges in property_cases.py), the
compiled C equals the numpy reference (GRU with both reset_after settings, SimpleRNN) and the
tflite-micro interpreter (LSTM) on every output byte. `make test` runs a few hundred cases; set
TINYRNN_PROPERTY_EXAMPLES for thousands."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from aot_zoo import ensure_models
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from model_fuzz import FastHostModel, runtime_archive
from property_cases import (
    CHANNELS,
    LAYERS,
    STEPS,
    UNITS,
    RecurrentCase,
    check_recurrent,
    examples,
    lstm_specs,
    windows,
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


_counter = itertools.count()
COVERED: dict[str, list[RecurrentCase]] = {"gru": [], "rnn": []}


def _property(cell: str, n: int):
    @settings(max_examples=n, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=recurrent_cases(cell))
    def run(work: tuple[Path, Path], case: RecurrentCase) -> None:
        root, runtime = work
        assert check_recurrent(case, root, runtime, next(_counter)) > 0
        COVERED[cell].append(case)

    return run


test_gru_equals_numpy = _property("gru", examples(90))
test_rnn_equals_numpy = _property("rnn", examples(60))


def test_cases_spanned_the_ranges() -> None:
    """Runs after the two properties (file order): the drawn cases reached the range edges."""
    cases = COVERED["gru"] + COVERED["rnn"]
    if not cases:
        pytest.skip("run together with the property tests")
    assert {c.reset_after for c in COVERED["gru"]} == {True, False}
    assert min(c.units for c in cases) == 1 and any(c.units % 4 for c in cases)
    assert max(c.units for c in cases) > 64 and max(c.steps for c in cases) > 128
    assert {c.layers for c in cases} == {1, 2, 3}


def test_lstm_equals_tflite_micro(work: tuple[Path, Path]) -> None:
    from tflite_micro import runtime

    from tinyrnn.convert.aot import compile_model

    root, archive = work
    specs = lstm_specs(max(12, examples(12) // 20), seed=13)
    models = ensure_models(specs)
    for i, (name, path) in enumerate(sorted(models.items())):
        steps, channels = specs[name][0], specs[name][1]
        compile_model(path, root / name, name="prop")
        model = FastHostModel(root / name, archive, 10_000 + i)
        it = runtime.Interpreter.from_bytes(path.read_bytes(), arena_size=1 << 22)
        for k, w in enumerate(windows(steps, channels, 4, seed=i)):
            it.reset()
            it.set_input(w[None], 0)
            it.invoke()
            want = it.get_output(0).reshape(-1)
            got = model.invoke(w)
            assert np.array_equal(got, want), f"{name} window {k}: C {got} != TFLM {want}"
