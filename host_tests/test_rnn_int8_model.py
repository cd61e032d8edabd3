"""int8 GRU / SimpleRNN on real trained smartwatch models (32 units, trained by the pipeline's
tinyrnn.train.fit.train on the full watch training split, cached under build/test-cache/rnn-int8-*):
agreement with the Keras float model on the whole smartwatch test set, C == numpy on real
windows, the custom-op .tflite (parse, weights round trip, size, determinism), the CLI."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pytest
from rnn_int8_models import TEST_KEYS, model_dirs

from tinyrnn.convert.aot import compile_model
from tinyrnn.convert.aot.graph import read_tflite
from tinyrnn.convert.aot.hostbuild import HostModel
from tinyrnn.convert.aot.plan import lower
from tinyrnn.convert.rnn_quant import (
    RecurrentQuantError,
    float_model_from_keras,
    quantize_model_dir,
    quantize_recurrent_model,
)
from tinyrnn.convert.rnn_reference import quantize_input, run_windows
from tinyrnn.convert.rnn_tflite import to_tflite

REPO = Path(__file__).resolve().parents[1]
KEYS = TEST_KEYS


@pytest.fixture(scope="module")
def trained() -> dict[str, Path]:
    return model_dirs(KEYS)


@pytest.fixture(scope="module")
def test_set(watch):
    return watch.x_test, watch.y_test


@pytest.fixture(scope="module")
def results(trained, test_set) -> dict[str, dict]:
    from tinyrnn.convert.rnn_quant import _load_keras

    x, y = test_set
    out = {}
    for key, d in trained.items():
        norm = json.loads((d / "normalization.json").read_text())
        xn = ((x - np.array(norm["mean"])) / np.array(norm["std"])).astype(np.float32)
        keras_pred = _load_keras(d).predict(xn, batch_size=256, verbose=0).argmax(1)
        path = quantize_recurrent_model(d)
        plan = lower(read_tflite(path))
        xq = quantize_input(plan, xn)
        out8 = run_windows(plan, xq)
        out[key] = {"dir": d, "path": path, "plan": plan, "xq": xq, "out8": out8,
                    "keras_acc": float(np.mean(keras_pred == y)),
                    "int8_acc": float(np.mean(out8.argmax(1) == y)),
                    "agree": float(np.mean(out8.argmax(1) == keras_pred))}
    return out


@pytest.mark.parametrize("key", KEYS)
def test_reference_agrees_with_keras_on_watch_test_set(results, key):
    r = results[key]
    assert r["agree"] >= 0.98, f"{key}: int8 vs Keras float agreement {r['agree']:.4f}"
    assert abs(r["int8_acc"] - r["keras_acc"]) <= 0.015, (
        f"{key}: int8 accuracy {r['int8_acc']:.4f} vs float {r['keras_acc']:.4f}")
    assert r["keras_acc"] > (0.5 if key == "rnn" else 0.75)  # a reasonably trained model


@pytest.mark.parametrize("key", KEYS)
def test_c_equals_reference_on_real_windows(results, key, tmp_path):
    r = results[key]
    compile_model(r["path"], tmp_path / key, name=key)
    model = HostModel(tmp_path / key, REPO / "build" / "test-cache" / "rnn-int8-host")
    got = np.stack([model.invoke(w) for w in r["xq"]])
    assert np.array_equal(got, r["out8"])


def _tables(buf: bytes):
    import tflite

    return tflite.Model.GetRootAsModel(buf, 0)


@pytest.mark.parametrize("key", KEYS)
def test_custom_tflite_parses_and_round_trips(results, key):
    from flatbuffers import flexbuffers

    r = results[key]
    buf = r["path"].read_bytes()
    qm = quantize_model_dir(r["dir"])
    assert buf == to_tflite(qm), "quantization is not byte-deterministic"
    m = _tables(buf)
    codes = []
    for i in range(m.OperatorCodesLength()):
        oc = m.OperatorCodes(i)
        codes.append((oc.BuiltinCode(), oc.CustomCode()))
    want_custom = b"TINYRNN_GRU" if key.startswith("gru") else b"TINYRNN_RNN"
    assert codes == [(32, want_custom), (9, None), (25, None)]  # CUSTOM, FC, SOFTMAX
    sub = m.Subgraphs(0)
    op = sub.Operators(0)
    opts = flexbuffers.Loads(op.CustomOptionsAsNumpy().tobytes())
    layer = qm.layers[0]
    assert opts == {"cell": layer.cell, "reset_after": layer.reset_after,
                    "return_sequences": False, "state_bits": layer.state_bits,
                    "units": 32, "version": 1}

    def data(tensor_index: int, dtype) -> np.ndarray:
        t = sub.Tensors(tensor_index)
        raw = m.Buffers(t.Buffer()).DataAsNumpy().tobytes()
        return np.frombuffer(raw, dtype).reshape(t.ShapeAsNumpy())

    ins = op.InputsAsNumpy()
    assert np.array_equal(data(ins[1], np.int8), layer.w_in)
    assert np.array_equal(data(ins[2], np.int8), layer.w_rec)
    assert np.array_equal(data(ins[3], "<i4"), layer.b_in)
    if layer.b_rec is not None:
        assert np.array_equal(data(ins[4], "<i4"), layer.b_rec)
    else:
        assert ins[4] == -1
    w_q = sub.Tensors(ins[1]).Quantization()
    assert np.allclose(w_q.ScaleAsNumpy(), np.float32(layer.w_in_scale))
    fc = sub.Operators(1)
    assert np.array_equal(data(fc.InputsAsNumpy()[1], np.int8), qm.head.weights)
    # Size: the int8 weights and int32 biases plus at most 4 KB of flatbuffer structure.
    payload = sum(np.asarray(a).nbytes for la in qm.layers
                  for a in (la.w_in, la.w_rec, la.b_in, la.b_rec) if a is not None)
    payload += qm.head.weights.nbytes + qm.head.bias.nbytes
    assert len(buf) <= payload + 4096, f"{len(buf)} bytes for {payload} bytes of weights"
    # The AOT reader sees the same graph (also parsed through the tflite schema package).
    g = read_tflite(buf)
    assert [o.opcode for o in g.operators] == [
        f"CUSTOM({want_custom.decode()})", "FULLY_CONNECTED", "SOFTMAX"]


def test_cli_subcommand(trained, capsys):
    from tinyrnn.cli import main

    assert main(["quantize-rnn", str(trained["rnn"]), "--compile"]) == 0
    out = capsys.readouterr().out
    assert "int8_custom.tflite" in out and "RAM" in out
    # --compile writes where `tinyrnn compile` writes, which the device step reads.
    assert (trained["rnn"] / "tinyrnn" / "tinyrnn_model.c").is_file()
    assert main(["quantize-rnn", str(trained["rnn"] / "missing")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tinyrnn: error:") and "missing not found" in err


def test_cli_state_bits_8_gives_an_int8_state_gru(results, tmp_path, capsys):
    """`quantize-rnn --state-bits 8`: the .tflite says state_bits 8, its C keeps no int16 state,
    and that C equals the numpy reference of the int8-state scheme on real windows."""
    import shutil

    from tinyrnn.cli import main

    d = tmp_path / results["gru"]["dir"].name
    shutil.copytree(results["gru"]["dir"], d, ignore=shutil.ignore_patterns("tinyrnn", "tflm"))
    assert main(["quantize-rnn", str(d), "--state-bits", "8", "--compile"]) == 0
    plan = lower(read_tflite(d / "int8_custom.tflite"))
    assert [la.state_bits for la in plan.layers] == [8]
    xq = results["gru"]["xq"][:40]
    want = run_windows(plan, xq)
    assert not np.array_equal(want, results["gru"]["out8"][:40]), "int8 state changed nothing"
    model = HostModel(d / "tinyrnn", REPO / "build" / "test-cache" / "rnn-int8-host")
    assert np.array_equal(np.stack([model.invoke(w) for w in xq]), want)
    header = (d / "tinyrnn" / "tinyrnn_model.h").read_text()
    assert f"TINYRNN_MODEL_STATE_BYTES {plan.layers[0].units} " in header  # int8 h only
    capsys.readouterr()


def test_lstm_and_other_layers_are_refused():
    keras = importlib.import_module("tf_keras")
    inp = keras.Input((10, 3))
    m = keras.Model(inp, keras.layers.Dense(4, activation="softmax")(keras.layers.LSTM(8)(inp)))
    with pytest.raises(RecurrentQuantError, match="LSTM"):
        float_model_from_keras(m)
    m = keras.Model(inp, keras.layers.Dense(4, activation="softmax")(
        keras.layers.GRU(8, activation="relu")(inp)))
    with pytest.raises(RecurrentQuantError, match="activation"):
        float_model_from_keras(m)
