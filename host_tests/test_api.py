"""The Python API on models built here (nothing trained): Keras 3 and tf_keras, LSTM, GRU with
reset_after True and False, SimpleRNN, stacked, with Dropout. The exported tinyrnn C must equal an
independent int8 reference on every output byte (TFLM's interpreter for the fused LSTM, the numpy
reference for GRU / SimpleRNN), the int8 model must agree with the float Keras model, the same
inputs must give the same bytes, and bad models and bad windows must get clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinyrnn.convert.aot.hostbuild import HostModel

REPO = Path(__file__).resolve().parent.parent
STEPS, CHANNELS, CLASSES = 12, 3, 4
# The int8 model must pick the float model's class on at least this share of test windows.
# Weights are random, so class margins are smaller than a trained model's; measured 0.987-1.0.
MIN_AGREEMENT = 0.9


def _keras(flavour: str):
    import importlib

    return importlib.import_module("keras" if flavour == "keras3" else "tf_keras")


# name -> (Keras flavour, cell, units per layer, reset_after, dropout between layers, head)
MODELS = {
    "k3_lstm": ("keras3", "lstm", (8,), True, False, "softmax"),
    "tk_lstm_stacked_dropout": ("tf_keras", "lstm", (8, 6), True, True, "softmax"),
    "k3_gru_reset_after": ("keras3", "gru", (8,), True, False, "softmax"),
    "tk_gru_reset_before": ("tf_keras", "gru", (7,), False, False, "softmax"),
    "k3_gru0_stacked_dropout": ("keras3", "gru", (6, 8), False, True, "softmax"),
    "k3_rnn": ("keras3", "rnn", (10,), True, False, "activation"),
    "tk_rnn_stacked": ("tf_keras", "rnn", (8, 8), True, True, "linear"),
}


def build(name: str, seed: int = 0):
    """The model of MODELS[name] with seeded random weights (Keras' initializers not involved)."""
    flavour, cell, units, reset_after, dropout, head = MODELS[name]
    keras = _keras(flavour)
    layer_cls = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU,
                 "rnn": keras.layers.SimpleRNN}[cell]
    inp = keras.Input((STEPS, CHANNELS))
    x = inp
    for i, u in enumerate(units):
        extra = {"reset_after": reset_after} if cell == "gru" else {}
        x = layer_cls(u, return_sequences=i < len(units) - 1, **extra)(x)
        if dropout:
            x = keras.layers.Dropout(0.3)(x)
    if head == "activation":
        x = keras.layers.Dense(CLASSES)(x)
        out = keras.layers.Activation("softmax")(x)
    else:
        out = keras.layers.Dense(CLASSES, activation=head)(x)
    model = keras.Model(inp, out, name=name)
    rng = np.random.default_rng(seed)
    weights = []
    for w in model.get_weights():
        fan = w.shape[0] if w.ndim > 1 else 1
        # The head gets larger weights so classes are separated as in a trained model.
        scale = 1.5 if w.shape[-1] == CLASSES and w.ndim == 2 else 1.0 / np.sqrt(fan)
        weights.append(rng.normal(0.0, scale, w.shape).astype(np.float32))
    model.set_weights(weights)
    return model


def windows(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, STEPS, CHANNELS)).astype(np.float32)


def int8_windows(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ws = [np.full((STEPS, CHANNELS), v, np.int8) for v in (-128, 0, 127)]
    ws += list(rng.integers(-128, 128, (n, STEPS, CHANNELS), dtype=np.int8))
    return np.stack(ws)


def reference_outputs(cell: str, tflite: Path, xq: np.ndarray) -> np.ndarray:
    """TFLM's interpreter (LSTM) or the numpy reference (GRU / SimpleRNN) on int8 windows."""
    if cell == "lstm":
        from tflite_micro import runtime

        it = runtime.Interpreter.from_bytes(tflite.read_bytes(), arena_size=1 << 20)
        outs = []
        for w in xq:
            it.reset()
            it.set_input(w[None], 0)
            it.invoke()
            outs.append(np.array(it.get_output(0)).reshape(-1))
        return np.stack(outs)
    from tinyrnn.convert.aot.graph import read_tflite
    from tinyrnn.convert.aot.plan import lower
    from tinyrnn.convert.rnn_reference import run_windows

    return run_windows(lower(read_tflite(tflite)), xq)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from tinyrnn import export_model

    root = tmp_path_factory.mktemp("api")
    out = {}
    for i, name in enumerate(MODELS):
        model = build(name, seed=i)
        x_test = windows(300, seed=100 + i)
        y_test = np.argmax(model.predict(x_test, verbose=0), axis=1)
        # The card's TFLM arena is measured once (a bisection of child processes, ~10 s).
        res = export_model(model, calibration=windows(200, seed=i), out=root / name,
                           x_test=x_test, y_test=y_test, class_names=list("abcd"),
                           tflm_arena=name == "k3_lstm", verbose=False)
        out[name] = (model, res)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_exported_c_equals_reference_byte_for_byte(name, exported, tmp_path):
    _, res = exported[name]
    cell = MODELS[name][1]
    assert res.quantized.path.name == ("int8.tflite" if cell == "lstm" else "int8_custom.tflite")
    assert res.quantized.float_check_max_diff < 1e-4
    c = HostModel(res.compiled.dir, tmp_path)
    xq = int8_windows(30, seed=len(name))
    mine = np.stack([c.invoke(w) for w in xq])
    want = reference_outputs(cell, res.quantized.path, xq)
    assert np.array_equal(mine, want), f"{name}: {np.sum(np.any(mine != want, 1))} windows differ"
    # The API's own evaluation ran the same comparison on the float test windows.
    ev = res.evaluation
    assert ev.reference == ("tflm_int8" if cell == "lstm" else "numpy_int8")
    assert ev.windows_identical == 1.0 and ev.result["tinyrnn_vs_reference"]["max_lsb"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_int8_agrees_with_float_keras(name, exported):
    _, res = exported[name]
    ev = res.evaluation
    assert ev.windows == 300
    assert ev.float_accuracy == 1.0  # y_test is the float model's own prediction
    assert ev.float_int8_agreement >= MIN_AGREEMENT, ev.result
    assert ev.int8_accuracy == ev.float_int8_agreement


@pytest.mark.slow
def test_folder_card_and_c_array(exported):
    from tinyrnn.convert.carray import parse_c_array
    from tinyrnn.core.buildtree import ModelFolder, read_json

    model, res = exported["k3_lstm"]
    folder = ModelFolder(res.out)
    assert folder.deployable_tflite() == res.quantized.path
    assert parse_c_array(res.c_array.source.read_text()) == res.quantized.path.read_bytes()
    assert '"a", "b", "c", "d"' in res.c_array.source.read_text()
    card = read_json(folder.card_json)
    assert card["keras_params"] == model.count_params()
    assert card["cell"] == "lstm" and card["source"] == "keras" and card["units"] == [8]
    assert card["int8_tflm_arena_bytes"] > 0
    assert card["tinyrnn"]["macs"] == card["macs_per_inference"]
    gru_card = read_json(ModelFolder(exported["k3_gru0_stacked_dropout"][1].out).card_json)
    assert gru_card["reset_after"] == [False, False]
    assert gru_card["keras_params"] == exported["k3_gru0_stacked_dropout"][0].count_params()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["k3_lstm", "k3_gru_reset_after"])
def test_same_inputs_same_bytes(name, exported, tmp_path):
    from tinyrnn.api import compile_c, quantize, to_c_array

    model, res = exported[name]
    i = list(MODELS).index(name)
    quantize(model, windows(200, seed=i), tmp_path, verbose=False)
    to_c_array(model, tmp_path, class_names=list("abcd"))
    compile_c(model, tmp_path, class_names=list("abcd"))
    files = [res.quantized.path, res.c_array.header, res.c_array.source, *res.compiled.files]
    for f in files:
        again = tmp_path / f.relative_to(res.out)
        assert again.read_bytes() == f.read_bytes(), f.name


# ---- errors (no conversion: fast) ---------------------------------------------------------

def _model(keras, *layers):
    inp = keras.Input((STEPS, CHANNELS))
    x = inp
    for layer in layers:
        x = layer(x)
    return keras.Model(inp, x)


@pytest.mark.parametrize("flavour", ["keras3", "tf_keras"])
def test_unsupported_layers_are_named(flavour, tmp_path):
    from tinyrnn.api import KerasModelError, export_model

    k = _keras(flavour)
    cases = [
        (_model(k, k.layers.Conv1D(4, 3, name="conv"), k.layers.GRU(4),
                k.layers.Dense(2, activation="softmax")), "'conv' (Conv1D)"),
        (_model(k, k.layers.Bidirectional(k.layers.LSTM(4), name="bi"),
                k.layers.Dense(2, activation="softmax")), "'bi' (Bidirectional)"),
        (_model(k, k.layers.LSTM(4, return_sequences=True, name="top"),
                k.layers.Dense(2, activation="softmax")), "'top' (LSTM)"),
        (_model(k, k.layers.SimpleRNN(4, go_backwards=True, name="back"),
                k.layers.Dense(2, activation="softmax")), "go_backwards"),
        (_model(k, k.layers.GRU(4, activation="relu", name="relu_gru"), k.layers.Dense(2)),
         "'relu_gru' (GRU): activation 'relu'"),
        (_model(k, k.layers.LSTM(4, return_sequences=True), k.layers.GRU(4, name="mixed"),
                k.layers.Dense(2)), "one cell type"),
    ]
    for model, expected in cases:
        with pytest.raises(KerasModelError) as err:
            export_model(model, calibration=windows(4, 0), out=tmp_path / "x", verbose=False)
        msg = str(err.value)
        assert expected in msg and "supported: " in msg, msg
    assert not (tmp_path / "x").exists()  # refused before anything was written


def test_stateful_is_refused(tmp_path):
    from tinyrnn.api import KerasModelError, inspect_model

    k = _keras("tf_keras")
    inp = k.Input((STEPS, CHANNELS), batch_size=1)
    model = k.Model(inp, k.layers.Dense(2)(k.layers.LSTM(4, stateful=True, name="st")(inp)))
    with pytest.raises(KerasModelError, match="'st' \\(LSTM\\): stateful=True is not supported"):
        inspect_model(model)


def test_bad_calibration_and_labels(tmp_path):
    from tinyrnn.api import RecurrentQuantError, evaluate, quantize

    model = build("k3_gru_reset_after")
    with pytest.raises(RecurrentQuantError, match=r"\[N, 12, 3\].*got shape \(5, 12, 4\)"):
        quantize(model, np.zeros((5, STEPS, 4), np.float32), tmp_path, verbose=False)
    with pytest.raises(RecurrentQuantError, match=r"got shape \(0, 12, 3\)"):
        quantize(model, np.zeros((0, STEPS, CHANNELS), np.float32), tmp_path, verbose=False)
    bad = windows(10, 0)
    bad[3, 2, 1] = np.nan
    bad[7, 0, 0] = np.inf
    with pytest.raises(RecurrentQuantError, match="NaN or inf in 2 of 10 windows"):
        quantize(model, bad, tmp_path, verbose=False)
    assert not any(tmp_path.iterdir())
    with pytest.raises(FileNotFoundError, match="no int8 model"):
        evaluate(model, tmp_path, windows(4, 0), verbose=False)


def test_bad_class_names_and_normalization(tmp_path):
    from tinyrnn.api import export_model

    model = build("k3_rnn")
    with pytest.raises(ValueError, match="3 class names given; the model has 4 outputs"):
        export_model(model, windows(8, 0), tmp_path, class_names=list("abc"), verbose=False)
    with pytest.raises(ValueError, match="3 means and 3 stds > 0, got 2 and 3"):
        export_model(model, windows(8, 0), tmp_path, verbose=False,
                     normalization={"mean": [0, 0], "std": [1, 1, 1]})
    with pytest.raises(ValueError, match="y_test given without x_test"):
        export_model(model, windows(8, 0), tmp_path, y_test=[0], verbose=False)
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_bad_labels(exported):
    from tinyrnn.api import evaluate

    model, res = exported["k3_rnn"]
    with pytest.raises(ValueError, match=r"y_test must be 5 integer class indices in \[0, 4\)"):
        evaluate(model, res.out, windows(5, 0), [0, 1, 2, 3, 4], verbose=False)


def test_importing_tinyrnn_does_not_import_the_api_or_tensorflow():
    code = ("import sys, tinyrnn\n"
            "assert callable(tinyrnn.__getattr__)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'tf_keras', 'keras') or m == 'tinyrnn.api'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.strip() == "[]", out


@pytest.mark.slow
def test_example_runs_as_a_user_would(tmp_path):
    out = tmp_path / "my_model"
    r = subprocess.run([sys.executable, str(REPO / "examples" / "api_example.py"), str(out)],
                       capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "C == numpy_int8 on 100.0% of windows" in r.stdout, r.stdout
    for rel in ("int8_custom.tflite", "tflm/model_data.cc", "tinyrnn/tinyrnn_model.c",
                "card.json", "evaluation.json"):
        assert (out / rel).is_file(), rel
