"""Benchmark a compiled model against TFLite Micro on the same .tflite: RAM, code size, speed.

- TFLM arena: the smallest arena_size for which the tflite-micro interpreter allocates and
  invokes, found by bisection with every probe in a child process (a too-small arena can crash).
- tinyrnn RAM: static arena + recurrent state from the generated header.
- Code size: runtime + generated model compiled with arm-none-eabi-gcc -Os -mcpu=cortex-m4
  (DSP path and portable path), text+rodata+data of the objects minus the weight arrays
  (code_cortex_m4_os: every runtime object; the summary uses the linked size below).
- Host speed: invoke() through ctypes vs tflite-micro's invoke(), interleaved in one process.
- Linked code size: the same objects linked with --gc-sections from the model API (only what
  the model calls), -Os and -O2.
- Device (device=True): firmware for the emulated Cortex-M4 (mps2-an386, QEMU -icount shift=0):
  instructions per inference and per MAC for the DSP build (-Os and -O2) and the portable build,
  and whether its outputs equal the host build's on all -128, all 127 and random windows.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from tinyrnn.convert.aot.compiler import compile_model
from tinyrnn.convert.aot.errors import AotError
from tinyrnn.convert.aot.hostbuild import RUNTIME_SRC, HostModel
from tinyrnn.convert.arena import measure_arena
from tinyrnn.deploy.elf import is_parameter_array


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
        if len(parts) == 4 and is_parameter_array(parts[3]):
            weights += int(parts[1])
    return {"total_bytes": total, "weight_bytes": weights, "code_bytes": total - weights}


_MODEL_API = ("tinyrnn_model_invoke", "tinyrnn_model_step", "tinyrnn_model_init",
              "tinyrnn_model_reset", "tinyrnn_model_class_names", "tinyrnn_model_norm_mean",
              "tinyrnn_model_norm_std")


def arm_linked_size(model_dir: Path, work: Path, *, dsp: bool = True,
                    opt: str = "-Os") -> dict[str, int]:
    """Runtime code the model really pulls in: runtime + model objects (Cortex-M4F, -ffunction-
    sections) linked relocatably with --gc-sections from the model API, so kernels the model does
    not call (other cell types, generic paths) are not counted. code_bytes = text + rodata + data
    minus the weight arrays; ram_bytes = bss + data."""
    cc = shutil.which("arm-none-eabi-gcc")
    nm = shutil.which("arm-none-eabi-nm")
    size = shutil.which("arm-none-eabi-size")
    if not (cc and nm and size):
        raise AotError("arm-none-eabi-gcc/nm/size not found")
    tag = ("dsp" if dsp else "ref") + opt.replace("-", "_")
    out_dir = work / f"linked-{tag}"
    out_dir.mkdir(parents=True, exist_ok=True)
    objs = []
    for src in sorted(RUNTIME_SRC.glob("*.c")) + sorted(Path(model_dir).glob("*.c")):
        obj = out_dir / (src.stem + ".o")
        args = [cc, "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", opt,
                "-std=c99", "-Wall", "-Wextra", "-Werror", "-ffunction-sections",
                "-fdata-sections", f"-I{RUNTIME_SRC}", f"-I{model_dir}", "-c", str(src), "-o",
                str(obj)]
        if not dsp:
            args.insert(1, "-DTINYRNN_NO_DSP")
        proc = subprocess.run(args, capture_output=True, text=True)
        if proc.returncode != 0:
            raise AotError(f"arm-none-eabi-gcc failed on {src.name}:\n{proc.stderr[-3000:]}")
        objs.append(obj)
    linked = out_dir / "linked.o"
    undefined = [f"-Wl,-u,{name}" for name in _MODEL_API]
    proc = subprocess.run([cc, "-mcpu=cortex-m4", "-mthumb", "-nostdlib", "-r",
                           "-Wl,--gc-sections", *undefined, *map(str, objs), "-o", str(linked)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise AotError(f"relocatable link failed:\n{proc.stderr[-3000:]}")
    out = subprocess.run([size, "-A", "-d", str(linked)], capture_output=True, text=True,
                         check=True).stdout
    flash = ram = 0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            if re.match(r"^\.(text|rodata|data)", parts[0]):
                flash += int(parts[1])
            if re.match(r"^\.(bss|data)", parts[0]):
                ram += int(parts[1])
    syms = subprocess.run([nm, "-S", "-t", "d", str(linked)], capture_output=True, text=True,
                          check=True).stdout
    weights = sum(int(p[1]) for p in (line.split() for line in syms.splitlines())
                  if len(p) == 4 and is_parameter_array(p[3]))
    return {"total_bytes": flash, "weight_bytes": weights, "code_bytes": flash - weights,
            "ram_bytes": ram}


def device_instructions(model_dir: Path, work: Path, *, env: str = "mps2-an386",
                        build_flags: str = "", n_random: int = 2,
                        timeout: float = 120.0) -> dict[str, Any]:
    """Build the firmware for an emulated board and count instructions per inference.

    QEMU runs with -icount shift=0, so SysTick counts guest instructions exactly and the counts
    repeat from run to run (issue 4). Windows: all -128, all 127 and n_random random ones; each
    is inferred twice (min == max shows the count is deterministic)."""
    from tinyrnn.deploy.firmware import build
    from tinyrnn.deploy.session import open_device

    variant = re.sub(r"[^A-Za-z0-9_]+", "_", build_flags.strip()) or "default"
    extra = {"PLATFORMIO_BUILD_FLAGS": build_flags} if build_flags else None
    fw = build(env, Path(model_dir), build_dir=Path(work) / f"fw-{env}-{variant}",
               extra_env=extra)
    dis = subprocess.run(["arm-none-eabi-objdump", "-d", str(fw.elf)], capture_output=True,
                         text=True).stdout
    mem = fw.memory()
    with open_device(env, None, elf=fw.elf, timeout=timeout) as session:
        dev = session.device
        info = dev.info
        rng = np.random.default_rng(0)
        shape = (info.steps, info.channels)
        windows = [np.full(shape, -128, np.int8), np.full(shape, 127, np.int8)]
        windows += [rng.integers(-128, 128, shape, dtype=np.int8) for _ in range(n_random)]
        results = [dev.classify(w, 2) for w in windows]
    counts = [r.count_max for r in results]
    return {
        "env": env, "build_flags": build_flags or "(board default, -Os)",
        "macs": info.macs, "counter": info.counter_unit,
        "instructions_per_inference": max(counts),
        "instructions_per_mac": max(counts) / info.macs,
        "counts": counts,
        "deterministic": all(r.count_min == r.count_max for r in results),
        "dsp_instructions_in_elf": {op: len(re.findall(rf"\t{op}\t", dis))
                                    for op in ("smlad", "sxtb16", "smmulr")},
        "flash_bytes": mem.flash, "ram_bytes_incl_stack": mem.ram, "stack_bytes": mem.stack,
        "windows": ["all -128", "all 127"] + [f"random {i}" for i in range(n_random)],
        "outputs": [r.output for r in results],
        "elf": str(fw.elf),
    }


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
              iterations: int = 200, device: bool = False) -> dict[str, Any]:
    tflite = Path(tflite)
    work = Path(work_dir) / tflite.stem
    model_dir = work / "model"
    summary = compile_model(tflite, model_dir, name=tflite.stem)
    tflm_arena = measure_arena(tflite)["arena_bytes"]  # the one TFLM arena measurement
    ram = summary.arena_bytes + summary.state_bytes
    code_dsp = arm_code_size(model_dir, work / "arm", dsp=True)
    code_ref = arm_code_size(model_dir, work / "arm", dsp=False)
    linked = {"dsp_os": arm_linked_size(model_dir, work / "arm", dsp=True),
              "portable_os": arm_linked_size(model_dir, work / "arm", dsp=False),
              "dsp_o2": arm_linked_size(model_dir, work / "arm", dsp=True, opt="-O2")}
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
        "code_cortex_m4_linked": linked,
        "host_speed": speed,
    }
    result["summary"] = {
        "ram_bytes_tinyrnn": ram, "ram_bytes_tflm_arena": tflm_arena,
        "ram_ratio": round(ram / tflm_arena, 4),
        # runtime code this model links (gc-sections from the model API), weights excluded
        "code_bytes_dsp": linked["dsp_os"]["code_bytes"],
        "code_bytes_portable": linked["portable_os"]["code_bytes"],
        # every runtime object compiled, linked or not (other cell types included)
        "code_bytes_all_runtime_objects_dsp": code_dsp["code_bytes"],
        "weight_bytes": summary.weight_bytes,
        "host_speedup": round(speed["speedup"], 2),
        "targets": {
            "ram_at_most_half_tflm": ram <= tflm_arena / 2,
            "code_under_6kb": max(linked["dsp_os"]["code_bytes"],
                                  linked["portable_os"]["code_bytes"]) < 6 * 1024,
            "host_at_least_3x": speed["speedup"] >= 3.0,
        },
    }
    if device:
        dev = {"dsp_os": device_instructions(model_dir, work),
               "dsp_o2": device_instructions(model_dir, work, build_flags="-O2"),
               "portable_os": device_instructions(model_dir, work,
                                                  build_flags="-DTINYRNN_NO_DSP")}
        host_model = HostModel(model_dir, work / "host")
        windows = [np.full((summary.steps, summary.channels), -128, np.int8),
                   np.full((summary.steps, summary.channels), 127, np.int8)]
        rng = np.random.default_rng(0)
        windows += [rng.integers(-128, 128, (summary.steps, summary.channels), dtype=np.int8)
                    for _ in range(2)]
        host_out = [host_model.invoke(w).tolist() for w in windows]
        for d in dev.values():
            d["equals_host_portable_build"] = d["outputs"] == host_out
        result["device_mps2_an386"] = dev
        best = dev["dsp_os"]
        result["summary"]["device_instructions_per_inference"] = best["instructions_per_inference"]
        result["summary"]["device_instructions_per_mac"] = round(best["instructions_per_mac"], 4)
        result["summary"]["device_instructions_per_mac_o2"] = round(
            dev["dsp_o2"]["instructions_per_mac"], 4)
        result["summary"]["device_instructions_per_mac_portable"] = round(
            dev["portable_os"]["instructions_per_mac"], 4)
        result["summary"]["targets"]["device_at_most_2_instr_per_mac"] = (
            best["instructions_per_mac"] <= 2.0)
    result["summary"]["code_bytes_dsp_o2"] = linked["dsp_o2"]["code_bytes"]
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return result
