"""Classifier definitions: recurrent layer(s) + dense softmax head, in Keras 2 (tf_keras).

Keras 2 is deliberate: TF 2.21's converter fuses only the tf_keras LSTM into the single TFLite
op UNIDIRECTIONAL_SEQUENCE_LSTM; a Keras 3 LSTM becomes a WHILE loop that int8 conversion
cannot handle. The closed forms below are what the report checks Keras' counts against.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tf_keras as keras

from tinyrnn.core.experiment import CELLS, check_cell  # noqa: F401  (re-exported)

_LAYERS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "rnn": keras.layers.SimpleRNN}


def build_classifier(
    cell: str,
    units: int,
    layers: int,
    steps: int,
    channels: int,
    num_classes: int,
    batch_size: int | None = None,
    unroll: bool = False,
) -> keras.Model:
    """``layers`` stacked recurrent layers of ``units`` each, last state -> Dense softmax.

    ``batch_size=1`` gives the fixed-shape graph the TFLite converter needs to fuse the LSTM;
    ``unroll=True`` the loop-free graph TF can quantize for GRU and SimpleRNN.
    """
    layer_cls = _LAYERS[check_cell(cell)]
    inputs = keras.Input((steps, channels), batch_size=batch_size, name="window")
    x = inputs
    for i in range(layers):
        x = layer_cls(units, return_sequences=i < layers - 1, unroll=unroll, name=f"{cell}{i}")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs, name=f"{cell}_classifier")


def recurrent_params(cell: str, units: int, inputs: int) -> int:
    """Weights + biases of one recurrent layer (Keras defaults: GRU reset_after=True)."""
    u, c = units, inputs
    if cell == "lstm":
        return 4 * (u * (u + c) + u)
    if cell == "gru":
        return 3 * (u * (u + c) + 2 * u)
    if cell == "rnn":
        return u * (u + c) + u
    raise ValueError(f"unknown cell {cell!r}")


def classifier_params(cell: str, units: int, layers: int, channels: int, num_classes: int) -> int:
    total = 0
    for i in range(layers):
        total += recurrent_params(cell, units, channels if i == 0 else units)
    return total + units * num_classes + num_classes


def recurrent_macs(cell: str, units: int, inputs: int, steps: int) -> int:
    """Multiply-accumulates of the matrix products per window (gate elementwise ops excluded)."""
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[check_cell(cell)]
    return steps * gates * units * (units + inputs)


def classifier_macs(
    cell: str, units: int, layers: int, steps: int, channels: int, num_classes: int
) -> int:
    total = sum(
        recurrent_macs(cell, units, channels if i == 0 else units, steps) for i in range(layers)
    )
    return total + units * num_classes
