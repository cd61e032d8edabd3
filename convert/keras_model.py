"""A user's Keras recurrent classifier (tf_keras or Keras 3) read into one plain description.

Both Kerases store the recurrent weights the same way (kernel [in, G*units], recurrent kernel
[units, G*units], bias [G*units], or [2, G*units] for a GRU with reset_after=True; gate order
LSTM i, f, c, o; GRU z, r, h), so one reader serves both: it walks the layers, refuses what the
int8 runtimes cannot run with a message naming the layer, its type and what is supported, and
returns a FloatModel (numpy float32 weights). Layers are recognised by their exact Keras class
(a subclass may change ``call``, so it is refused). No Keras import happens here except in
``to_tf_keras``, which rebuilds the model as a tf_keras model (the only LSTM TF 2.21 fuses).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyrnn.convert.rnn_int8 import RecurrentQuantError

CELL_OF_LAYER = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "rnn"}
GATES = {"lstm": 4, "gru": 3, "rnn": 1}
# Identity at inference: Keras applies them only when training=True.
INFERENCE_NO_OPS = ("Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout",
                    "AlphaDropout", "ActivityRegularization", "Identity", "InputLayer")
SUPPORTED = (
    "supported: a [steps, channels] float input, then LSTM, GRU (reset_after True or False) or "
    "SimpleRNN layers of one cell type (tanh activation, sigmoid recurrent activation, with bias; "
    "stacked layers return_sequences=True except the last, which returns its last state), then "
    "one Dense head (softmax or linear, optionally followed by Activation('softmax') or Softmax); "
    f"inference no-ops ({', '.join(INFERENCE_NO_OPS[:-1])}) are skipped")


class KerasModelError(RecurrentQuantError):
    """The Keras model has a layer or setting the int8 runtimes cannot run."""


@dataclass
class FloatLayer:
    cell: str                     # "lstm", "gru" or "rnn"
    reset_after: bool
    return_sequences: bool
    kernel: np.ndarray            # [input_size, G*units] (Keras layout)
    recurrent: np.ndarray         # [units, G*units]
    bias: np.ndarray              # [G*units] or [2, G*units] (GRU reset_after)
    name: str = ""

    @property
    def units(self) -> int:
        return self.recurrent.shape[0]

    @property
    def input_size(self) -> int:
        return self.kernel.shape[0]


@dataclass
class FloatModel:
    steps: int
    channels: int
    layers: list[FloatLayer]
    dense_w: np.ndarray           # [units, K] (Keras layout)
    dense_b: np.ndarray           # [K]
    softmax: bool
    keras: str = ""               # "tf_keras" or "keras" (3), where the model came from

    @property
    def cell(self) -> str:
        return self.layers[0].cell

    @property
    def num_classes(self) -> int:
        return self.dense_w.shape[1]

    @property
    def params(self) -> int:
        """Weights and biases, counted from the arrays (what Keras' count_params says)."""
        return sum(la.kernel.size + la.recurrent.size + la.bias.size for la in self.layers) \
            + self.dense_w.size + self.dense_b.size


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def float_layer_forward(layer: FloatLayer, x: np.ndarray) -> np.ndarray:
    """Keras semantics on a batch [N, T, n] -> all hidden states [N, T, units] (float64)."""
    n, steps, _ = x.shape
    u = layer.units
    h = np.zeros((n, u))
    c = np.zeros((n, u))
    out = np.zeros((n, steps, u))
    k = layer.kernel.astype(np.float64)
    r_k = layer.recurrent.astype(np.float64)
    b = layer.bias.astype(np.float64)
    for t in range(steps):
        xt = x[:, t, :]
        if layer.cell == "rnn":
            h = np.tanh(xt @ k + b + h @ r_k)
        elif layer.cell == "lstm":
            zi, zf, zc, zo = np.split(xt @ k + h @ r_k + b, 4, axis=1)
            c = _sigmoid(zf) * c + _sigmoid(zi) * np.tanh(zc)
            h = _sigmoid(zo) * np.tanh(c)
        else:
            b_in, b_rec = (b[0], b[1]) if layer.reset_after else (b, np.zeros_like(b))
            xz, xr, xh = np.split(xt @ k + b_in, 3, axis=1)
            if layer.reset_after:
                hz, hr, hh = np.split(h @ r_k + b_rec, 3, axis=1)
                z, r = _sigmoid(xz + hz), _sigmoid(xr + hr)
                cand = np.tanh(xh + r * hh)
            else:
                hz, hr = np.split(h @ r_k[:, :2 * u], 2, axis=1)
                z, r = _sigmoid(xz + hz), _sigmoid(xr + hr)
                cand = np.tanh(xh + (r * h) @ r_k[:, 2 * u:])
            h = z * h + (1.0 - z) * cand
        out[:, t] = h
    return out


def float_forward(model: FloatModel, x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """(hidden sequences of every layer, logits) for windows [N, T, C]."""
    seqs = []
    y = np.asarray(x, np.float64)
    for layer in model.layers:
        y = float_layer_forward(layer, y)
        seqs.append(y)
    logits = seqs[-1][:, -1, :] @ model.dense_w.astype(np.float64) + model.dense_b
    return seqs, logits


def float_probabilities(model: FloatModel, x: np.ndarray) -> np.ndarray:
    """The model's output (softmax probabilities or logits) in numpy float64."""
    logits = float_forward(model, x)[1]
    if not model.softmax:
        return logits
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def check_windows(x, steps: int, channels: int, what: str = "calibration windows") -> np.ndarray:
    """float32 [N, steps, channels], finite, at least one window; else a clear error."""
    arr = np.asarray(x)
    if arr.ndim == 2 and arr.shape == (steps, channels):
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1:] != (steps, channels) or len(arr) == 0:
        raise RecurrentQuantError(
            f"{what} must be an array [N, {steps}, {channels}] (N >= 1 windows of the model's "
            f"input shape), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number):
        raise RecurrentQuantError(f"{what} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        bad = int(np.sum(~np.isfinite(arr).all(axis=(1, 2))))
        raise RecurrentQuantError(f"{what} contain NaN or inf in {bad} of {len(arr)} windows: "
                                  "drop or repair those windows")
    return arr


# ---- reading a Keras model -----------------------------------------------------------------

def _kind(layer) -> tuple[str, str]:
    """(Keras flavour, exact class name); flavour '' for a class not defined by a Keras."""
    cls = type(layer)
    root = cls.__module__.split(".")[0]
    return (root if root in ("keras", "tf_keras") else ""), cls.__name__


def _refuse(layer, why: str) -> KerasModelError:
    return KerasModelError(f"layer {layer.name!r} ({type(layer).__name__}): {why}. {SUPPORTED}")


def _input_shape(model) -> tuple[int, int]:
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        raise KerasModelError("the model has no defined input: build it with "
                              "keras.Input((steps, channels)) (or call it once on a batch)")
    if len(inputs) != 1 or len(model.outputs) != 1:
        raise KerasModelError(f"the model has {len(inputs)} inputs and {len(model.outputs)} "
                              f"outputs; {SUPPORTED}")
    shape = tuple(inputs[0].shape)
    if len(shape) != 3 or shape[1] is None or shape[2] is None:
        raise KerasModelError(f"model input must be [batch, steps, channels] with fixed steps and "
                              f"channels, got {shape}")
    return int(shape[1]), int(shape[2])


def _recurrent(layer, cell: str) -> FloatLayer:
    cfg = layer.get_config()
    if cfg.get("activation") != "tanh":
        raise _refuse(layer, f"activation {cfg.get('activation')!r}; the int8 kernels implement "
                             "tanh")
    if cell != "rnn" and cfg.get("recurrent_activation") != "sigmoid":
        raise _refuse(layer, f"recurrent_activation {cfg.get('recurrent_activation')!r}; the int8 "
                             "kernels implement sigmoid")
    if not cfg.get("use_bias", True):
        raise _refuse(layer, "use_bias=False is not supported")
    for opt in ("go_backwards", "stateful", "return_state", "time_major"):
        if cfg.get(opt):
            raise _refuse(layer, f"{opt}=True is not supported")
    weights = [np.asarray(w, np.float32) for w in layer.get_weights()]
    if len(weights) != 3:
        raise _refuse(layer, f"expected kernel, recurrent kernel and bias, found {len(weights)} "
                             "weight arrays")
    kernel, recurrent, bias = weights
    reset_after = cell == "gru" and bool(cfg.get("reset_after", False))
    return FloatLayer(cell, reset_after, bool(cfg.get("return_sequences")), kernel, recurrent,
                      bias, layer.name)


def read_keras_model(model) -> FloatModel:
    """Read a tf_keras or Keras 3 recurrent classifier; KerasModelError for anything else."""
    steps, channels = _input_shape(model)
    layers: list[FloatLayer] = []
    dense: tuple | None = None
    softmax = False
    flavours: set[str] = set()
    for layer in model.layers:
        flavour, kind = _kind(layer)
        if not flavour:
            raise _refuse(layer, "not a Keras built-in layer class (subclasses are refused: their "
                                 "call() may differ)")
        flavours.add(flavour)
        cfg = layer.get_config()
        if kind in INFERENCE_NO_OPS or (kind == "Activation" and cfg.get("activation") == "linear"):
            continue
        if kind in CELL_OF_LAYER:
            if dense is not None:
                raise _refuse(layer, "a recurrent layer after the Dense head")
            fl = _recurrent(layer, CELL_OF_LAYER[kind])
            if layers and fl.cell != layers[0].cell:
                raise _refuse(layer, f"a {kind} stacked on {layers[0].cell.upper()} layers; all "
                                     "recurrent layers must be one cell type")
            if layers and not layers[-1].return_sequences:
                raise _refuse(layer, f"the layer below ({layers[-1].name!r}) returns only its last "
                                     "state; stacked layers need return_sequences=True")
            layers.append(fl)
        elif kind == "Dense":
            if not layers:
                raise _refuse(layer, "a Dense layer before any recurrent layer")
            if dense is not None:
                raise _refuse(layer, "a second Dense layer; only one Dense head is supported")
            act = cfg.get("activation")
            if act not in ("softmax", "linear"):
                raise _refuse(layer, f"head activation {act!r}; need softmax or linear")
            w = layer.get_weights()
            kernel = np.asarray(w[0], np.float32)
            bias = np.asarray(w[1], np.float32) if len(w) > 1 else \
                np.zeros(kernel.shape[1], np.float32)
            dense = (kernel, bias)
            softmax = act == "softmax"
        elif (kind == "Activation" and cfg.get("activation") == "softmax") or kind == "Softmax":
            if dense is None or softmax:
                raise _refuse(layer, "softmax is supported once, right after the Dense head")
            if kind == "Softmax" and cfg.get("axis", -1) not in (-1, [-1], 1, [1]):
                raise _refuse(layer, f"softmax over axis {cfg.get('axis')}; need the last axis")
            softmax = True
        else:
            raise _refuse(layer, "layer type not supported")
    if not layers or dense is None:
        raise KerasModelError(f"model {model.name!r} needs at least one recurrent layer and a "
                              f"Dense head; {SUPPORTED}")
    if layers[-1].return_sequences:
        raise KerasModelError(
            f"layer {layers[-1].name!r} ({type_name(layers[-1])}): the last recurrent layer has "
            "return_sequences=True; the head must read the last state only (set "
            f"return_sequences=False; pooling over time is not supported). {SUPPORTED}")
    if len(flavours) > 1:
        raise KerasModelError("the model mixes tf_keras and Keras 3 layers")
    return FloatModel(steps, channels, layers, dense[0], dense[1], softmax, flavours.pop())


def type_name(layer: FloatLayer) -> str:
    return {v: k for k, v in CELL_OF_LAYER.items()}[layer.cell]


def to_tf_keras(fm: FloatModel, batch_size: int | None = 1):
    """The same network as a tf_keras model (batch 1: the fixed shape the converter fuses)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tf_keras as keras

    classes = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "rnn": keras.layers.SimpleRNN}
    inp = keras.Input((fm.steps, fm.channels), batch_size=batch_size, name="window")
    x = inp
    weights: list[np.ndarray] = []
    for i, la in enumerate(fm.layers):
        extra = {"reset_after": la.reset_after} if la.cell == "gru" else {}
        x = classes[la.cell](la.units, return_sequences=la.return_sequences,
                             name=f"{la.cell}{i}", **extra)(x)
        weights += [la.kernel, la.recurrent, la.bias]
    out = keras.layers.Dense(fm.num_classes, activation="softmax" if fm.softmax else "linear",
                             name="head")(x)
    model = keras.Model(inp, out, name=f"{fm.cell}_classifier")
    model.set_weights([*weights, fm.dense_w, fm.dense_b])
    return model
