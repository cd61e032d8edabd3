"""The int8 GRU/SimpleRNN data model: what the quantizer produces and the .tflite writer reads.

Kept apart from both (convert/rnn_quant.py computes it, convert/rnn_tflite.py serializes it) so
neither imports the other; the scheme is docs/int8-gru-rnn.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CUSTOM_GRU = "TINYRNN_GRU"
CUSTOM_RNN = "TINYRNN_RNN"
GATE_SCALE = 2.0 ** -12   # gate pre-activations: int16 Q3.12, like TFLM's LSTM
ACT_SCALE = 2.0 ** -15    # sigmoid / tanh outputs and the GRU's int16 state: Q0.15
SCHEME_VERSION = 1


class RecurrentQuantError(ValueError):
    """The model or its calibration data cannot be quantized by this scheme."""


@dataclass(frozen=True)
class QParams:
    scale: float
    zero_point: int


@dataclass
class RecurrentLayerQ:
    """One quantized recurrent layer, in the layout stored in the custom-op .tflite.

    Gate order g: GRU (z, r, h) as Keras stores them; RNN a single gate.
    ``w_in[g]`` is [units, input_size] (row j = output unit j), ``w_rec[g]`` [units, units].
    ``b_in`` holds the input-side biases at ``input.scale * w_in_scale[g]`` (no zero-point terms
    folded in: the compiler does that, as TFLM kernels do in Prepare); ``b_rec`` the GRU's
    recurrent biases at ``hidden.scale * w_rec_scale[g]`` (Keras ``reset_after=True`` only).
    """

    cell: str                     # "gru" or "rnn"
    reset_after: bool
    return_sequences: bool
    input: QParams                # int8 input of the layer
    hidden: QParams               # int8 hidden output / recurrent operand (zero point 0)
    w_in: np.ndarray              # int8 [G, units, input_size]
    w_in_scale: tuple[float, ...]
    w_rec: np.ndarray             # int8 [G, units, units]
    w_rec_scale: tuple[float, ...]
    b_in: np.ndarray              # int32 [G, units]
    b_rec: np.ndarray | None      # int32 [G, units] or None
    state_bits: int = 16

    @property
    def gates(self) -> int:
        return self.w_in.shape[0]

    @property
    def units(self) -> int:
        return self.w_in.shape[1]

    @property
    def input_size(self) -> int:
        return self.w_in.shape[2]

    @property
    def custom_code(self) -> str:
        return CUSTOM_GRU if self.cell == "gru" else CUSTOM_RNN


@dataclass
class DenseQ:
    """int8 FULLY_CONNECTED (per-channel weights), TFLite semantics."""

    input: QParams
    output: QParams
    weights: np.ndarray           # int8 [out, in]
    w_scale: tuple[float, ...]    # per output channel
    bias: np.ndarray              # int32 [out] at input.scale * w_scale[o]
    softmax: bool                 # followed by an int8 SOFTMAX (1/256, -128)


@dataclass
class QuantizedModel:
    steps: int
    channels: int
    input: QParams
    layers: list[RecurrentLayerQ]
    head: DenseQ
    name: str = "model"

    @property
    def output(self) -> QParams:
        return QParams(1.0 / 256.0, -128) if self.head.softmax else self.head.output
