"""The host runtimes a model is evaluated on, behind one small interface.

Each runner takes float windows (already normalized), quantizes them if its model is int8, runs
one window per invoke with the recurrent state reset in between (the fused LSTM keeps h and c
in variable tensors across invokes), and returns raw outputs (int8 stays int8).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyrnn.core.quantization import quantize

Progress = Callable[[int, int], None]


@dataclass
class RunOutput:
    raw: np.ndarray          # [N, K] as the runtime produced it (int8 or float32)
    probs: np.ndarray        # [N, K] float, dequantized where needed
    input_quant: tuple[float, int] | None
    output_quant: tuple[float, int] | None


def _quant_of(details: dict) -> tuple[float, int] | None:
    scale, zp = details.get("quantization", (0.0, 0))
    return (float(scale), int(zp)) if scale else None


def _prepare(x: np.ndarray, quant: tuple[float, int] | None, dtype) -> np.ndarray:
    return quantize(x, *quant, dtype=dtype) if quant else x.astype(np.float32)


def _dequant(raw: np.ndarray, quant: tuple[float, int] | None) -> np.ndarray:
    if quant is None:
        return raw.astype(np.float32)
    return (raw.astype(np.float32) - quant[1]) * quant[0]


def run_litert(path: Path, x: np.ndarray, progress: Progress | None = None) -> RunOutput:
    """TFLite's own interpreter (ai-edge-litert), one window per invoke."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path), num_threads=1)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    qin, qout = _quant_of(inp), _quant_of(out)
    xs = _prepare(x, qin, inp["dtype"])
    raws = []
    for i, window in enumerate(xs):
        interp.reset_all_variables()
        interp.set_tensor(inp["index"], window[None])
        interp.invoke()
        raws.append(interp.get_tensor(out["index"])[0].copy())
        if progress and (i + 1) % 250 == 0:
            progress(i + 1, len(xs))
    raw = np.stack(raws)
    return RunOutput(raw, _dequant(raw, qout), qin, qout)


def _tflm_quant(details: dict) -> tuple[float, int] | None:
    q = details.get("quantization_parameters", {})
    scales = q.get("scales", [])
    return (float(scales[0]), int(q["zero_points"][0])) if len(scales) else None


def run_tflm(path: Path, x: np.ndarray, arena_bytes: int, progress: Progress | None = None
             ) -> RunOutput:
    """TFLite Micro's interpreter and reference kernels (tflite-micro), one window per invoke."""
    from tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(Path(path).read_bytes(), arena_size=arena_bytes)
    inp = interp.get_input_details(0)
    out = interp.get_output_details(0)
    qin, qout = _tflm_quant(inp), _tflm_quant(out)
    xs = _prepare(x, qin, inp["dtype"])
    raws = []
    for i, window in enumerate(xs):
        interp.reset()
        interp.set_input(window[None], 0)
        interp.invoke()
        raws.append(np.array(interp.get_output(0))[0].copy())
        if progress and (i + 1) % 250 == 0:
            progress(i + 1, len(xs))
    raw = np.stack(raws)
    return RunOutput(raw, _dequant(raw, qout), qin, qout)


def run_tinyrnn(c_dir: Path, x: np.ndarray, build_dir: Path, progress: Progress | None = None
                ) -> RunOutput:
    """The tinyrnn C the compiler generated, built for this host (bit-exact with the device)."""
    from tinyrnn.convert.aot.hostbuild import HostModel
    from tinyrnn.core.buildtree import read_json

    summary = read_json(Path(c_dir) / "summary.json")
    qin = (float(summary["input_scale"]), int(summary["input_zero_point"]))
    qout = (float(summary["output_scale"]), int(summary["output_zero_point"]))
    model = HostModel(Path(c_dir), Path(build_dir))
    xs = quantize(x, *qin)
    raws = []
    for i, window in enumerate(xs):
        raws.append(model.invoke(window))  # invoke starts from a fresh state by contract
        if progress and (i + 1) % 250 == 0:
            progress(i + 1, len(xs))
    raw = np.stack(raws)
    return RunOutput(raw, _dequant(raw, qout), qin, qout)
