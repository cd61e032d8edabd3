"""Ahead-of-time compiler from int8 TFLite LSTM classifiers to dependency-free C99.

Public entry points: compile_model() and CompileSummary (compiler.py), register() which adds the
``compile`` and ``bench-aot`` subcommands to an argparse CLI (cli.py), and the host build of the
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
    "register",
]


def register(subparsers) -> None:
    from .cli import register as _register

    _register(subparsers)
