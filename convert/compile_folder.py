"""tinyrnn C for a trained model folder: the deployable int8 model, its normalization and classes.

The one path from build/models/<name>/ to <name>/tinyrnn/, shared by ``tinyrnn compile``,
``tinyrnn quantize-rnn --compile``, the pipeline's compile step and the Python API; plus the
default-prefix copy the firmware harness and the host build need when tinyrnn/ was compiled with a
symbol prefix of the user's (``harness_c``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tinyrnn.convert.aot.compiler import CompileSummary, compile_model, sanitize_name
from tinyrnn.convert.aot.errors import AotError
from tinyrnn.convert.aot.symbols import DEFAULT_PREFIX
from tinyrnn.core.buildtree import ModelFolder, read_json

SUMMARY = "summary.json"


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
    if not folder.config_json.is_file():
        # No training config (a Python API folder): what tinyrnn/ was compiled with stands in.
        recorded = recompile_inputs(folder.tinyrnn_dir)
        if normalization is None and not folder.normalization_json.is_file():
            normalization = recorded.get("normalization")
        class_names = recorded.get("class_names") if class_names is None else class_names
        name = name or recorded.get("name")
    return compile_model(tflite, out or folder.tinyrnn_dir, name=name or sanitize_name(folder.name),
                         normalization=normalization, class_names=class_names,
                         symbol_prefix=symbol_prefix)


def recompile_inputs(c_dir: Path) -> dict:
    """The keyword arguments ``c_dir`` was compiled with, from its summary.json ({} when it has
    none or predates the recorded inputs: the folder's own files then decide, as for a first
    compile)."""
    path = Path(c_dir) / SUMMARY
    if not path.is_file():
        return {}
    s = read_json(path)
    if "class_names" not in s:
        return {"name": s["name"]} if "name" in s else {}
    return {"name": s["name"], "normalization": s["normalization"],
            "class_names": s["class_names"],
            "symbol_prefix": s.get("symbol_prefix", DEFAULT_PREFIX)}


def recompile_model_folder(model_dir: Path) -> CompileSummary:
    """tinyrnn/ compiled again from the deployable model with the inputs it was compiled with
    (name, prefix, class names, normalization), so today's compiler emits it."""
    folder = ModelFolder(Path(model_dir))
    return compile_model_folder(folder.path, **recompile_inputs(folder.tinyrnn_dir))


def harness_c(model_dir: Path) -> Path:
    """The folder's tinyrnn C with the default symbol prefix, which the firmware harness and the
    host build (convert/aot/hostbuild.py) code against: tinyrnn/ itself, or, when it carries a
    prefix of the user's, the same model compiled into tinyrnn-harness/ (same weights, name,
    classes and normalization; only the external names differ)."""
    folder = ModelFolder(Path(model_dir))
    inputs = recompile_inputs(folder.tinyrnn_dir)
    if inputs.get("symbol_prefix", DEFAULT_PREFIX) == DEFAULT_PREFIX:
        return folder.tinyrnn_dir
    out = folder.harness_c_dir
    tflite = folder.deployable_tflite()
    if tflite is None:
        raise AotError(f"{folder.path} has no int8_custom.tflite nor int8.tflite to compile")
    sha = hashlib.sha256(tflite.read_bytes()).hexdigest()
    wanted = {**inputs, "symbol_prefix": DEFAULT_PREFIX}
    if not ((out / SUMMARY).is_file() and read_json(out / SUMMARY).get("source_sha256") == sha
            and recompile_inputs(out) == wanted):
        compile_model_folder(folder.path, out, **wanted)
    return out
