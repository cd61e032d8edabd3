"""tinyrnn C for a trained model folder: the deployable int8 model, its normalization and classes.

The one path from build/models/<name>/ to <name>/tinyrnn/, shared by ``tinyrnn compile``,
``tinyrnn quantize-rnn --compile`` and the pipeline's compile step.
"""

from __future__ import annotations

from pathlib import Path

from tinyrnn.convert.aot.compiler import CompileSummary, compile_model, sanitize_name
from tinyrnn.convert.aot.errors import AotError
from tinyrnn.convert.aot.symbols import DEFAULT_PREFIX
from tinyrnn.core.buildtree import ModelFolder, read_json


def compile_model_folder(model_dir: Path, out: Path | None = None, name: str | None = None,
                         normalization: dict | None = None,
                         class_names: list[str] | None = None,
                         symbol_prefix: str = DEFAULT_PREFIX) -> CompileSummary:
    folder = ModelFolder(Path(model_dir))
    tflite = folder.deployable_tflite()
    if tflite is None:
        raise AotError(f"{folder.path} has no int8_custom.tflite nor int8.tflite: run `tinyrnn "
                       "convert` (and `tinyrnn quantize-rnn` for a GRU or SimpleRNN) first")
    if normalization is None and folder.normalization_json.is_file():
        normalization = folder.normalization()
    if class_names is None and folder.config_json.is_file():
        class_names = read_json(folder.config_json).get("class_names")
    return compile_model(tflite, out or folder.tinyrnn_dir, name=name or sanitize_name(folder.name),
                         normalization=normalization, class_names=class_names,
                         symbol_prefix=symbol_prefix)
