"""Benchmark a compiled model against TFLite Micro on the same .tflite: RAM, code size, speed.

- TFLM arena: the smallest arena_size for which the tflite-micro interpreter allocates and
  invokes, found by bisection with every probe in a child process (a too-small arena can crash).
- tinyrnn RAM: static arena + recurrent state from the generated header.
- Code size: runtime + generated model compiled with arm-none-eabi-gcc -Os -mcpu=cortex-m4
  (DSP path and portable path), text+rodata+data of the objects minus the weight arrays.
- Host speed: invoke() through ctypes vs tflite-micro's invoke(), interleaved in one process.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .compiler import compile_model
from .errors import AotError
from .hostbuild import RUNTIME_SRC, HostModel

_PROBE = r"""
import sys
import numpy as np
from tflite_micro import runtime
data = open(sys.argv[1], "rb").read()
it = runtime.Interpreter.from_bytes(data, arena_size=int(sys.argv[2]))
d = it.get_input_details(0)
it.set_input(np.zeros(d["shape"], d["dtype"]), 0)
it.invoke()
print("ok")
"""

_WEIGHT_SYMBOL = re.compile(r"^k_(l\d+_(w_in|w_rec|b_in|b_rec)|h\d+_(w|b|mult|shift))$")


def _probe(tflite: Path, size: int) -> bool:
    try:
        proc = subprocess.run([sys.executable, "-c", _PROBE, str(tflite), str(size)],
                              capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return False
    return proc.returncode == 0 and "ok" in proc.stdout


def tflm_min_arena(tflite: Path, *, hi: int = 1 << 20, step: int = 16) -> int:
    if not _probe(tflite, hi):
        raise AotError(f"tflite-micro cannot run {tflite} even with a {hi}-byte arena")
    lo = 0  # known failing (or untested) size
    while hi - lo > step:
        mid = (lo + hi) // 2 // step * step or step
        if mid <= lo:
            break
        if _probe(tflite, mid):
            hi = mid
        else:
            lo = mid
    return hi


def arm_code_size(model_dir: Path, work: Path, *, dsp: bool = True) -> dict[str, int]:
    cc = shutil.which("arm-none-eabi-gcc")
    nm = shutil.which("arm-none-eabi-nm")
    size = shutil.which("arm-none-eabi-size")
    if not (cc and nm and size):
        raise AotError("arm-none-eabi-gcc/nm/size not found")
    work.mkdir(parents=True, exist_ok=True)
    objs = []
    srcs = sorted(RUNTIME_SRC.glob("*.c")) + sorted(Path(model_dir).glob("*.c"))
    for src in srcs:
        obj = work / (src.stem + (".dsp" if dsp else ".ref") + ".o")
        args = [cc, "-mcpu=cortex-m4", "-mthumb", "-Os", "-std=c99", "-Wall", "-Wextra",
                "-Werror", "-ffunction-sections", "-fdata-sections", f"-I{RUNTIME_SRC}",
                f"-I{model_dir}", "-c", str(src), "-o", str(obj)]
        if not dsp:
            args.insert(1, "-DTINYRNN_NO_DSP")
        proc = subprocess.run(args, capture_output=True, text=True)
        if proc.returncode != 0:
            raise AotError(f"arm-none-eabi-gcc failed on {src.name}:\n{proc.stderr[-3000:]}")
        objs.append(obj)
    out = subprocess.run([size, "-A", "-d", *map(str, objs)], capture_output=True, text=True,
                         check=True).stdout
    total = 0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit() and re.match(r"^\.(text|rodata|data)", parts[0]):
            total += int(parts[1])
    syms = subprocess.run([nm, "-S", "--size-sort", "-t", "d", *map(str, objs)],
                          capture_output=True, text=True, check=True).stdout
    weights = 0
    for line in syms.splitlines():
        parts = line.split()
        if len(parts) == 4 and _WEIGHT_SYMBOL.match(parts[3]):
            weights += int(parts[1])
    return {"total_bytes": total, "weight_bytes": weights, "code_bytes": total - weights}


def _header_int(model_dir: Path, macro: str) -> int:
    m = re.search(rf"#define {macro} (\d+)", (model_dir / "tinyrnn_model.h").read_text())
    if m is None:
        raise AotError(f"{macro} missing")
    return int(m.group(1))


def host_speed(tflite: Path, model_dir: Path, work: Path, iterations: int,
               repeats: int = 5) -> dict[str, Any]:
    from tflite_micro import runtime

    hm = HostModel(model_dir, work / "host")
    it = runtime.Interpreter.from_bytes(tflite.read_bytes(), arena_size=1 << 20)
    rng = np.random.default_rng(0)
    windows = [rng.integers(-128, 128, (hm.steps, hm.channels), dtype=np.int8)
               for _ in range(8)]
    batched = [w[None] for w in windows]
    mismatches = 0
    for w, b in zip(windows, batched, strict=True):
        it.reset()
        it.set_input(b, 0)
        it.invoke()
        mismatches += int(not np.array_equal(it.get_output(0).reshape(-1), hm.invoke(w)))
    call = hm.invoke_fn()
    t_ours: list[float] = []
    t_tflm: list[float] = []
    n = len(windows)
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(iterations):
            call(windows[i % n])
        t1 = time.perf_counter()
        for i in range(iterations):
            it.reset()
            it.set_input(batched[i % n], 0)
            it.invoke()
        t2 = time.perf_counter()
        t_ours.append((t1 - t0) / iterations)
        t_tflm.append((t2 - t1) / iterations)
    ours = statistics.median(t_ours)
    tflm = statistics.median(t_tflm)
    return {"tinyrnn_us": ours * 1e6, "tflm_us": tflm * 1e6, "speedup": tflm / ours,
            "iterations": iterations, "repeats": repeats, "output_mismatches": mismatches,
            "note": "tflm time includes reset()+set_input() as a window-by-window user pays; "
                    "tinyrnn invoke resets itself"}


def bench_aot(tflite: Path, json_out: Path | None, *, work_dir: Path = Path("build/bench-aot"),
              iterations: int = 200) -> dict[str, Any]:
    tflite = Path(tflite)
    work = Path(work_dir) / tflite.stem
    model_dir = work / "model"
    summary = compile_model(tflite, model_dir, name=tflite.stem)
    tflm_arena = tflm_min_arena(tflite)
    ram = summary.arena_bytes + summary.state_bytes
    code_dsp = arm_code_size(model_dir, work / "arm", dsp=True)
    code_ref = arm_code_size(model_dir, work / "arm", dsp=False)
    speed = host_speed(tflite, model_dir, work, iterations)
    result: dict[str, Any] = {
        "model": str(tflite),
        "shape": {"steps": summary.steps, "channels": summary.channels,
                  "units": list(summary.units), "classes": summary.classes},
        "macs": summary.macs,
        "ram": {"tflm_arena_bytes": tflm_arena, "tinyrnn_arena_bytes": summary.arena_bytes,
                "tinyrnn_state_bytes": summary.state_bytes, "tinyrnn_total_bytes": ram,
                "ratio": ram / tflm_arena},
        "code_cortex_m4_os": {"dsp": code_dsp, "portable": code_ref},
        "host_speed": speed,
    }
    result["summary"] = {
        "ram_bytes_tinyrnn": ram, "ram_bytes_tflm_arena": tflm_arena,
        "ram_ratio": round(ram / tflm_arena, 4),
        "code_bytes_dsp": code_dsp["code_bytes"], "code_bytes_portable": code_ref["code_bytes"],
        "weight_bytes": summary.weight_bytes,
        "host_speedup": round(speed["speedup"], 2),
        "targets": {
            "ram_at_most_half_tflm": ram <= tflm_arena / 2,
            "code_under_6kb": max(code_dsp["code_bytes"], code_ref["code_bytes"]) < 6 * 1024,
            "host_at_least_3x": speed["speedup"] >= 3.0,
        },
    }
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return result
