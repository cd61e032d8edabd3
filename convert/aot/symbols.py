"""The external names of one generated model: functions, arrays, macros, header guard and files.

Every name a generated model exports starts with its symbol prefix, so models compiled with
different prefixes link into one program (and their headers can share a translation unit). The
default prefix gives the names the firmware harness codes against (tinyrnn_model.h,
tinyrnn_model_invoke, TINYRNN_MODEL_STEPS, ...). Names that are ``static`` in the generated .c
(weights, descriptors, state, arena) have internal linkage and need no prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import AotError

DEFAULT_PREFIX = "tinyrnn_model"
_VALID = re.compile(r"[a-z][a-z0-9_]{0,39}")


@dataclass(frozen=True)
class Symbols:
    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        p = self.prefix
        if not _VALID.fullmatch(p) or p.endswith("_") or "__" in p:
            raise AotError(
                f"symbol prefix {p!r} is not usable: give a lower-case C identifier of at most "
                "40 characters (letters, digits, single underscores, starting with a letter, "
                "e.g. 'gesture_model')")
        # The runtime owns tinyrnn_* (tinyrnn_lstm_step, ...): a model prefix there could clash.
        if p != DEFAULT_PREFIX and (p == "tinyrnn" or p.startswith("tinyrnn_")):
            raise AotError(f"symbol prefix {p!r} collides with the runtime's tinyrnn_ names: "
                           "choose a prefix of your own (e.g. 'gesture_model')")

    def fn(self, name: str) -> str:
        """A function or array: ``<prefix>_<name>``."""
        return f"{self.prefix}_{name}"

    def macro(self, name: str) -> str:
        """A macro: ``<PREFIX>_<NAME>``."""
        return f"{self.prefix.upper()}_{name}"

    @property
    def guard(self) -> str:
        return f"{self.prefix.upper()}_H"

    @property
    def header(self) -> str:
        return f"{self.prefix}.h"

    @property
    def source(self) -> str:
        return f"{self.prefix}.c"


DEFAULT_SYMBOLS = Symbols()


def prefix_for(name: str) -> str:
    """A valid symbol prefix derived from a model name ("watch-lstm-u32-s0" ->
    "watch_lstm_u32_s0"): lower case, runs of other characters become one underscore."""
    p = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if not p or not p[0].isalpha() or p == "tinyrnn" or p.startswith("tinyrnn_"):
        p = f"m_{p}".rstrip("_")
    return p[:40].rstrip("_")
