"""TensorFlow Lite Micro as a firmware backend on the emulated Cortex-M4 (QEMU mps2-an386), both
kernel variants, against independent references:

* TFLM reference kernels on the board == the tflite-micro host interpreter, byte for byte;
* TFLM + CMSIS-NN: agreement with the reference measured (exact-match rate, max LSB), and bounded;
* TFLM running TINYRNN_GRU / TINYRNN_RNN == tinyrnn C (host build) == numpy reference,
  also the int8-state GRU (state_bits=8);
* streaming (one frame per `step`, state kept) == the whole window, for tinyrnn and TFLM;
* bad input: an op the firmware cannot register and a too-small arena give errors naming the op
  or the bytes, not a hung QEMU.

Small untrained models from a fixed seed (deploy/budget.py's generator) keep it fast. Only
mps2-an386 here (the TFLM archive is compiled once per core and variant, ~minutes each); the main
job and `tinyrnn device eval --backend` cover the other boards. Skips, with the reason, when the
TFLM tree (TFLM_TREE), the Arm tool chain or QEMU is missing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from test_aot_exact import tflm_outputs, windows

from tinyrnn.deploy.tflm_lib import unavailable_reason

_REASON = unavailable_reason() or (None if shutil.which("qemu-system-arm") else
                                   "qemu-system-arm not found: bash scripts/install-toolchain.sh")
pytestmark = [pytest.mark.device, pytest.mark.skipif(_REASON is not None, reason=str(_REASON))]

ENV = "mps2-an386"
CACHE = Path(__file__).resolve().parents[1] / "build" / "test-cache" / "tflm"
STEPS, CHANNELS, CLASSES, UNITS = 16, 3, 4, 8
# CMSIS-NN's int8 kernels round like TFLM's reference kernels (its README), so on these graphs
# the two may differ by at most this much (measured: 0 LSB on every window here).
CMSIS_NN_MAX_LSB = 1


def _spec(cell: str, steps: int = STEPS):
    from tinyrnn.deploy.budget import ModelSpec

    return ModelSpec(name=f"tflm-{cell}{UNITS}", cell=cell, units=UNITS, steps=steps,
                     channels=CHANNELS, classes=CLASSES, seed=0)


def _generated(cell: str) -> tuple[Path, Path]:
    from tinyrnn.deploy.budget import generate_model

    cdir = generate_model(_spec(cell), root=CACHE)
    return cdir.parent / "int8.tflite", cdir


def _tflm_model(tflite: Path, name: str, steps: int = STEPS, host_arena: bool = True):
    from tinyrnn.convert.arena import measure_arena
    from tinyrnn.deploy.tflm_firmware import TflmModel

    arena = measure_arena(tflite)["arena_bytes"] if host_arena else None
    return TflmModel(tflite, name, steps, CHANNELS, [f"c{k}" for k in range(CLASSES)],
                     [0.0] * CHANNELS, [1.0] * CHANNELS, arena)


def _run(elf: Path, wins: list[np.ndarray]) -> tuple[list[list[int]], dict, object]:
    from tinyrnn.deploy.firmware import qemu_machine
    from tinyrnn.deploy.link import QemuBoard

    with QemuBoard(elf, qemu_machine(ENV), timeout=120) as dev:
        info = dev.identify()
        outs = [dev.classify(w, 1).output for w in wins]
        mem = dev.memory()
    return outs, mem, info


def _stream(elf: Path, wins: list[np.ndarray]) -> list[list[list[int]]]:
    """Per window: the output after every step from reset."""
    from tinyrnn.deploy.firmware import qemu_machine
    from tinyrnn.deploy.link import QemuBoard

    per_window = []
    with QemuBoard(elf, qemu_machine(ENV), timeout=120) as dev:
        dev.identify()
        for w in wins:
            dev.reset()
            per_window.append([dev.step(frame).output for frame in w])
    return per_window


@pytest.fixture(scope="module")
def lstm():
    tflite, cdir = _generated("lstm")
    return tflite, cdir, _tflm_model(tflite, "tflm-lstm8")


@pytest.fixture(scope="module")
def wins():
    return windows(STEPS, CHANNELS, n_random=6)


@pytest.fixture(scope="module")
def lstm_runs(lstm, wins):
    from tinyrnn.deploy.tflm_firmware import build_tflm

    model = lstm[2]
    out = {}
    for backend in ("tflm", "tflm-cmsis-nn"):
        fw = build_tflm(model, ENV, backend)
        out[backend] = (fw, *_run(fw.firmware.elf, wins))
    return out


def test_ref_kernels_on_board_equal_host_interpreter(lstm, lstm_runs, wins):
    tflite = lstm[0]
    want = tflm_outputs(tflite, wins)
    fw, outs, mem, info = lstm_runs["tflm"]
    assert info.backend == "tflm"
    for i, (got, ref) in enumerate(zip(outs, want, strict=True)):
        assert got == ref.tolist(), f"window {i}: board {got} != tflite-micro {ref.tolist()}"
    # The arena holds what TFLM took on the board, and the stack was measured (painted).
    used = int(info.fields["arena_used"])
    assert 0 < used <= fw.arena_bytes
    assert 0 < mem["stack_used"] < mem["stack_reserved"]


def test_cmsis_nn_agreement_with_reference_measured(lstm, lstm_runs, wins, record_property):
    want = np.array([o.tolist() for o in tflm_outputs(lstm[0], wins)], np.int32)
    _, outs, _, info = lstm_runs["tflm-cmsis-nn"]
    assert info.backend == "tflm-cmsis-nn"
    diff = np.abs(np.array(outs, np.int32) - want)
    exact = float(np.mean(diff.max(axis=1) == 0))
    record_property("cmsis_nn_exact_match_rate", exact)
    record_property("cmsis_nn_max_lsb", int(diff.max()))
    print(f"TFLM+CMSIS-NN vs reference: {exact:.0%} windows exact, max {int(diff.max())} LSB")
    assert int(diff.max()) <= CMSIS_NN_MAX_LSB


def test_cmsis_nn_is_the_faster_variant(lstm_runs):
    """Same graph, same interpreter: the DSP kernels must cut instructions on the M4."""
    from tinyrnn.deploy.firmware import qemu_machine
    from tinyrnn.deploy.link import QemuBoard

    counts = {}
    for backend in ("tflm", "tflm-cmsis-nn"):
        elf = lstm_runs[backend][0].firmware.elf
        with QemuBoard(elf, qemu_machine(ENV), timeout=120) as dev:
            dev.identify()
            r = dev.classify(np.zeros((STEPS, CHANNELS), np.int8), 2)
        assert r.count_min == r.count_max, "instruction counts must repeat"
        counts[backend] = r.count
    assert counts["tflm-cmsis-nn"] < counts["tflm"], counts


@pytest.mark.parametrize("cell,backends", [("gru", ("tflm", "tflm-cmsis-nn")), ("rnn", ("tflm",))])
def test_custom_ops_equal_tinyrnn_and_numpy(cell, backends, wins):
    from tinyrnn.convert.aot.graph import read_tflite
    from tinyrnn.convert.aot.hostbuild import HostModel
    from tinyrnn.convert.aot.plan import lower
    from tinyrnn.convert.rnn_reference import run_windows
    from tinyrnn.deploy.tflm_firmware import _probe_cache, build_tflm

    tflite, cdir = _generated(cell)
    want = run_windows(lower(read_tflite(tflite)), np.stack(wins))
    host = HostModel(cdir, CACHE / "host" / cell)
    for i, w in enumerate(wins):
        assert host.invoke(w).tolist() == want[i].tolist(), f"window {i}: tinyrnn C != numpy"
    model = _tflm_model(tflite, f"tflm-{cell}{UNITS}", host_arena=False)
    for backend in backends:
        _probe_cache(model, ENV, backend).unlink(missing_ok=True)  # size it on the board now
        fw = build_tflm(model, ENV, backend)
        assert fw.arena_source == "board"
        # The final build followed the probe in its folder and recompiled only the arena's file.
        objs = fw.firmware.elf.parent / "backend_tflm"
        assert (objs / "tinyrnn_backend_tflm.o").stat().st_mtime_ns < \
            (objs / "tinyrnn_tflm_arena.o").stat().st_mtime_ns
        outs, _, info = _run(fw.firmware.elf, wins)
        assert info.backend == backend
        for i, got in enumerate(outs):
            assert got == want[i].tolist(), f"{backend} window {i}: TFLM {got} != {want[i]}"


def _step_model(tflite: Path, name: str, host_arena: bool):
    from tinyrnn.deploy.tflm_step import write_one_step

    step = write_one_step(tflite, CACHE / "step" / f"{name}.tflite", STEPS)
    return _tflm_model(step, name, steps=1, host_arena=host_arena)


def test_streaming_equals_window_tinyrnn_and_tflm_ref(lstm, lstm_runs, wins):
    from tinyrnn.deploy.firmware import build
    from tinyrnn.deploy.tflm_firmware import build_tflm

    tflite, cdir, _ = lstm
    fw = build(ENV, cdir, build_dir=CACHE / "fw" / "tinyrnn-lstm")
    whole, _, _ = _run(fw.elf, wins)
    streamed = _stream(fw.elf, wins)
    assert [s[-1] for s in streamed] == whole, "tinyrnn: step path != infer"

    step_fw = build_tflm(_step_model(tflite, "tflm-lstm8-step", True), ENV, "tflm")
    streamed = _stream(step_fw.firmware.elf, wins)
    assert [s[-1] for s in streamed] == lstm_runs["tflm"][1], "TFLM ref: step path != infer"


def test_streaming_custom_gru_on_tflm(wins):
    from tinyrnn.deploy.tflm_firmware import build_tflm

    tflite, _ = _generated("gru")
    window_fw = build_tflm(_tflm_model(tflite, f"tflm-gru{UNITS}", host_arena=False), ENV, "tflm")
    whole, _, _ = _run(window_fw.firmware.elf, wins)
    step_fw = build_tflm(_step_model(tflite, "tflm-gru8-step", False), ENV, "tflm")
    streamed = _stream(step_fw.firmware.elf, wins)
    assert [s[-1] for s in streamed] == whole, "TINYRNN_GRU in TFLM: step path != infer"


@pytest.mark.parametrize("reset_after,layers", [(True, 1), (False, 2)], ids=["ra1", "ra0-l2"])
def test_custom_gru_int8_state_on_tflm(reset_after, layers, wins):
    """TINYRNN_GRU with custom option state_bits=8 runs the int8-state kernel inside TFLM (one
    layer; and two stacked layers with return_sequences): equal to the numpy reference, which
    differs from the int16-state reference of the same weights on these windows."""
    from dataclasses import replace

    from test_rnn_int8_exact import random_float_model

    from tinyrnn.convert.aot.graph import read_tflite
    from tinyrnn.convert.aot.plan import lower
    from tinyrnn.convert.rnn_quant import quantize_float_model
    from tinyrnn.convert.rnn_reference import run_windows
    from tinyrnn.convert.rnn_tflite import to_tflite
    from tinyrnn.deploy.tflm_firmware import build_tflm

    name = f"tflm-gru{UNITS}-s8-{'ra1' if reset_after else 'ra0'}-l{layers}"
    spec = ("gru", reset_after, STEPS, CHANNELS, UNITS, CLASSES, layers, 4.0)
    calib = np.random.default_rng(1).normal(0, 1, (32, STEPS, CHANNELS)).astype(np.float32)
    tflite = CACHE / "s8" / f"{name}.tflite"
    tflite.parent.mkdir(parents=True, exist_ok=True)
    tflite.write_bytes(to_tflite(quantize_float_model(random_float_model(spec), calib,
                                                      name=name, state_bits=8)))
    plan = lower(read_tflite(tflite))
    assert [la.state_bits for la in plan.layers] == [8] * layers
    want = run_windows(plan, np.stack(wins))
    p16 = replace(plan, layers=[replace(la, state_bits=16) for la in plan.layers])
    assert np.any(run_windows(p16, np.stack(wins)) != want), "windows do not tell 8 from 16"
    fw = build_tflm(_tflm_model(tflite, name, host_arena=False), ENV, "tflm")
    outs, _, _ = _run(fw.firmware.elf, wins)
    for i, got in enumerate(outs):
        assert got == want[i].tolist(), f"window {i}: TFLM {got} != numpy {want[i].tolist()}"


def test_cmsis_nn_lstm_streaming_starts_each_invoke_from_zero_state(lstm, lstm_runs, wins):
    """The pinned CMSIS-NN LSTM (arm_lstm_unidirectional_s8) never reads or writes the model's
    state tensors: each Invoke starts from h = c = 0, so step t's output is that of frame t
    alone, and streaming differs from the whole window. When this fails the pinned tree has the
    fix (CMSIS-NN PR #219): streaming then carries state, update firmware/README.md."""
    from tinyrnn.deploy.tflm_firmware import build_tflm

    step = _step_model(lstm[0], "tflm-lstm8-step", True)
    fw = build_tflm(step, ENV, "tflm-cmsis-nn")
    streamed = _stream(fw.firmware.elf, wins)
    fresh = tflm_outputs(step.tflite, [f[None] for w in wins for f in w])
    fresh_per_window = [fresh[i * STEPS:(i + 1) * STEPS] for i in range(len(wins))]
    for s, f in zip(streamed, fresh_per_window, strict=True):
        assert s == [o.tolist() for o in f]
    differs = sum(s[-1] != w for s, w in zip(streamed, lstm_runs["tflm-cmsis-nn"][1], strict=True))
    print(f"CMSIS-NN LSTM streaming: {differs}/{len(wins)} windows differ from the whole window")
    assert differs > 0


def test_unsupported_op_is_named():
    from tinyrnn.deploy.tflm_firmware import TflmModelError, resolver_ops

    assert resolver_ops(["UNIDIRECTIONAL_SEQUENCE_LSTM", "FULLY_CONNECTED", "SOFTMAX"]) == (
        ["UNIDIRECTIONAL_SEQUENCE_LSTM", "FULLY_CONNECTED", "SOFTMAX"], False)
    with pytest.raises(TflmModelError, match="op CONV_2D is not supported"):
        resolver_ops(["FULLY_CONNECTED", "CONV_2D"])


@pytest.mark.parametrize("backend", ["tflm", "tflm-cmsis-nn"])
def test_too_small_arena_is_a_clear_error(lstm, backend):
    from tinyrnn.deploy.firmware import qemu_machine
    from tinyrnn.deploy.link import DeviceError, QemuBoard
    from tinyrnn.deploy.tflm_firmware import build_tflm

    fw = build_tflm(lstm[2], ENV, backend, arena=1024, build_dir=CACHE / "fw" / f"small-{backend}")
    with pytest.raises(DeviceError, match=r"(?s)init failed.*(bytes|missing|arena)") as exc:
        with QemuBoard(fw.firmware.elf, qemu_machine(ENV), timeout=30) as dev:
            dev.identify()
    print(exc.value)
