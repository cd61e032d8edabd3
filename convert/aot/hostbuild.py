"""Build generated model C plus the tinyrnn runtime with the host gcc and run it from Python.

HostModel loads a shared library through ctypes; build_executable() makes a stand-alone
program (used for -fsanitize=address,undefined runs, which cannot be loaded into Python).
Builds are cached by a hash of sources and flags, so repeated test runs do not recompile.
"""

from __future__ import annotations

import ctypes
import hashlib
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tinyrnn.core.buildtree import commit, temp_path, write_text_atomic
from tinyrnn.core.resources import runtime_src_dir

from .errors import AotError

RUNTIME_SRC = runtime_src_dir()
WARNINGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic")

_MAIN = r"""
/* Host harness: reads windows of TINYRNN_MODEL_INPUT_SIZE int8 from stdin; for each writes
 * invoke()'s output, then the output of step() after every frame of the same window. */
#include <stdio.h>
#include "tinyrnn_model.h"

int main(void) {
  static int8_t window[TINYRNN_MODEL_INPUT_SIZE];
  static int8_t out[TINYRNN_MODEL_OUTPUT_SIZE];
  int t;
  if (tinyrnn_model_init() != 0) return 2;
  while (fread(window, 1, sizeof window, stdin) == sizeof window) {
    if (tinyrnn_model_invoke(window, out) != 0) return 3;
    fwrite(out, 1, sizeof out, stdout);
    tinyrnn_model_reset();
    for (t = 0; t < TINYRNN_MODEL_STEPS; ++t) {
      if (tinyrnn_model_step(window + t * TINYRNN_MODEL_CHANNELS, out) != 0) return 4;
      fwrite(out, 1, sizeof out, stdout);
    }
  }
  return 0;
}
"""


def _sources(model_dir: Path, extra: Sequence[Path] = ()) -> list[Path]:
    return sorted(RUNTIME_SRC.glob("*.c")) + sorted(Path(model_dir).glob("*.c")) + list(extra)


def _key(paths: Sequence[Path], flags: Sequence[str]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    for p in sorted(RUNTIME_SRC.glob("*.h")):
        h.update(p.read_bytes())
    h.update("\0".join(flags).encode())
    return h.hexdigest()[:16]


def _gcc(args: list[str]) -> None:
    cc = shutil.which("gcc")
    if cc is None:
        raise AotError("host build needs gcc on PATH")
    proc = subprocess.run([cc, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise AotError(f"gcc failed ({' '.join(args[-3:])}):\n{proc.stderr[-4000:]}")


def build_shared(model_dir: Path, build_dir: Path, *, opt: str = "-O3",
                 cflags: Sequence[str] = ()) -> Path:
    model_dir = Path(model_dir)
    srcs = _sources(model_dir)
    flags = [*WARNINGS, opt, "-fPIC", "-shared", *cflags]
    lib = Path(build_dir) / f"libtinyrnn_{_key(srcs, flags)}.so"
    if not lib.exists():
        lib.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_path(lib)  # a killed gcc leaves a hidden temporary, never a half library
        _gcc([*flags, f"-I{RUNTIME_SRC}", f"-I{model_dir}", *map(str, srcs), "-o", str(tmp)])
        commit(tmp, lib)
    return lib


def build_executable(model_dir: Path, build_dir: Path, *, opt: str = "-O1",
                     cflags: Sequence[str] = ()) -> Path:
    model_dir = Path(model_dir)
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    main = build_dir / "tinyrnn_host_main.c"
    if not main.exists() or main.read_text() != _MAIN:
        write_text_atomic(main, _MAIN)
    srcs = _sources(model_dir, [main])
    flags = [*WARNINGS, opt, "-g", *cflags]
    exe = build_dir / f"tinyrnn_host_{_key(srcs, flags)}"
    if not exe.exists():
        tmp = temp_path(exe)
        _gcc([*flags, f"-I{RUNTIME_SRC}", f"-I{model_dir}", *map(str, srcs), "-o", str(tmp)])
        commit(tmp, exe)
    return exe


def _header_int(header: str, macro: str) -> int:
    m = re.search(rf"#define {macro} (-?\d+)", header)
    if m is None:
        raise AotError(f"{macro} missing from tinyrnn_model.h")
    return int(m.group(1))


class HostModel:
    """A compiled model loaded into this process. Methods mirror the C API."""

    def __init__(self, model_dir: Path, build_dir: Path, *, opt: str = "-O3",
                 cflags: Sequence[str] = ()) -> None:
        header = (Path(model_dir) / "tinyrnn_model.h").read_text()
        self.steps = _header_int(header, "TINYRNN_MODEL_STEPS")
        self.channels = _header_int(header, "TINYRNN_MODEL_CHANNELS")
        self.output_size = _header_int(header, "TINYRNN_MODEL_OUTPUT_SIZE")
        self.path = build_shared(model_dir, build_dir, opt=opt, cflags=cflags)
        self._lib = ctypes.CDLL(str(self.path))
        i8p = ctypes.POINTER(ctypes.c_int8)
        for fn in ("tinyrnn_model_invoke", "tinyrnn_model_step"):
            getattr(self._lib, fn).argtypes = [i8p, i8p]
            getattr(self._lib, fn).restype = ctypes.c_int
        self._lib.tinyrnn_model_init.restype = ctypes.c_int
        self._out = np.zeros(self.output_size, np.int8)
        self._out_ptr = self._out.ctypes.data_as(i8p)
        self._i8p = i8p
        if self._lib.tinyrnn_model_init() != 0:
            raise AotError("tinyrnn_model_init failed")

    def init(self) -> int:
        return int(self._lib.tinyrnn_model_init())

    def reset(self) -> None:
        self._lib.tinyrnn_model_reset()

    def invoke(self, window: np.ndarray) -> np.ndarray:
        w = np.ascontiguousarray(window, dtype=np.int8).reshape(-1)
        if w.size != self.steps * self.channels:
            raise ValueError(f"window has {w.size} values, model wants "
                             f"{self.steps}x{self.channels}")
        if self._lib.tinyrnn_model_invoke(w.ctypes.data_as(self._i8p), self._out_ptr) != 0:
            raise AotError("tinyrnn_model_invoke failed")
        return self._out.copy()

    def step(self, frame: np.ndarray) -> np.ndarray:
        f = np.ascontiguousarray(frame, dtype=np.int8).reshape(-1)
        if f.size != self.channels:
            raise ValueError(f"frame has {f.size} values, model wants {self.channels}")
        if self._lib.tinyrnn_model_step(f.ctypes.data_as(self._i8p), self._out_ptr) != 0:
            raise AotError("tinyrnn_model_step failed")
        return self._out.copy()

    def invoke_fn(self):
        """Return f(window_ptr) with minimal ctypes overhead, for timing loops."""
        fn = self._lib.tinyrnn_model_invoke
        out = self._out_ptr
        i8p = self._i8p

        def call(window: np.ndarray) -> int:
            return fn(window.ctypes.data_as(i8p), out)

        return call
