"""TensorFlow Lite Micro as a cached static library per (core, kernel variant), built offline.

The TFLM sources are an external tree found by ONE setting: the environment variable
``TFLM_TREE``, else ``../shared/peers/tflm-cmsisnn`` next to this repository when it exists. It
must have the layout of TFLM's ``create_tflm_tree.py`` output (``tensorflow/``, ``third_party/``)
with the reference versions of the kernels CMSIS-NN replaces under ``reference_kernels/``; see
firmware/README.md for pointing it at your own tflite-micro checkout. Nothing is copied into this
repository.

Only what the firmware's op resolver can register is compiled (the whole tree is 315 files and
~15 minutes on 2 cores): the interpreter framework, the kernels in :data:`OPS`, and for the
``cmsis-nn`` variant the CMSIS-NN sources those kernels call. Variants:

* ``ref``: TFLM's reference kernels (``reference_kernels/`` for the 14 kernels CMSIS-NN
  replaces), no ``-DCMSIS_NN``;
* ``cmsis-nn``: the CMSIS-NN kernels, with the DSP/SIMD path where the core has it (M4, M7, M33;
  CMSIS-NN picks it from ``__ARM_FEATURE_DSP``), plain C on the M3.

The archive lands in ``<build>/tflm-lib/<cpu>-<variant>/libtflm.a`` with ``flags.json`` (what an
application compiling against it must use: include dirs, defines, machine flags). The framework
objects are compiled once per core and shared by both variants (``<cpu>-framework/``), so are
the kernels CMSIS-NN does not replace (``<cpu>-kernels/``); the others once per core and variant
(``<cpu>-<variant>-kernels/``). Stamps keyed on the tree path,
compiler, flags and the content of every compiled source decide reuse, so editing the tree or a
flag rebuilds; an unchanged key never recompiles. The firmware links the archive, so
only the objects a model's resolver reaches end up in flash.

    python -m tinyrnn.deploy.tflm_lib --board mps2-an386 --variant cmsis-nn     # build, print the path
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from tinyrnn.core.resources import CHECKOUT_ROOT as REPO_ROOT
from tinyrnn.deploy.pio_bootstrap import FIRMWARE_DIR, build_root

TREE_ENV = "TFLM_TREE"
DEFAULT_TREE = REPO_ROOT.parent / "shared" / "peers" / "tflm-cmsisnn"
VARIANTS: tuple[str, ...] = ("ref", "cmsis-nn")
QEMU_BOARDS_DIR = FIRMWARE_DIR / "platforms" / "tinyrnn-qemu" / "boards"
LIB_VERSION = "2"  # bump when this module changes what it compiles or how

# Builtin ops the firmware can register -> the kernel sources they need (under
# tensorflow/lite/micro/kernels/). Kernels CMSIS-NN replaces are named in CMSIS_KERNELS and taken
# from cmsis_nn/ or reference_kernels/ by variant. The set is exactly what convert/ emits (each
# kernel costs compile time on every core): the fused LSTM classifier (LSTM, STRIDED_SLICE, FC,
# SOFTMAX), tinyrnn's custom-op GRU/RNN (+ FC, SOFTMAX) and TF's unrolled int8 GRU/SimpleRNN
# (ADD, MUL, SUB, LOGISTIC, TANH, SPLIT, SPLIT_V, UNPACK, RESHAPE, FC, SOFTMAX).
OPS: dict[str, tuple[str, ...]] = {
    "UNIDIRECTIONAL_SEQUENCE_LSTM": ("unidirectional_sequence_lstm.cc", "lstm_eval.cc",
                                     "lstm_eval_common.cc", "micro_tensor_utils.cc"),
    "FULLY_CONNECTED": ("fully_connected.cc", "fully_connected_common.cc"),
    "SOFTMAX": ("softmax.cc", "softmax_common.cc"),
    "ADD": ("add.cc", "add_common.cc"),
    "MUL": ("mul.cc", "mul_common.cc"),
    "SUB": ("sub.cc", "sub_common.cc"),
    "LOGISTIC": ("logistic.cc", "logistic_common.cc"),
    "TANH": ("tanh.cc",),
    "STRIDED_SLICE": ("strided_slice.cc", "strided_slice_common.cc"),
    "RESHAPE": ("reshape.cc", "reshape_common.cc"),
    "UNPACK": ("unpack.cc",),
    "SPLIT": ("split.cc",),
    "SPLIT_V": ("split_v.cc",),
}
# The resolver method of MicroMutableOpResolver registering each op.
RESOLVER_METHODS: dict[str, str] = {
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
    "FULLY_CONNECTED": "AddFullyConnected", "SOFTMAX": "AddSoftmax", "ADD": "AddAdd",
    "MUL": "AddMul", "SUB": "AddSub", "LOGISTIC": "AddLogistic", "TANH": "AddTanh",
    "STRIDED_SLICE": "AddStridedSlice", "RESHAPE": "AddReshape", "UNPACK": "AddUnpack",
    "SPLIT": "AddSplit", "SPLIT_V": "AddSplitV",
}
CMSIS_KERNELS = frozenset({"add.cc", "fully_connected.cc", "mul.cc", "softmax.cc",
                           "unidirectional_sequence_lstm.cc"})
# CMSIS-NN sources the kernels above call (directories under third_party/cmsis_nn/Source, plus
# single files of directories that hold far more than is needed).
CMSIS_NN_DIRS = ("FullyConnectedFunctions", "SoftmaxFunctions", "LSTMFunctions",
                 "NNSupportFunctions", "BasicMathFunctions")
CMSIS_NN_FILES = ("ActivationFunctions/arm_nn_activation_s16.c",
                  "ConvolutionFunctions/arm_convolve_1x1_s8_fast.c",
                  "ConvolutionFunctions/arm_convolve_get_buffer_sizes_s8.c",
                  "ConvolutionFunctions/arm_nn_mat_mult_s8.c")

# The interpreter framework: everything under tensorflow/lite/micro that is not a kernel, test
# helper, fake or recorder, and the TFLite pieces it calls.
FRAMEWORK = (
    "tensorflow/compiler/mlir/lite/core/api/error_reporter.cc",
    "tensorflow/compiler/mlir/lite/schema/schema_utils.cc",
    "tensorflow/lite/core/api/flatbuffer_conversions.cc",
    "tensorflow/lite/core/api/tensor_utils.cc",
    "tensorflow/lite/core/c/common.cc",
    "tensorflow/lite/kernels/internal/common.cc",
    "tensorflow/lite/kernels/internal/portable_tensor_utils.cc",
    "tensorflow/lite/kernels/internal/quantization_util.cc",
    "tensorflow/lite/kernels/internal/reference/portable_tensor_utils.cc",
    "tensorflow/lite/kernels/internal/runtime_shape.cc",
    "tensorflow/lite/kernels/internal/tensor_ctypes.cc",
    "tensorflow/lite/kernels/internal/tensor_utils.cc",
    "tensorflow/lite/kernels/kernel_util.cc",
    "tensorflow/lite/micro/arena_allocator/non_persistent_arena_buffer_allocator.cc",
    "tensorflow/lite/micro/arena_allocator/persistent_arena_buffer_allocator.cc",
    "tensorflow/lite/micro/arena_allocator/single_arena_buffer_allocator.cc",
    "tensorflow/lite/micro/cortex_m_generic/debug_log.cc",
    "tensorflow/lite/micro/cortex_m_generic/micro_time.cc",
    "tensorflow/lite/micro/flatbuffer_utils.cc",
    "tensorflow/lite/micro/kernels/kernel_util.cc",
    "tensorflow/lite/micro/memory_helpers.cc",
    "tensorflow/lite/micro/memory_planner/greedy_memory_planner.cc",
    "tensorflow/lite/micro/memory_planner/linear_memory_planner.cc",
    "tensorflow/lite/micro/memory_planner/non_persistent_buffer_planner_shim.cc",
    "tensorflow/lite/micro/micro_allocation_info.cc",
    "tensorflow/lite/micro/micro_allocator.cc",
    "tensorflow/lite/micro/micro_context.cc",
    "tensorflow/lite/micro/micro_interpreter.cc",
    "tensorflow/lite/micro/micro_interpreter_context.cc",
    "tensorflow/lite/micro/micro_interpreter_graph.cc",
    "tensorflow/lite/micro/micro_log.cc",
    "tensorflow/lite/micro/micro_op_resolver.cc",
    "tensorflow/lite/micro/micro_profiler.cc",
    "tensorflow/lite/micro/micro_resource_variable.cc",
    "tensorflow/lite/micro/micro_utils.cc",
    "tensorflow/lite/micro/system_setup.cc",
    "tensorflow/lite/micro/tflite_bridge/flatbuffer_conversions_bridge.cc",
    "tensorflow/lite/micro/tflite_bridge/micro_error_reporter.cc",
)

# CMSIS device headers per core (cortex_m_generic/micro_time.cc includes one for the DWT counter).
_DEVICES = {"cortex-m0": ("ARMCM0", "M0"), "cortex-m0plus": ("ARMCM0plus", "M0plus"),
            "cortex-m3": ("ARMCM3", "M3"), "cortex-m4": ("ARMCM4", "M4"),
            "cortex-m7": ("ARMCM7", "M7"), "cortex-m33": ("ARMCM33", "M33"),
            "cortex-m55": ("ARMCM55", "M55"), "cortex-m85": ("ARMCM85", "M85")}
_APP_INCLUDES = (".", "third_party/flatbuffers/include", "third_party/gemmlowp")
_LIB_INCLUDES = ("third_party/ruy", "third_party/cmsis_nn", "third_party/cmsis_nn/Include",
                 "third_party/cmsis/CMSIS/Core/Include")
# -DNDEBUG drops asserts; error strings stay in, so a failure on the board names its cause
# (an unsupported op, the bytes an arena lacks) over the UART.
_DEFINES_APP = ("TF_LITE_STATIC_MEMORY", "TF_LITE_MCU_DEBUG_LOG", "NDEBUG")
_DEFINES_LIB = ("TF_LITE_DISABLE_X86_NEON", "KERNELS_OPTIMIZED_FOR_SPEED",
                "ARM_NN_ENABLE_F16=0", "ARM_NN_ENABLE_F32=0")
_COMMON_FLAGS = ("-mthumb", "-mlittle-endian", "-funsigned-char", "-fomit-frame-pointer",
                 "-fno-unwind-tables", "-fno-asynchronous-unwind-tables", "-ffunction-sections",
                 "-fdata-sections", "-fmessage-length=0", "-Wall", "-Wextra",
                 "-Wno-unused-parameter", "-Wno-type-limits")
_CXX_FLAGS = ("-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics")
_C_FLAGS = ("-std=c17",)
# Parsing these headers is ~85% of a TFLM source's compile time (4.5 of 4.9 s for
# micro_interpreter.cc on this machine). Precompiled once per object set and optimisation level
# and force-included, they cut a C++ source to ~1.7 s; the objects are identical instruction for
# instruction (firmware/README.md, "Compile time"). The .gch is ~250 MB, so it is deleted after use.
_PCH_HEADERS = (
    "tensorflow/lite/schema/schema_generated.h",
    "tensorflow/lite/micro/kernels/kernel_util.h",
    "tensorflow/lite/kernels/internal/common.h",
    "tensorflow/lite/kernels/internal/types.h",
    "tensorflow/lite/kernels/kernel_util.h",
    "tensorflow/lite/micro/micro_interpreter.h",
)
_PCH_MIN_SOURCES = 4  # below this, building the .gch (~13 s) costs more than it saves
# As upstream: -Os for the framework, -O2 for kernels and CMSIS-NN.
_FRAMEWORK_OPT = "-Os"
_KERNEL_OPT = "-O2"


class TflmUnavailable(RuntimeError):
    """No usable TFLM tree or tool chain; the message says what to set or install."""


class TflmBuildError(RuntimeError):
    """A TFLM source did not compile; the message names the file and the compiler's error."""


# ---- the tree -------------------------------------------------------------------------------


def find_tree() -> Path:
    """The TFLM tree: ``$TFLM_TREE``, else the default beside the repository; checked."""
    raw = os.environ.get(TREE_ENV)
    tree = Path(raw).expanduser() if raw else DEFAULT_TREE
    if not tree.is_absolute():
        tree = REPO_ROOT / tree
    where = f"{TREE_ENV}={raw}" if raw else f"the default {DEFAULT_TREE} (no {TREE_ENV} set)"
    if not tree.is_dir():
        raise TflmUnavailable(
            f"no TensorFlow Lite Micro tree at {where}: TFLM builds are skipped. Set {TREE_ENV} "
            f"to a tree made by tflite-micro's create_tflm_tree.py (see firmware/README.md)")
    missing = [p for p in ("tensorflow/lite/micro/micro_interpreter.cc",
                           "third_party/flatbuffers/include", "third_party/cmsis_nn/Source",
                           "reference_kernels/tensorflow/lite/micro/kernels")
               if not (tree / p).exists()]
    if missing:
        raise TflmUnavailable(
            f"{tree} (from {where}) is not a usable TFLM tree: missing {', '.join(missing)}. "
            f"See firmware/README.md for the layout it needs")
    return tree.resolve()


def unavailable_reason() -> str | None:
    """Why TFLM cannot be built here (for skips), or None when it can."""
    try:
        find_tree()
    except TflmUnavailable as exc:
        return str(exc)
    for tool in ("arm-none-eabi-g++", "arm-none-eabi-gcc-ar"):
        if shutil.which(tool) is None:
            return f"{tool} not found: run `bash scripts/install-toolchain.sh`"
    if not _cxx_headers_ok():
        return ("arm-none-eabi C++ headers missing: run `bash scripts/install-toolchain.sh` "
                "(Debian package libstdc++-arm-none-eabi-newlib)")
    return None


def _cxx_headers_ok() -> bool:
    proc = subprocess.run(["arm-none-eabi-g++", "-print-file-name=libstdc++.a"],
                          capture_output=True, text=True, check=False)
    return proc.returncode == 0 and Path(proc.stdout.strip()).is_file()


# ---- flags ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Core:
    cpu: str
    fpu: str
    float_abi: str

    @classmethod
    def of_board(cls, board: str) -> Core:
        path = QEMU_BOARDS_DIR / f"{board}.json"
        if not path.is_file():
            raise ValueError(f"no emulated board {board!r} (boards: "
                             f"{', '.join(sorted(p.stem for p in QEMU_BOARDS_DIR.glob('*.json')))})")
        b = json.loads(path.read_text(encoding="utf-8"))["build"]
        return cls(str(b["cpu"]), str(b.get("fpu", "")), str(b.get("float_abi", "soft")))

    def machine_flags(self) -> list[str]:
        # Exactly the firmware's (firmware/platforms/tinyrnn-qemu/builder/main.py): the float ABI
        # of the archive must match the program it links into.
        flags = [f"-mcpu={self.cpu}", "-mthumb", f"-mfloat-abi={self.float_abi}"]
        if self.fpu:
            flags.append(f"-mfpu={self.fpu}")
        return flags

    @property
    def has_dsp(self) -> bool:
        return self.cpu in ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55", "cortex-m85")


@dataclass(frozen=True)
class LibraryFlags:
    """What an application compiled against the library must use."""

    include_dirs: list[str]
    defines: list[str]
    machine_flags: list[str]
    cxx_flags: list[str]


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"unknown TFLM variant {variant!r}: use {' or '.join(VARIANTS)}")


def library_defines(core: Core, variant: str) -> list[str]:
    if core.cpu not in _DEVICES:
        raise TflmUnavailable(f"no CMSIS device header for {core.cpu} (known: "
                              f"{', '.join(_DEVICES)}): add it to _DEVICES in deploy/tflm_lib.py")
    device, tag = _DEVICES[core.cpu]
    defs = [*_DEFINES_APP, *_DEFINES_LIB, f"CPU_{tag}=1", device,
            f'CMSIS_DEVICE_ARM_CORTEX_M_XX_HEADER_FILE="{device}.h"']
    if variant == "cmsis-nn":
        defs.append("CMSIS_NN")
    return defs


def shared_kernel_sources() -> list[str]:
    """The kernels CMSIS-NN does not replace: one compile per core serves both variants."""
    return [f"tensorflow/lite/micro/kernels/{f}"
            for f in sorted({f for files in OPS.values() for f in files} - CMSIS_KERNELS)]


def variant_kernel_sources(tree: Path, variant: str) -> list[str]:
    """The kernels a variant has its own version of (and CMSIS-NN's sources), in a fixed order."""
    _check_variant(variant)
    if variant == "ref":
        return [f"reference_kernels/tensorflow/lite/micro/kernels/{f}" for f in sorted(CMSIS_KERNELS)]
    out = [f"tensorflow/lite/micro/kernels/cmsis_nn/{f}" for f in sorted(CMSIS_KERNELS)]
    base = tree / "third_party/cmsis_nn/Source"
    for d in CMSIS_NN_DIRS:
        out += sorted(str(p.relative_to(tree)) for p in (base / d).glob("*.c"))
    return out + [f"third_party/cmsis_nn/Source/{f}" for f in CMSIS_NN_FILES]


def sources(tree: Path, variant: str) -> list[str]:
    """Every source in the variant's archive: the framework, then the kernels."""
    out = [*FRAMEWORK, *shared_kernel_sources(), *variant_kernel_sources(tree, variant)]
    missing = [s for s in out if not (tree / s).is_file()]
    if missing:
        raise TflmUnavailable(f"{tree} lacks sources this firmware needs: {', '.join(missing[:6])}"
                              f"{' ...' if len(missing) > 6 else ''}")
    return out


def _compile_flags(tree: Path, core: Core, variant: str) -> list[str]:
    device = _DEVICES[core.cpu][0]
    incs = [*_APP_INCLUDES, *_LIB_INCLUDES, f"third_party/cmsis/Cortex_DFP/Device/{device}/Include"]
    return [*core.machine_flags(), *_COMMON_FLAGS,
            *(f"-D{d}" for d in library_defines(core, variant)),
            *(f"-I{tree / i}" for i in incs)]


def _compiler_version() -> str:
    proc = subprocess.run(["arm-none-eabi-g++", "--version"], capture_output=True, text=True,
                          check=False)
    return proc.stdout.splitlines()[0] if proc.stdout else "unknown"


# ---- building -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Library:
    path: Path            # libtflm.a
    flags_path: Path      # flags.json beside it
    core: str
    variant: str
    key: str
    sources: int
    built: bool           # compiled now (False: reused from the cache)
    seconds: float        # compile time of this archive when it was built

    def flags(self) -> LibraryFlags:
        return LibraryFlags(**json.loads(self.flags_path.read_text(encoding="utf-8"))["app"])


def library_dir(core: Core, variant: str) -> Path:
    return build_root() / "tflm-lib" / f"{core.cpu}-{variant}"


def _key(tree: Path, srcs: list[str], flags: list[str]) -> str:
    h = hashlib.sha256()
    h.update(f"{LIB_VERSION}\n{tree}\n{_compiler_version()}\n{' '.join(flags)}\n".encode())
    for s in srcs:
        h.update(s.encode() + b"\0")
        h.update(hashlib.sha256((tree / s).read_bytes()).digest())
    return h.hexdigest()[:16]


def _opt(src: str) -> str:
    kernel = src.startswith(("tensorflow/lite/micro/kernels/", "reference_kernels/",
                             "third_party/cmsis_nn/"))
    return _KERNEL_OPT if kernel and "kernels/kernel_util" not in src else _FRAMEWORK_OPT


def _precompile(tree: Path, flags: list[str], opt: str, where: Path) -> list[str]:
    """The flags that force-include the precompiled common headers, or none when the tree's
    headers do not precompile (a user's tree of another version): then sources parse them."""
    where.mkdir(parents=True, exist_ok=True)
    header = where / "tinyrnn_tflm_pch.h"
    header.write_text("".join(f'#include "{h}"\n' for h in _PCH_HEADERS), encoding="utf-8")
    cmd = ["arm-none-eabi-g++", *_CXX_FLAGS, *flags, opt, "-x", "c++-header", str(header),
           "-o", str(header) + ".gch"]
    if subprocess.run(cmd, capture_output=True, check=False).returncode != 0:
        return []
    return ["-include", str(header)]


def _compile_one(tree: Path, src: str, obj: Path, flags: list[str],
                 pch: dict[str, list[str]] | None = None) -> None:
    obj.parent.mkdir(parents=True, exist_ok=True)
    is_c = src.endswith(".c")
    opt = _opt(src)
    cmd = ["arm-none-eabi-gcc" if is_c else "arm-none-eabi-g++",
           *(_C_FLAGS if is_c else _CXX_FLAGS), *flags, opt,
           *([] if is_c else (pch or {}).get(opt, [])), "-c", str(tree / src), "-o", str(obj)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise TflmBuildError(f"TFLM source {src} does not compile for this core:\n{tail}")


def _object_set(tree: Path, srcs: list[str], flags: list[str], out: Path, label: str,
                jobs: int, progress: bool) -> tuple[list[Path], str, bool]:
    """Objects of srcs compiled with flags into out/. With the same tree, compiler and flags,
    only sources whose content changed (or that are new) are compiled again."""
    key = _key(tree, srcs, flags)
    objs = [out / "obj" / (s.rsplit(".", 1)[0] + ".o") for s in srcs]
    stamp = out / "stamp.json"
    try:
        old = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = {}
    if old.get("key") == key and all(o.is_file() for o in objs):
        return objs, key, False
    hashes = {s: hashlib.sha256((tree / s).read_bytes()).hexdigest() for s in srcs}
    same_setup = (old.get("tree") == str(tree) and old.get("flags") == flags
                  and old.get("compiler") == _compiler_version())
    old_hashes = old.get("hashes", {}) if same_setup else {}
    todo = [(s, o) for s, o in zip(srcs, objs, strict=True)
            if old_hashes.get(s) != hashes[s] or not o.is_file()]
    if not same_setup and (out / "obj").exists():
        shutil.rmtree(out / "obj")
    stamp.unlink(missing_ok=True)
    start = time.monotonic()
    if progress:
        print(f"[tflm-lib] {label}: compiling {len(todo)} of {len(srcs)} sources (-j{jobs})",
              flush=True)
    done = 0
    step = max(1, len(todo) // 5)
    per_opt = Counter(_opt(s) for s, _ in todo if not s.endswith(".c"))
    pch_root = out / "pch"
    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            pch_jobs = {opt: pool.submit(_precompile, tree, flags, opt, pch_root / opt.lstrip("-"))
                        for opt, n in per_opt.items() if n >= _PCH_MIN_SOURCES}
            pch = {opt: job.result() for opt, job in pch_jobs.items()}
            futures = [pool.submit(_compile_one, tree, s, o, flags, pch) for s, o in todo]
            for f in futures:
                f.result()
                done += 1
                if progress and (done % step == 0 or done == len(todo)):
                    print(f"[tflm-lib] {label}: {done}/{len(todo)} "
                          f"({time.monotonic() - start:.0f} s)", flush=True)
    finally:
        shutil.rmtree(pch_root, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps({"key": key, "tree": str(tree), "compiler": _compiler_version(),
                                 "flags": flags, "hashes": hashes,
                                 "seconds": round(time.monotonic() - start, 1)}, indent=2) + "\n",
                     encoding="utf-8")
    return objs, key, True


@contextlib.contextmanager
def _one_builder(root: Path, cpu: str, progress: bool) -> Iterator[None]:
    """One process at a time builds a core's objects (sweep workers, a test session's prebuild
    and its tests share the tree); a second one waits, then finds the work done."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{cpu}.lock", "a+b") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if progress:
                print(f"[tflm-lib] {cpu}: another process is building it, waiting", flush=True)
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def ensure_library(board: str, variant: str, jobs: int = 2, progress: bool = True) -> Library:
    """The cached archive for the board's core and the variant; compiled when a key changed.

    The framework objects and the kernels CMSIS-NN does not replace do not depend on the kernel
    variant (no -DCMSIS_NN in them), so both variants of a core share them."""
    _check_variant(variant)
    reason = unavailable_reason()
    if reason:
        raise TflmUnavailable(reason)
    tree = find_tree()
    core = Core.of_board(board)
    root = build_root() / "tflm-lib"
    with _one_builder(root, core.cpu, progress):
        return _ensure_library(tree, core, variant, root, jobs, progress)


def _ensure_library(tree: Path, core: Core, variant: str, root: Path, jobs: int,
                    progress: bool) -> Library:
    srcs = sources(tree, variant)
    start = time.monotonic()
    # The framework and the kernels CMSIS-NN does not replace are compiled without -DCMSIS_NN
    # (their objects are the same with it: firmware/README.md, "Compile time"), once per core.
    ref_flags = _compile_flags(tree, core, "ref")
    fw_objs, fw_key, fw_built = _object_set(
        tree, list(FRAMEWORK), ref_flags, root / f"{core.cpu}-framework",
        f"{core.cpu} framework", jobs, progress)
    sk_objs, sk_key, sk_built = _object_set(
        tree, shared_kernel_sources(), ref_flags, root / f"{core.cpu}-kernels",
        f"{core.cpu} shared kernels", jobs, progress)
    k_objs, k_key, k_built = _object_set(
        tree, variant_kernel_sources(tree, variant), _compile_flags(tree, core, variant),
        root / f"{core.cpu}-{variant}-kernels", f"{core.cpu} {variant} kernels", jobs, progress)
    k_objs = sk_objs + k_objs
    k_built = k_built or sk_built
    key = hashlib.sha256(f"{fw_key}{sk_key}{k_key}".encode()).hexdigest()[:16]
    out = library_dir(core, variant)
    lib, stamp, flags_path = out / "libtflm.a", out / "stamp.json", out / "flags.json"
    try:
        old = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = {}
    if old.get("key") == key and lib.is_file() and flags_path.is_file():
        return Library(lib, flags_path, core.cpu, variant, key, len(srcs), False,
                       float(old.get("seconds", 0.0)))
    out.mkdir(parents=True, exist_ok=True)
    tmp = lib.with_suffix(".a.tmp")
    tmp.unlink(missing_ok=True)
    proc = subprocess.run(["arm-none-eabi-gcc-ar", "rcs", str(tmp), *map(str, fw_objs + k_objs)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise TflmBuildError(f"arm-none-eabi-gcc-ar failed: {proc.stderr.strip()}")
    tmp.replace(lib)
    seconds = round(time.monotonic() - start, 1)
    app = LibraryFlags(include_dirs=[str(tree / i) for i in _APP_INCLUDES],
                       defines=[*_DEFINES_APP], machine_flags=core.machine_flags(),
                       cxx_flags=list(_CXX_FLAGS))
    flags_path.write_text(json.dumps({"tree": str(tree), "app": asdict(app)}, indent=2) + "\n",
                          encoding="utf-8")
    stamp.write_text(json.dumps({"key": key, "tree": str(tree), "core": core.cpu,
                                 "variant": variant, "sources": srcs, "seconds": seconds,
                                 "framework_compiled": fw_built, "kernels_compiled": k_built,
                                 "dsp": core.has_dsp}, indent=2) + "\n", encoding="utf-8")
    if progress:
        print(f"[tflm-lib] {core.cpu} {variant}: {lib} ({lib.stat().st_size:,} B, {len(srcs)} "
              f"sources) in {seconds:.0f} s", flush=True)
    return Library(lib, flags_path, core.cpu, variant, key, len(srcs), True, seconds)


def background_log() -> Path:
    return build_root() / "tflm-lib" / "background.log"


def start_background_build(boards: Sequence[str]) -> subprocess.Popen | None:
    """Compile the boards' libraries (both variants) in a low-priority child process, or return
    None when TFLM is unavailable. Training and single-threaded device work leave a core idle
    much of the time; whoever needs a library later waits on its core's lock, not on the child.
    The child inherits the environment, so it builds into the same tree."""
    if unavailable_reason() is not None:
        return None
    log = background_log()
    log.parent.mkdir(parents=True, exist_ok=True)
    args = [a for b in boards for a in ("--board", b)]
    with open(log, "wb") as out:
        return subprocess.Popen(["nice", "-n", "10", sys.executable, "-m", "tinyrnn.deploy.tflm_lib",
                                 *args], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)


def stop_background_build(proc: subprocess.Popen | None) -> None:
    """End a background build still running (an unfinished object set is rebuilt next time)."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tinyrnn.deploy.tflm_lib", description=__doc__.split("\n")[0])
    p.add_argument("--board", action="append", help="emulated board (repeatable; default all)")
    p.add_argument("--variant", action="append", choices=VARIANTS, help="default both")
    p.add_argument("--jobs", type=int, default=2)
    a = p.parse_args(argv)
    boards = a.board or sorted(p.stem for p in QEMU_BOARDS_DIR.glob("*.json"))
    try:
        for board in boards:
            for variant in a.variant or VARIANTS:
                lib = ensure_library(board, variant, a.jobs)
                print(f"{board} {variant}: {lib.path} ({'built' if lib.built else 'cached'}, "
                      f"{lib.seconds} s to build)")
    except (TflmUnavailable, TflmBuildError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
