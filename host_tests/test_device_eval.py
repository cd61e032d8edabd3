"""A real trained model on the device: its test windows on the emulated boards (or a board on
--device) against the host build of the same generated C, window by window; parameter bytes in
the ELF against the model card; instruction counts repeat exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from device_plugin import device_option, is_serial_port

from tinyrnn.deploy.device_eval import (
    DeviceEvalError,
    ensure_compiled,
    format_table,
    run_device_step,
    select_indices,
)

pytestmark = [pytest.mark.device, pytest.mark.slow]

WINDOWS = 100
FEW = 6


@pytest.fixture(scope="session")
def tiny_lstm(tiny_build: Path) -> Path:
    """The tiny trained watch LSTM of conftest's build tree, compiled to tinyrnn C."""
    found = [d for d in sorted((tiny_build / "models").iterdir()) if "lstm" in d.name]
    assert found, f"no LSTM under {tiny_build / 'models'}"
    model = found[0]
    ensure_compiled(model)  # compile_model on int8.tflite with its normalization and classes
    return model


@pytest.fixture(scope="module")
def target(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    value = device_option(request.config)
    if is_serial_port(value):
        env = request.config.getoption("--device-env")
        if not env:
            pytest.skip("a real board on --device needs --device-env (its PlatformIO env)")
        return str(env), value
    return value, None


@pytest.fixture(scope="module")
def result(tiny_lstm: Path, target: tuple[str, str | None]) -> dict[str, Any]:
    env, port = target
    return run_device_step(tiny_lstm, env, port, limit=WINDOWS)


def test_device_outputs_equal_host_build_on_every_window(result: dict[str, Any]) -> None:
    assert result["windows"] == WINDOWS
    assert result["windows_outputs_differ"] == 0
    assert result["windows_predictions_differ"] == 0
    assert result["max_lsb_difference"] == 0


def test_device_accuracy_equals_host_accuracy(result: dict[str, Any], tiny_lstm: Path) -> None:
    assert result["accuracy"] == result["host_accuracy"]
    assert 0.0 < result["accuracy"] <= 1.0
    # The windows are an even spread of the test split, all of them labelled.
    assert len(set(result["test_indices"])) == WINDOWS


def test_parameter_bytes_in_elf_match_card(result: dict[str, Any], tiny_lstm: Path) -> None:
    card = json.loads((tiny_lstm / "card.json").read_text())
    params = result["parameter_bytes"]
    if params is None:
        pytest.skip("no ELF of the board's firmware on this machine")
    assert params["int8_weights"] == card["int8_weight_bytes"]
    assert result["parameter_bytes_match_card"]
    units, channels, classes = card["units"], card["channels"], card["num_classes"]
    # int32: LSTM input + recurrent bias per gate and unit; head bias, multiplier and shift.
    assert params["int32_biases"] == 4 * (2 * 4 * units + classes)
    assert params["int32_requant"] == 4 * 2 * classes
    assert params["int8_weights"] == 4 * units * (units + channels) + units * classes
    summary = json.loads((tiny_lstm / "tinyrnn" / "summary.json").read_text())
    assert params["total"] == summary["weight_bytes"]


def test_instruction_counts_identical_over_two_runs(result: dict[str, Any]) -> None:
    if not result["emulated"]:
        pytest.skip("cycle counts on hardware may vary with caches and interrupts")
    assert result["counter"]["unit"] == "instructions_emulated"
    assert result["counter"]["label"] == "instructions (emulated)"
    rep = result["repeat_check"]
    assert rep["identical_within_session"] is True
    assert rep["windows_rerun_in_second_session"] > 0 and rep["identical_across_sessions"] is True
    assert result["counts_identical_over_two_runs"] is True
    per = result["per_inference"]
    assert 0 < per["min"] <= per["mean"] <= per["max"]
    assert result["per_mac"] == pytest.approx(per["mean"] / result["macs"], rel=1e-3)


def test_result_file_and_table(result: dict[str, Any], tiny_lstm: Path) -> None:
    path = tiny_lstm / f"device-{result['env']}.json"
    assert json.loads(path.read_text())["windows_outputs_differ"] == 0
    assert result["flash_bytes"] > result["parameter_bytes"]["total"]
    assert result["ram_bytes"] > result["model_arena_bytes"] + result["model_state_bytes"]
    table = format_table(result)
    assert "instructions (emulated) / inference" in table and "host" in table


@pytest.mark.parametrize("env", ["mps2-an500", "mps2-an505", "lm3s6965evb"])
def test_other_emulated_boards_agree_with_host(env: str, tiny_lstm: Path,
                                               request: pytest.FixtureRequest) -> None:
    if is_serial_port(device_option(request.config)):
        pytest.skip("QEMU-only")
    r = run_device_step(tiny_lstm, env, limit=FEW, recheck=2, progress=False, write=False)
    assert r["board"] == env
    assert r["windows_outputs_differ"] == 0 and r["accuracy"] == r["host_accuracy"]
    assert r["parameter_bytes_match_card"]
    assert r["counts_identical_over_two_runs"] is True


def test_cli_device_eval_prints_host_vs_device(tiny_lstm: Path, capsys: pytest.CaptureFixture[str],
                                               request: pytest.FixtureRequest) -> None:
    if is_serial_port(device_option(request.config)):
        pytest.skip("QEMU-only")
    from tinyrnn.deploy.cli import main

    assert main(["device", "eval", str(tiny_lstm), "--limit", "3"]) == 0
    out = capsys.readouterr().out
    assert "windows whose outputs differ" in out and "device-mps2-an386.json" in out


def test_select_indices_spreads_and_bounds() -> None:
    assert select_indices(10, None).tolist() == list(range(10))
    assert select_indices(10, 50).tolist() == list(range(10))
    idx = select_indices(1000, 4)
    assert idx.tolist() == [0, 333, 666, 999]
    assert np.all(np.diff(select_indices(1002, 100)) > 0)
    with pytest.raises(DeviceEvalError, match="limit must be positive"):
        select_indices(10, 0)


def test_missing_model_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DeviceEvalError, match="does not exist"):
        run_device_step(tmp_path / "nope")
    (tmp_path / "m").mkdir()
    with pytest.raises(DeviceEvalError, match=r"card\.json is missing"):
        run_device_step(tmp_path / "m")


def test_real_board_env_without_port_is_refused(tiny_lstm: Path) -> None:
    with pytest.raises(DeviceEvalError, match="real board: pass its serial port"):
        run_device_step(tiny_lstm, "nano33ble", limit=1)
