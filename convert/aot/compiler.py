"""compile_model: .tflite -> folder of C files for the tinyrnn runtime, written atomically."""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from tinyrnn.core.buildtree import commit_folder

from .emit import emit
from .emit_rnn import emit_recurrent, is_recurrent_plan
from .errors import AotError, UnsupportedModelError
from .graph import read_tflite
from .plan import ModelPlan, lower
from .symbols import DEFAULT_PREFIX, Symbols

# Code of the runtime library plus a model's glue, arm-none-eabi-gcc 12 -Os -mcpu=cortex-m4
# (measured by bench.py: 2.7-3.0 KB with descriptors); added to the weights for a flash estimate.
RUNTIME_CODE_BYTES_ESTIMATE = 2700


@dataclass(frozen=True)
class CompileSummary:
    name: str
    out_dir: str
    steps: int
    channels: int
    classes: int
    lstm_layers: int
    units: tuple[int, ...]
    arena_bytes: int
    state_bytes: int
    weight_bytes: int
    macs: int
    flash_estimate_bytes: int

    @property
    def ram_bytes(self) -> int:
        return self.arena_bytes + self.state_bytes

    def one_line(self) -> str:
        return (f"{self.name}: RAM {self.ram_bytes} B (arena {self.arena_bytes} + state "
                f"{self.state_bytes}), flash ~{self.flash_estimate_bytes} B (weights "
                f"{self.weight_bytes}), {self.macs} MACs/inference -> {self.out_dir}")


def _check_meta(plan: ModelPlan, normalization: dict | None, class_names: Sequence[str] | None
                ) -> tuple[list[float], list[float], list[str]]:
    C, K = plan.channels, plan.output_size
    mean, std = [0.0] * C, [1.0] * C
    if normalization is not None:
        try:
            mean = [float(v) for v in normalization["mean"]]
            std = [float(v) for v in normalization["std"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise AotError(f"normalization must be {{'mean': [...], 'std': [...]}}: {exc}") from exc
        if len(mean) != C or len(std) != C:
            raise AotError(f"normalization has {len(mean)} means and {len(std)} stds; "
                           f"the model has {C} channels")
        if not all(math.isfinite(v) for v in mean + std) or any(s <= 0 for s in std):
            raise AotError("normalization values must be finite and every std > 0")
    names = [f"class_{i}" for i in range(K)]
    if class_names is not None:
        names = [str(n) for n in class_names]
        if len(names) != K:
            raise AotError(f"{len(names)} class names given; the model has {K} outputs")
    return mean, std, names


def _write_atomically(out_dir: Path, files: dict[str, str]) -> None:
    """The generated files appear together or not at all, and a previous folder stays whole
    until the new one replaces it (core/buildtree.py commit_folder)."""
    out_dir = out_dir.resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        for fname, text in sorted(files.items()):
            (tmp / fname).write_text(text, encoding="utf-8")
        commit_folder(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sanitize_name(name: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9_.-]", "_", name).strip("._-")
    return clean or "model"


def compile_model(tflite_path: Path, out_dir: Path, *, name: str,
                  normalization: dict | None = None,
                  class_names: list[str] | None = None,
                  symbol_prefix: str = DEFAULT_PREFIX) -> CompileSummary:
    """Compile an int8 LSTM/GRU/SimpleRNN .tflite into out_dir (<prefix>.h/.c, summary.json).

    ``symbol_prefix`` starts every external name of the generated model (symbols.py): the
    default gives tinyrnn_model.h, tinyrnn_model_invoke, TINYRNN_MODEL_STEPS, ... (what the
    firmware harness uses); models with different prefixes link into one program.

    Raises AotError (ModelFormatError, UnsupportedModelError, LimitError) with a message naming
    the problem; on any error nothing is left at out_dir (an earlier result stays untouched).
    """
    tflite_path = Path(tflite_path)
    symbols = Symbols(symbol_prefix)
    graph = read_tflite(tflite_path)
    plan = lower(graph)
    mean, std, names = _check_meta(plan, normalization, class_names)
    sha = hashlib.sha256(tflite_path.read_bytes()).hexdigest()
    try:
        if is_recurrent_plan(plan):  # GRU / SimpleRNN custom ops (convert/rnn_quant.py)
            emitted = emit_recurrent(plan, name=name, mean=mean, std=std, class_names=names,
                                     source_sha256=sha, symbols=symbols,
                                     has_normalization=normalization is not None)
        else:
            emitted = emit(plan, name=name, mean=mean, std=std, class_names=names,
                           source_sha256=sha, symbols=symbols,
                           has_normalization=normalization is not None)
    except ValueError as exc:
        raise UnsupportedModelError(str(exc)) from exc
    summary = CompileSummary(
        name=name, out_dir=str(out_dir), steps=plan.steps, channels=plan.channels,
        classes=plan.output_size, lstm_layers=len(plan.layers),
        units=tuple(layer.units for layer in plan.layers),
        arena_bytes=emitted.arena_bytes, state_bytes=emitted.state_bytes,
        weight_bytes=emitted.weight_bytes, macs=emitted.macs,
        flash_estimate_bytes=emitted.weight_bytes + emitted.descriptor_bytes
        + RUNTIME_CODE_BYTES_ESTIMATE,
    )
    info = asdict(summary)
    info.pop("out_dir")
    info["units"] = list(summary.units)
    info["source_sha256"] = sha
    info["input_scale"] = plan.input_scale
    info["input_zero_point"] = plan.input_zp
    info["output_scale"] = plan.output_scale
    info["output_zero_point"] = plan.output_zp
    info["symbol_prefix"] = symbols.prefix
    info["weight_padding_bytes"] = emitted.weight_padding_bytes
    info["weight_padding_by_array"] = emitted.weight_padding_by_array
    info["header"] = symbols.header
    info["source"] = symbols.source
    info["has_normalization"] = normalization is not None
    # Every compile input is recorded, so the same C can be made again from this file alone
    # (compile_folder.recompile_inputs: device step, harness copy of a prefixed model).
    info["normalization"] = {"mean": mean, "std": std} if normalization is not None else None
    info["class_names"] = names
    info["contract"] = "invoke = reset + step over every frame; step keeps state"
    files = dict(emitted.files)
    files["summary.json"] = json.dumps(info, indent=2, sort_keys=True) + "\n"
    _write_atomically(Path(out_dir), files)
    return summary
