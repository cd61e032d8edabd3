"""Ahead-of-time compiler from int8 TFLite LSTM classifiers to dependency-free C99.

Public entry points: compile_model() and CompileSummary (compiler.py), and the host build of the
generated C in hostbuild.py.
"""

from .compiler import CompileSummary, compile_model
from .errors import AotError, LimitError, ModelFormatError, UnsupportedModelError

__all__ = [
    "AotError",
    "CompileSummary",
    "LimitError",
    "ModelFormatError",
    "UnsupportedModelError",
    "compile_model",
]
