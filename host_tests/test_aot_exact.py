"""The compiled C equals TFLite Micro on every output byte, for many LSTM shapes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from aot_zoo import REPO, ZOO, ensure_models

from tinyrnn.convert.aot import compile_model
from tinyrnn.convert.aot.graph import read_tflite
from tinyrnn.convert.aot.hostbuild import HostModel
from tinyrnn.convert.aot.plan import lower
from tinyrnn.convert.aot.reference import ReferenceModel

BUILD = REPO / "build" / "test-cache" / "aot-host"


@pytest.fixture(scope="session")
def zoo() -> dict[str, Path]:
    return ensure_models(ZOO)


@pytest.fixture(scope="session")
def compiled(zoo, tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    root = tmp_path_factory.mktemp("aot")
    out = {}
    for name, path in zoo.items():
        compile_model(path, root / name, name=name)
        out[name] = (path, root / name)
    return out


def windows(steps: int, channels: int, n_random: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    ws = [np.full((steps, channels), -128, np.int8), np.full((steps, channels), 127, np.int8),
          np.zeros((steps, channels), np.int8)]
    ws += [rng.integers(-128, 128, (steps, channels), dtype=np.int8) for _ in range(n_random)]
    # Smooth signals, closer to sensor data than white noise.
    t = np.arange(steps)[:, None]
    ws.append(np.clip(np.round(100 * np.sin(t / 5.0 + np.arange(channels))), -128, 127)
              .astype(np.int8))
    return ws


def tflm_outputs(path: Path, wins: list[np.ndarray]) -> list[np.ndarray]:
    from tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(path.read_bytes(), arena_size=1 << 20)
    outs = []
    for w in wins:
        it.reset()  # TFLM keeps LSTM state across invoke(); each window starts fresh
        it.set_input(w[None], 0)
        it.invoke()
        outs.append(it.get_output(0).reshape(-1).copy())
    return outs


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ZOO))
def test_bit_exact_with_tflm(name, compiled):
    path, model_dir = compiled[name]
    hm = HostModel(model_dir, BUILD)
    wins = windows(hm.steps, hm.channels, n_random=10, seed=len(name))
    expected = tflm_outputs(path, wins)
    for i, (w, want) in enumerate(zip(wins, expected, strict=True)):
        got = hm.invoke(w)
        assert np.array_equal(got, want), f"{name} window {i}: C {got} != TFLM {want}"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["t12_c4_u6_l2", "t20_c6_u32_sat", "t40_c8_u24_l2_sat"])
def test_numpy_reference_matches_tflm(name, zoo):
    """The host-side model of the kernels (which pins the semantics) agrees with TFLM too."""
    ref = ReferenceModel(lower(read_tflite(zoo[name])))
    wins = windows(ref.plan.steps, ref.plan.channels, n_random=3)
    for w, want in zip(wins, tflm_outputs(zoo[name], wins), strict=True):
        assert np.array_equal(ref.invoke(w), want)


@pytest.mark.parametrize("name", ["t10_c3_u8", "t12_c4_u6_l2", "t20_c6_u32_sat"])
def test_step_equals_invoke_and_reset(name, compiled):
    _, model_dir = compiled[name]
    hm = HostModel(model_dir, BUILD)
    wins = windows(hm.steps, hm.channels, n_random=3, seed=7)
    fresh = [hm.invoke(w) for w in wins]
    for w, want in zip(wins, fresh, strict=True):
        hm.reset()
        for t in range(hm.steps):
            out = hm.step(w[t])
        assert np.array_equal(out, want)
    # Stepping on past the window keeps state; reset() (and invoke) restore the fresh output.
    hm.reset()
    for t in range(hm.steps):
        hm.step(wins[3][t])
    for t in range(hm.steps):
        dirty = hm.step(wins[4][t])
    hm.reset()
    for t in range(hm.steps):
        clean = hm.step(wins[4][t])
    assert np.array_equal(clean, fresh[4])
    assert np.array_equal(hm.invoke(wins[4]), fresh[4])
    del dirty


def test_deterministic_output(compiled, tmp_path):
    path, model_dir = compiled["t12_c4_u6_l2"]
    compile_model(path, tmp_path / "again", name="t12_c4_u6_l2")
    for f in sorted(model_dir.iterdir()):
        assert (tmp_path / "again" / f.name).read_bytes() == f.read_bytes(), f.name


def test_header_contract(compiled):
    _, model_dir = compiled["t100_c6_u32"]
    h = (model_dir / "tinyrnn_model.h").read_text()
    for macro in ("NAME", "STEPS 100", "CHANNELS 6", "INPUT_SIZE", "OUTPUT_SIZE 7", "INPUT_SCALE",
                  "INPUT_ZERO_POINT", "OUTPUT_SCALE", "OUTPUT_ZERO_POINT", "ARENA_BYTES",
                  "STATE_BYTES", "WEIGHT_BYTES", "MACS"):
        assert f"#define TINYRNN_MODEL_{macro}" in h
    for decl in ("tinyrnn_model_class_names[TINYRNN_MODEL_OUTPUT_SIZE]",
                 "tinyrnn_model_norm_mean[TINYRNN_MODEL_CHANNELS]",
                 "int  tinyrnn_model_init(void);", "void tinyrnn_model_reset(void);",
                 "int  tinyrnn_model_invoke(const int8_t *input, int8_t *output);",
                 "int  tinyrnn_model_step(const int8_t *frame, int8_t *output);"):
        assert decl in h
