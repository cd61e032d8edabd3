"""Budget measurements of TFLM firmware (``"backend": "tflm"`` / ``"tflm-cmsis-nn"`` models in
budgets.json): the same generated int8 model as the tinyrnn entries, run on TensorFlow Lite Micro,
so a TFLM upgrade or a glue change that grows the firmware fails ``tinyrnn budget`` like ours does.
"""

from __future__ import annotations

import json
from pathlib import Path


def measure_tflm(spec, tflite: Path, env: str, windows: int, build_dir: Path):
    """Measurement of spec's model on TFLM (backend spec.backend) on env, built in build_dir."""
    import numpy as np

    from tinyrnn.convert.arena import measure_arena
    from tinyrnn.deploy.budget_records import Measurement
    from tinyrnn.deploy.elf import symbol_sizes
    from tinyrnn.deploy.firmware import memory_usage, qemu_machine
    from tinyrnn.deploy.link import QemuBoard
    from tinyrnn.deploy.tflm_firmware import TflmModel, build_tflm

    summary = tflite.parent / "tinyrnn" / "summary.json"  # MACs of the same model
    macs = int(json.loads(summary.read_text(encoding="utf-8"))["macs"]) if summary.is_file() else 0
    model = TflmModel(tflite, spec.name, spec.steps, spec.channels,
                      [f"class{k}" for k in range(spec.classes)], [0.0] * spec.channels,
                      [1.0] * spec.channels, int(measure_arena(tflite)["arena_bytes"]), macs)
    fw = build_tflm(model, env, spec.backend, build_dir=build_dir)
    mem = memory_usage(fw.firmware.elf)
    # Model bytes: the flatbuffer TFLM reads in flash (weights, quantization and graph).
    model_bytes = symbol_sizes(fw.firmware.elf).get("tinyrnn_model_tflite", 0)
    rng = np.random.default_rng(1234)
    wins = rng.integers(-128, 128, (windows, spec.steps, spec.channels), dtype=np.int8)
    with QemuBoard(fw.firmware.elf, qemu_machine(env)) as dev:
        info = dev.identify()
        results = [dev.classify(w, 2) for w in wins]
    count = max(r.count_max for r in results)
    return Measurement(
        model=spec.name, env=env, flash_bytes=mem.flash, ram_bytes=mem.ram,
        model_bytes=model_bytes, instructions_per_inference=count, macs=info.macs,
        instructions_per_mac=round(count / info.macs, 3) if info.macs else 0.0,
        counter=info.counter_unit, counts_repeat=all(r.count_min == r.count_max for r in results),
        arena_bytes=info.arena_bytes, state_bytes=info.state_bytes,
    )
