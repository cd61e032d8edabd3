"""Size budgets: the check passes on the smartwatch-shaped LSTM and fails on a deliberately
oversized model and on growth beyond the threshold against the baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tinyrnn.deploy.budget import (
    BUDGETS_FILE,
    METRICS,
    BudgetError,
    Budgets,
    Measurement,
    check,
    run_budget,
)

pytestmark = [pytest.mark.device, pytest.mark.slow]

ENV = "mps2-an386"
MODEL = "watch-lstm32"


def _budgets_with(tmp_path: Path, **spec_changes: int) -> Path:
    """The repository's budgets (limits unchanged) for one board and the LSTM, its spec altered
    (the GRU/RNN entries are measured by `tinyrnn budget` and host_tests/test_rnn_speed_device)."""
    raw = json.loads(BUDGETS_FILE.read_text())
    raw["models"] = {MODEL: {**raw["models"][MODEL], **spec_changes}}
    raw["boards"] = {ENV: {MODEL: raw["boards"][ENV][MODEL]}}
    raw["baseline"] = str(tmp_path / "baseline.json")
    path = tmp_path / "budgets.json"
    path.write_text(json.dumps(raw))
    return path


@pytest.fixture(scope="module")
def normal(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("budget-normal")
    return run_budget(_budgets_with(tmp), envs=[ENV], results_path=tmp / "results.json"), tmp


def test_repository_budgets_file_is_valid() -> None:
    b = Budgets.load(BUDGETS_FILE)
    assert MODEL in b.models and b.models[MODEL].units == 32 and b.models[MODEL].steps == 100
    from tinyrnn.deploy.firmware import QEMU_ENVS

    # Every emulated board of platformio.ini (FPGA boards and real chips) has budgets.
    assert set(b.boards) == set(QEMU_ENVS)
    assert {"microbit", "mps3-an547", "netduinoplus2"} <= set(b.boards)
    for per_model in b.boards.values():
        assert set(per_model[MODEL]) == set(METRICS)
    assert b.baseline_path.is_file(), "store a baseline: tinyrnn budget --update-baseline"


def test_normal_model_is_within_budget(normal) -> None:
    result, tmp = normal
    assert not result.failed, [f.describe() for f in result.findings]
    (m,) = result.measurements
    assert m.env == ENV and m.model == MODEL and m.counts_repeat
    assert m.macs == 100 * 4 * 32 * (32 + 6) + 32 * 7
    assert 0 < m.model_bytes < m.flash_bytes and m.instructions_per_inference > m.macs / 4
    # SMLAD is one cycle but loads, LDM and taken branches are more: cycles > instructions
    assert m.timing_model == "cortex-m4"
    assert m.instructions_per_inference < m.cycles_estimated_per_inference < 3 * m.macs
    assert json.loads((tmp / "results.json").read_text())["passed"] is True


def test_oversized_model_fails_the_budget(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinyrnn.deploy.cli import main

    budgets = _budgets_with(tmp_path, units=64)
    with pytest.raises(SystemExit) as exc:
        main(["budget", "--budgets", str(budgets), "--json", str(tmp_path / "r.json")])
    assert exc.value.code == 1
    out = capsys.readouterr().out
    assert "budget check FAILED" in out
    assert f"FAIL: {ENV} {MODEL} model_bytes" in out
    assert f"FAIL: {ENV} {MODEL} instructions_per_inference" in out
    r = json.loads((tmp_path / "r.json").read_text())
    kinds = {(f["metric"], f["kind"]) for f in r["findings"]}
    assert ("model_bytes", "over_budget") in kinds and r["passed"] is False


def test_update_baseline_then_growth_fails_and_threshold_allows(normal, tmp_path: Path) -> None:
    result, _ = normal
    budgets = Budgets.load(_budgets_with(tmp_path))
    (m,) = result.measurements
    # Today's figures as baseline: passes.
    exact = {f"{ENV}/{MODEL}": {k: m.metric(k) for k in METRICS}}
    assert not any(f.fails for f in check([m], budgets, exact, 2.0))
    # A baseline 5% smaller: every metric grew 5% > 2%.
    smaller = {key: {k: int(v / 1.05) for k, v in vals.items()} for key, vals in exact.items()}
    grown = [f for f in check([m], budgets, smaller, 2.0) if f.fails]
    assert {f.metric for f in grown} == set(METRICS) and {f.kind for f in grown} == {"growth"}
    assert not any(f.fails for f in check([m], budgets, smaller, 10.0))
    # Shrinking is reported, never a failure.
    larger = {key: {k: int(v * 1.5) for k, v in vals.items()} for key, vals in exact.items()}
    notes = check([m], budgets, larger, 2.0)
    assert notes and all(f.kind == "shrunk" and not f.fails for f in notes)


def test_growth_threshold_boundary() -> None:
    budgets = Budgets(Path("x"), {}, {ENV: {MODEL: {"flash_bytes": 10_000}}}, 2.0, Path("b"))

    def m(flash: int) -> Measurement:
        return Measurement(MODEL, ENV, flash, 1, 1, 1, 1, 1.0, "instructions_emulated", True, 0, 0)

    base = {f"{ENV}/{MODEL}": {"flash_bytes": 5000, "ram_bytes": 1, "model_bytes": 1,
                               "instructions_per_inference": 1,
                               "cycles_estimated_per_inference": 0}}
    assert not check([m(5100)], budgets, base, 2.0)           # +2.0%: allowed
    assert [f.kind for f in check([m(5101)], budgets, base, 2.0)] == ["growth"]
    assert [f.kind for f in check([m(10_001)], budgets, None, 2.0)] == ["over_budget"]
    not_rep = Measurement(MODEL, ENV, 1, 1, 1, 1, 1, 1.0, "instructions_emulated", False, 0, 0)
    assert [f.kind for f in check([not_rep], budgets, None, 2.0)] == ["not_repeatable"]


def test_bad_budgets_files_are_clear_errors(tmp_path: Path) -> None:
    p = tmp_path / "b.json"
    with pytest.raises(BudgetError, match="no budgets file"):
        Budgets.load(p)
    p.write_text("{")
    with pytest.raises(BudgetError, match="not valid JSON"):
        Budgets.load(p)
    p.write_text(json.dumps({"models": {"m": {"units": 8}}, "boards": {"esp32dev": {}}}))
    with pytest.raises(BudgetError, match="not an emulated board"):
        Budgets.load(p)
    p.write_text(json.dumps({"models": {"m": {"units": 8}}, "boards": {ENV: {"x": {}}}}))
    with pytest.raises(BudgetError, match="does not define"):
        Budgets.load(p)
    p.write_text(json.dumps({"models": {"m": {"unit": 8}}, "boards": {}}))
    with pytest.raises(BudgetError, match="unknown keys"):
        Budgets.load(p)
    p.write_text(json.dumps({"models": {"m": {}}, "boards": {ENV: {"m": {"speed": 1}}}}))
    with pytest.raises(BudgetError, match="unknown metrics"):
        Budgets.load(p)
