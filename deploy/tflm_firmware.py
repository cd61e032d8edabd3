"""Firmware running a ``.tflite`` on TensorFlow Lite Micro on an emulated board.

Backends (``tinyrnn device eval MODEL --backend ...``):

* ``tinyrnn``: the model compiled to tinyrnn C (deploy/firmware.py as before);
* ``tflm``: TFLM with its reference kernels;
* ``tflm-cmsis-nn``: TFLM with the CMSIS-NN kernels (DSP/SIMD where the core has it).

For a TFLM backend this module writes a firmware model folder under
``<build>/tflm-fw/<model>/<file stem>/<backend>/<board>/``: the model's C array (convert/carray.py) and
``tinyrnn_tflm_config.h`` (the ops the model uses, in the order the resolver registers them, and
the model's MACs and weight bytes for ``id``) and ``tinyrnn_tflm_arena.h`` (the arena size), then
builds the board's ordinary PlatformIO environment with ``TINYRNN_BACKEND=tflm`` and
``TINYRNN_TFLM_LIB_DIR`` pointing at the cached archive (deploy/tflm_lib.py). The same harness
and serial protocol run on top.

Arena: the bytes TFLM's own allocator measured on the host for this graph (the model card's
``int8_tflm_arena_bytes``) plus :data:`ARENA_MARGIN_FRACTION` and :data:`ARENA_MARGIN_BYTES`.
The margin is needed: the CMSIS-NN kernels request scratch buffers the host's reference kernels
do not, and the board's 32-bit pointers change the bookkeeping (measured on the 32-unit LSTM:
host 6,944 B; board 5,940 B with the reference kernels, 7,156 B with CMSIS-NN). A graph the host
interpreter cannot run (tinyrnn's custom ops) is sized on the board: one build with a large
probe arena reports ``arena_used`` (``id``), and the firmware is rebuilt with that plus the margin
in the same build folder, which recompiles only the arena's file.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

from tinyrnn.core.buildtree import ModelFolder, write_json, write_text_atomic
from tinyrnn.deploy.firmware import FirmwareBuild, build
from tinyrnn.deploy.pio_bootstrap import build_root
from tinyrnn.deploy.tflm_lib import OPS, RESOLVER_METHODS, Core, ensure_library

BACKENDS: dict[str, str | None] = {"tinyrnn": None, "tflm": "ref", "tflm-cmsis-nn": "cmsis-nn"}
TFLM_BACKENDS = tuple(b for b, v in BACKENDS.items() if v is not None)
CUSTOM_OPS = frozenset({"CUSTOM:TINYRNN_GRU", "CUSTOM:TINYRNN_RNN"})
ARENA_MARGIN_FRACTION = 0.25
ARENA_MARGIN_BYTES = 1024
PROBE_ARENA_BYTES = 48 * 1024


class TflmModelError(RuntimeError):
    """The model cannot run on the TFLM firmware (an op it lacks, no room); names the cause."""


def variant_of(backend: str) -> str:
    if backend not in BACKENDS or BACKENDS[backend] is None:
        raise ValueError(f"unknown TFLM backend {backend!r}: use {', '.join(TFLM_BACKENDS)}")
    return str(BACKENDS[backend])


def arena_with_margin(measured: int) -> int:
    return int(math.ceil((measured * (1 + ARENA_MARGIN_FRACTION) + ARENA_MARGIN_BYTES) / 16) * 16)


def resolver_ops(ops: list[str]) -> tuple[list[str], bool]:
    """Builtin ops to register (first-use order) and whether tinyrnn's custom ops are used.
    Raises on an op the firmware cannot register, naming it."""
    builtins: list[str] = []
    custom = False
    for op in ops:
        if op in CUSTOM_OPS:
            custom = True
        elif op in OPS:
            if op not in builtins:
                builtins.append(op)
        else:
            raise TflmModelError(
                f"op {op} is not supported by the TFLM firmware: its resolver registers "
                f"{', '.join(sorted(OPS))} and the custom ops TINYRNN_GRU/TINYRNN_RNN. Add the "
                f"op's kernel sources to OPS in deploy/tflm_lib.py, or convert the model without it")
    return builtins, custom


@dataclass(frozen=True)
class TflmModel:
    """One ``.tflite`` and what the firmware header needs beside its bytes."""

    tflite: Path
    name: str
    steps: int
    channels: int
    class_names: list[str]
    norm_mean: list[float]
    norm_std: list[float]
    host_arena_bytes: int | None     # TFLM's arena measured on the host, None if it cannot run
    macs: int = 0
    weight_bytes: int = 0

    @classmethod
    def from_model_dir(cls, model_dir: Path, filename: str = "int8.tflite",
                       steps: int | None = None) -> TflmModel:
        folder = ModelFolder(model_dir)
        cfg = folder.config()
        norm = folder.normalization()
        card = folder.card() or {}
        host_arena = card.get("int8_tflm_arena_bytes") if filename == "int8.tflite" else None
        weights = card.get("tf_int8_weight_bytes" if filename == "int8.tflite"
                           else "int8_weight_bytes", 0)
        return cls(model_dir / filename, model_dir.name, steps or int(cfg["steps"]),
                   int(cfg["channels"]), list(cfg["class_names"]), list(norm["mean"]),
                   list(norm["std"]), int(host_arena) if host_arena else None,
                   int(card.get("macs_per_inference", 0)), int(weights or 0))


def _config_header(model: TflmModel, builtins: list[str], custom: bool, backend: str) -> str:
    calls = " && \\\n   ".join(f"(r).{RESOLVER_METHODS[op]}() == kTfLiteOk" for op in builtins)
    lines = [
        f"/* TFLM firmware settings for {model.name} ({model.tflite.name}), backend {backend}:",
        " * written by deploy/tflm_firmware.py, do not edit. */",
        "#ifndef TINYRNN_TFLM_CONFIG_H",
        "#define TINYRNN_TFLM_CONFIG_H",
        "",
        f"#define TINYRNN_TFLM_BACKEND_NAME \"{backend}\"",
        f"#define TINYRNN_TFLM_MACS {model.macs}",
        f"#define TINYRNN_TFLM_WEIGHT_BYTES {model.weight_bytes}",
        f"#define TINYRNN_TFLM_OP_COUNT {len(builtins) + (2 if custom else 0)}",
        f"#define TINYRNN_TFLM_REGISTER_OPS(r) \\\n  ({calls or '1'})",
    ]
    if custom:
        lines.append("#define TINYRNN_TFLM_CUSTOM_TINYRNN 1")
    lines += ["", "#endif /* TINYRNN_TFLM_CONFIG_H */", ""]
    return "\n".join(lines)


def firmware_model_dir(model: TflmModel, backend: str, env: str) -> Path:
    """One folder per board: its header holds the arena sized for that board's core, so boards
    never share one (the comparison builds several at once)."""
    stem = model.tflite.stem if model.steps > 1 else f"{model.tflite.stem}-step"
    return build_root() / "tflm-fw" / model.name / stem / backend / env


def write_model_folder(model: TflmModel, backend: str, env: str, arena: int) -> Path:
    """model_data.h/.cc + tinyrnn_tflm_config.h for the firmware; returns the folder."""
    from tinyrnn.convert.carray import CArrayMeta, write_c_array
    from tinyrnn.convert.tflite_info import inspect_file

    variant_of(backend)
    builtins, custom = resolver_ops(inspect_file(model.tflite).ops)
    out = firmware_model_dir(model, backend, env)
    meta = CArrayMeta(model.name, model.steps, model.channels, model.class_names,
                      model.norm_mean, model.norm_std)
    write_c_array(model.tflite, out, meta)
    _write_if_changed(out / "tinyrnn_tflm_config.h", _config_header(model, builtins, custom, backend))
    # The arena alone in its header: a probe build and the final one differ only here.
    _write_if_changed(out / "tinyrnn_tflm_arena.h",
                      f"/* TFLM arena for {model.name} ({model.tflite.name}), backend {backend}: "
                      f"written by deploy/tflm_firmware.py. */\n"
                      f"#define TINYRNN_TFLM_ARENA_BYTES {arena}\n")
    return out


def _write_if_changed(path: Path, text: str) -> None:
    """Unchanged headers keep their timestamps, so SCons rebuilds nothing for them; a changed one
    is replaced whole, like the C array beside it (an interrupted write leaves no half header)."""
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        write_text_atomic(path, text)


@dataclass(frozen=True)
class TflmFirmware:
    firmware: FirmwareBuild
    backend: str
    arena_bytes: int
    arena_source: str        # "host" (card + margin) or "board" (probe + margin)
    library_seconds: float   # time the TFLM archive took to compile (0 when cached)
    model_dir: Path


def _probe_cache(model: TflmModel, env: str, backend: str) -> Path:
    sha = hashlib.sha256(model.tflite.read_bytes()).hexdigest()[:16]
    return build_root() / "tflm-fw" / "arena-probe" / f"{sha}-{Core.of_board(env).cpu}-{backend}.json"


def _probe_arena(model: TflmModel, env: str, backend: str, lib_dir: Path) -> int:
    """arena_used on the board with a large arena (cached per model bytes, core and backend)."""
    from tinyrnn.deploy.firmware import qemu_machine
    from tinyrnn.deploy.link import DeviceError, QemuBoard

    cache = _probe_cache(model, env, backend)
    if cache.is_file():
        return int(json.loads(cache.read_text(encoding="utf-8"))["arena_used"])
    folder = write_model_folder(model, backend, env, PROBE_ARENA_BYTES)
    # The final firmware is built in the same folder next: only the arena's file is recompiled.
    fw = build(env, folder, build_dir=folder / "build",
               extra_env={"TINYRNN_BACKEND": "tflm", "TINYRNN_TFLM_LIB_DIR": str(lib_dir)})
    try:
        with QemuBoard(fw.elf, qemu_machine(env)) as dev:
            used = int(dev.identify().fields.get("arena_used", 0))
    except DeviceError as exc:
        raise TflmModelError(f"{model.tflite.name} does not initialise on TFLM ({backend}, {env}) "
                             f"even with a {PROBE_ARENA_BYTES:,} B arena: {exc}") from exc
    write_json(cache, {"arena_used": used, "model": model.name})
    return used


def build_tflm(model: TflmModel, env: str, backend: str, arena: int | None = None,
               build_dir: Path | None = None, progress: bool = True) -> TflmFirmware:
    """Build the TFLM firmware for ``model`` on ``env``. ``arena`` overrides the sizing rule
    (tests use it to provoke a too-small arena)."""
    lib = ensure_library(env, variant_of(backend), progress=progress)
    lib_dir = lib.path.parent
    source = "given"
    if arena is None:
        if model.host_arena_bytes:
            arena, source = arena_with_margin(model.host_arena_bytes), "host"
        else:
            arena, source = arena_with_margin(_probe_arena(model, env, backend, lib_dir)), "board"
    folder = write_model_folder(model, backend, env, arena)
    fw = build(env, folder, build_dir=build_dir or folder / "build",
               extra_env={"TINYRNN_BACKEND": "tflm", "TINYRNN_TFLM_LIB_DIR": str(lib_dir)})
    return TflmFirmware(fw, backend, arena, source, lib.seconds if lib.built else 0.0, folder)
