"""Post-training int8 quantization of GRU and SimpleRNN classifiers, without TFLite's converter.

TF 2.21 cannot quantize a GRU or SimpleRNN to int8 in one op (its int8 conversion of the WHILE
loop crashes, the unrolled graph is ~500 KB). This module computes every scale and zero point of
the integer scheme in docs/int8-gru-rnn.md directly from the trained tf_keras model and the
calibration windows the trainer saved (200 normalized training windows), and writes the result
as a standard .tflite in which each recurrent layer is one custom operator (``TINYRNN_GRU`` or
``TINYRNN_RNN``, see convert/rnn_tflite.py) followed by TFLite's own int8 FULLY_CONNECTED and
SOFTMAX. The ahead-of-time compiler (convert/aot) and the TFLM custom-op wrapper both read that
file; the numpy reference (convert/rnn_reference.py) is the executable spec.

Calibration is TFLite-style min/max over the calibration windows:

* model input: asymmetric int8, scale = (max - min) / 255 over a range that includes 0;
* weights: symmetric int8, one scale per gate matrix (per-tensor per gate, like TFLM's LSTM);
* biases: int32 at input_scale * weight_scale (recurrent biases at hidden_scale * weight_scale);
* hidden state output / recurrent operand: symmetric int8, scale = max|h| / 127 over every time
  step of every calibration window (|h| < 1 for both cells);
* logits: asymmetric int8 from their min/max; softmax output: scale 1/256, zero point -128.

Everything is numpy on float64 copies of float32 weights, so the same model and calibration file
give the same bytes on every run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinyrnn.convert.keras_model import (  # noqa: F401  (re-exported: older callers import them here)
    FloatLayer,
    FloatModel,
    check_windows,
    float_forward,
    float_layer_forward,
    read_keras_model,
)
from tinyrnn.convert.rnn_int8 import (  # noqa: F401  (re-exported: the quantizer's vocabulary)
    ACT_SCALE,
    CUSTOM_GRU,
    CUSTOM_RNN,
    GATE_SCALE,
    SCHEME_VERSION,
    DenseQ,
    QParams,
    QuantizedModel,
    RecurrentLayerQ,
    RecurrentQuantError,
)
from tinyrnn.core.buildtree import ModelFolder


def float_model_from_keras(model) -> FloatModel:
    """Extract [GRU | SimpleRNN]+ -> Dense(softmax | linear) from a tf_keras or Keras 3 model.

    The one reader of Keras models is convert/keras_model.py; this adds the quantizer's own
    limit (the LSTM goes through TF's fused converter instead)."""
    fm = read_keras_model(model)
    if fm.cell == "lstm":
        raise RecurrentQuantError(
            f"{fm.layers[0].name}: an LSTM; this quantizer takes GRU/SimpleRNN layers (the int8 "
            "LSTM is TF's fused UNIDIRECTIONAL_SEQUENCE_LSTM, convert/tflite_export.py)")
    return fm


# ---- quantization ------------------------------------------------------------------------

def _f32(x: float) -> float:
    return float(np.float32(x))


def asymmetric(lo: float, hi: float) -> QParams:
    """TFLite-style int8 range quantization of [min(lo, 0), max(hi, 0)]."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-8:
        hi = lo + 1e-8
    scale = _f32((hi - lo) / 255.0)
    zp = int(np.clip(round(-128 - lo / scale), -128, 127))
    return QParams(scale, zp)


def symmetric_scale(maxabs: float, floor: float = 1e-8) -> float:
    return _f32(max(float(maxabs), floor) / 127.0)


def quantize_weights(w: np.ndarray) -> tuple[np.ndarray, float]:
    """Symmetric int8 with one scale for the whole matrix."""
    scale = symmetric_scale(np.abs(w).max(initial=0.0))
    return np.clip(np.round(w / scale), -127, 127).astype(np.int8), scale


def quantize_bias(b: np.ndarray, scale: float) -> np.ndarray:
    q = np.round(np.asarray(b, np.float64) / scale)
    if np.abs(q).max(initial=0) >= 2 ** 31:
        raise RecurrentQuantError("a bias does not fit int32 at its scale")
    return q.astype(np.int32)


def _gate_split(m: np.ndarray, gates: int, units: int) -> list[np.ndarray]:
    """Keras [n, G*units] -> G matrices [units, n] (row = output unit)."""
    return [np.ascontiguousarray(m[:, g * units:(g + 1) * units].T) for g in range(gates)]


def quantize_float_model(fm: FloatModel, calibration: np.ndarray, *, name: str = "model",
                         state_bits: int = 16) -> QuantizedModel:
    if fm.cell not in ("gru", "rnn"):
        raise RecurrentQuantError(f"this quantizer takes GRU/SimpleRNN models, not {fm.cell}")
    calib = check_windows(calibration, fm.steps, fm.channels)
    if state_bits not in (8, 16):
        raise RecurrentQuantError("state_bits must be 8 or 16")
    seqs, logits = float_forward(fm, calib)
    x_q = asymmetric(calib.min(), calib.max())
    layers: list[RecurrentLayerQ] = []
    in_q = x_q
    for fl, seq in zip(fm.layers, seqs, strict=True):
        gates = 3 if fl.cell == "gru" else 1
        u = fl.units
        h_q = QParams(symmetric_scale(np.abs(seq).max(initial=0.0), 1e-3), 0)
        w_in, s_in, w_rec, s_rec = [], [], [], []
        for m in _gate_split(fl.kernel, gates, u):
            q, s = quantize_weights(m)
            w_in.append(q)
            s_in.append(s)
        for m in _gate_split(fl.recurrent, gates, u):
            q, s = quantize_weights(m)
            w_rec.append(q)
            s_rec.append(s)
        bias = np.asarray(fl.bias, np.float64)
        b_in_f = bias[0] if fl.reset_after else bias
        b_in = np.stack([quantize_bias(b_in_f[g * u:(g + 1) * u], _f32(in_q.scale * s_in[g]))
                         for g in range(gates)])
        b_rec = None
        if fl.reset_after:
            b_rec = np.stack([quantize_bias(bias[1][g * u:(g + 1) * u],
                                            _f32(h_q.scale * s_rec[g])) for g in range(gates)])
        layers.append(RecurrentLayerQ(
            fl.cell, fl.reset_after, fl.return_sequences, in_q, h_q, np.stack(w_in),
            tuple(s_in), np.stack(w_rec), tuple(s_rec), b_in, b_rec,
            state_bits if fl.cell == "gru" else 8))  # a SimpleRNN's state is its int8 h
        in_q = h_q
    wd = np.asarray(fm.dense_w, np.float64).T  # [K, units]
    w_scales = [symmetric_scale(np.abs(row).max(initial=0.0)) for row in wd]
    wq = np.stack([np.clip(np.round(row / s), -127, 127) for row, s in zip(wd, w_scales,
                                                                        strict=True)])
    bias = np.array([round(float(b) / _f32(in_q.scale * s))
                     for b, s in zip(fm.dense_b, w_scales, strict=True)], np.int64)
    head = DenseQ(in_q, asymmetric(logits.min(), logits.max()), wq.astype(np.int8),
                  tuple(w_scales), bias.astype(np.int32), fm.softmax)
    return QuantizedModel(fm.steps, fm.channels, x_q, layers, head, name)


# ---- model folder entry point -------------------------------------------------------------

def _load_keras(model_dir: Path):
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tf_keras as keras

    path = ModelFolder(model_dir).keras
    if not path.is_file():
        raise RecurrentQuantError(f"{path} not found: train the model first")
    return keras.models.load_model(path, compile=False)


def quantize_model_dir(model_dir: Path, *, state_bits: int = 16) -> QuantizedModel:
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise RecurrentQuantError(f"model folder {model_dir} not found")
    calib_path = ModelFolder(model_dir).calibration_npy
    if not calib_path.is_file():
        raise RecurrentQuantError(f"{calib_path} not found: the trainer saves it with the model")
    fm = float_model_from_keras(_load_keras(model_dir))
    return quantize_float_model(fm, np.load(calib_path), name=model_dir.name,
                                state_bits=state_bits)


def quantize_recurrent_model(model_dir: Path, out_name: str = "int8_custom.tflite", *,
                             state_bits: int = 16) -> Path:
    """Quantize build/models/<name>/ (model.keras + calibration.npy) into
    <model_dir>/int8_custom.tflite and return its path. Byte-deterministic. ``state_bits=8``
    keeps a GRU's state in int8 (less RAM, less accurate; see rnn_reference.py)."""
    from tinyrnn.core.buildtree import write_bytes_atomic

    from .rnn_tflite import to_tflite

    model_dir = Path(model_dir)
    data = to_tflite(quantize_model_dir(model_dir, state_bits=state_bits))
    out = model_dir / out_name
    write_bytes_atomic(out, data)
    return out


def quantize_model_folder(model_dir: Path) -> Path | None:
    """A trained model folder's GRU/SimpleRNN as int8_custom.tflite, unless it is up to date; None
    for an LSTM (TF's converter fuses that one)."""
    folder = ModelFolder(model_dir)
    if folder.cell() == "lstm":
        return None
    out = folder.int8_custom_tflite
    if out.is_file() and out.stat().st_mtime >= folder.keras.stat().st_mtime:
        print(f"[quantize] {model_dir.name}: up to date, skipping")
        return out
    path = quantize_recurrent_model(model_dir)
    print(f"[quantize] {model_dir.name}: {path.name}: {path.stat().st_size} bytes", flush=True)
    return path
