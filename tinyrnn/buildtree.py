"""Where every artifact lives, and how it is written so a failed step never destroys a result.

Layout (all under one git-ignored root, default ``build/``)::

    build/models/<model name>/      one folder per trained model
        model.keras                 trained tf_keras model
        config.json                 data set, cell, units, layers, seed, epochs asked for
        normalization.json          per-channel mean/std fitted on the training split
        history.json, metrics.json  training curves and final float accuracy
        float.tflite, int8.tflite   conversions (int8 only where TF can make it)
        conversion.json             what each conversion produced or why it failed
        card.json                   model card: params, bytes, ops, MACs, TFLM arena
        evaluation.json             accuracy of every runtime and their agreement
        tflm/                       TFLite Micro C arrays (model_data.h/.cc)
    build/report/                   report.md and its PNG plots
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

DEFAULT_ROOT = Path(os.environ.get("TINYRNN_BUILD", "build"))


def models_dir(root: Path = DEFAULT_ROOT) -> Path:
    return root / "models"


def model_dir(name: str, root: Path = DEFAULT_ROOT) -> Path:
    return models_dir(root) / name


def report_dir(root: Path = DEFAULT_ROOT) -> Path:
    return root / "report"


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename: readers see old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
