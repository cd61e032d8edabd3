"""Gate-bias initialisations for long memory, applied to a freshly built classifier.

``default``: Keras' own (LSTM forget-gate bias 1 via ``unit_forget_bias``, other biases 0; the
GRU's update gate then starts at sigmoid(0) = 0.5, so at initialisation the state decays as
0.5^t). ``chrono`` (Tallec & Ollivier, "Can recurrent neural networks warp time?", ICLR 2018):
for sequences of up to T steps, draw b ~ log(U[1, T - 1]) per unit and set
  LSTM: forget bias = b, input bias = -b;
  GRU:  update-gate (z) bias = b (Keras keeps the old state with weight z: h = z h' + (1-z) h~),
so units start with memory time constants spread from 1 to ~T steps. SimpleRNN has no gates
and is left as Keras makes it.
"""

from __future__ import annotations

import numpy as np

INITS = ("default", "chrono")


def check_init(init: str) -> str:
    if init not in INITS:
        raise ValueError(f"unknown initialisation {init!r}; choose one of {', '.join(INITS)}")
    return init


def chrono_biases(units: int, t_max: int, rng: np.random.Generator) -> np.ndarray:
    if t_max < 3:
        raise ValueError(f"chrono initialisation needs sequences of at least 3 steps, got {t_max}")
    return np.log(rng.uniform(1.0, t_max - 1.0, size=units)).astype(np.float32)


def apply_init(model, cell: str, init: str, t_max: int, seed: int) -> dict:
    """Set the gate biases of every recurrent layer ``<cell><i>``; returns what was done."""
    check_init(init)
    if init == "default" or cell == "rnn":
        return {"init": init, "changed": []}
    rng = np.random.default_rng(seed)
    changed = []
    for layer in model.layers:
        if not layer.name.startswith(cell) or not hasattr(layer, "cell"):
            continue
        u = layer.cell.units
        bias = layer.cell.bias.numpy()
        b = chrono_biases(u, t_max, rng)
        if cell == "lstm":  # Keras gate order i, f, c, o
            bias[u:2 * u] = b
            bias[:u] = -b
        else:  # GRU gate order z, r, h; reset_after keeps (input, recurrent) bias rows
            if bias.ndim == 2:
                bias[0, :u] = b
                bias[1, :u] = 0.0
            else:
                bias[:u] = b
        layer.cell.bias.assign(bias)
        changed.append(layer.name)
    return {"init": init, "t_max": t_max, "changed": changed}
