"""Build the firmware with PlatformIO (offline for the QEMU boards) and measure what it occupies."""

from __future__ import annotations

import hashlib
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tinyrnn.deploy.boards import board, emulated_envs, flashable_envs
from tinyrnn.deploy.pio_bootstrap import FIRMWARE_DIR, bootstrap, build_root

# Derived from platformio.ini and the board JSONs (deploy/boards.py), never listed here.
QEMU_ENVS: tuple[str, ...] = emulated_envs()
DEFAULT_ENV = "mps2-an386"
REAL_BOARD_ENVS: tuple[str, ...] = flashable_envs()
FIXTURE_MODEL_DIR = FIRMWARE_DIR / "test" / "fixture_model"

# Sections the linker places in flash and in RAM (see the platform's cortexm_sections.ld).
FLASH_SECTIONS = (".isr_vector", ".text", ".rodata", ".ARM.extab", ".ARM.exidx", ".init_array",
                  ".data")
RAM_SECTIONS = (".data", ".bss", ".stack")


class BuildError(RuntimeError):
    """PlatformIO failed; the message carries the end of its log and, when known, the cause."""

    def __init__(self, message: str, log: str = "") -> None:
        super().__init__(message)
        self.log = log


@dataclass(frozen=True)
class MemoryUsage:
    flash: int
    ram: int
    stack: int
    sections: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class FirmwareBuild:
    env: str
    model_dir: Path
    build_dir: Path
    elf: Path
    seconds: float
    log: str = field(repr=False, default="")

    def memory(self) -> MemoryUsage:
        return memory_usage(self.elf)


def is_qemu_env(env: str) -> bool:
    return env in QEMU_ENVS


def qemu_machine(env: str) -> str:
    machine = board(env).qemu_machine
    if machine is None:
        raise ValueError(f"{env} does not run in QEMU (its board JSON names no qemu.machine)")
    return machine


def _slug(model_dir: Path) -> str:
    model_dir = model_dir.resolve()
    if model_dir == FIXTURE_MODEL_DIR.resolve():
        return "fixture"
    # build/models/<name>/tinyrnn -> <name>-tinyrnn: readable and distinct per model and backend.
    raw = f"{model_dir.parent.name}-{model_dir.name}"
    if model_dir.parent.parent != (build_root() / "models").resolve():
        # A folder elsewhere (an API export, a test's temporary folder) may share its name with
        # another one: builds of the two must not land in one folder.
        raw += "-" + hashlib.sha256(str(model_dir).encode()).hexdigest()[:8]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", raw)


def default_build_dir(model_dir: Path) -> Path:
    return build_root() / "firmware" / _slug(model_dir)


def build(
    env: str = DEFAULT_ENV,
    model_dir: Path | None = None,
    build_dir: Path | None = None,
    extra_env: dict[str, str] | None = None,
    timeout: float = 900.0,
    verbose: bool = False,
) -> FirmwareBuild:
    """``pio run -e ENV`` with the model folder; returns where the ELF is."""
    model = (model_dir or FIXTURE_MODEL_DIR).resolve()
    if not model.is_dir():
        raise BuildError(
            f"model folder {model} does not exist: run `tinyrnn convert` first or pass "
            f"--model-dir build/models/<name>/tinyrnn"
        )
    out = (build_dir or default_build_dir(model)).resolve()
    setup = bootstrap()
    child_env = dict(setup.env)
    child_env.update(TINYRNN_MODEL_DIR=str(model), PLATFORMIO_BUILD_DIR=str(out))
    if extra_env:
        child_env.update(extra_env)
    cmd = setup.command("run", "-d", str(FIRMWARE_DIR), "-e", env)
    if verbose:
        cmd.append("-v")
    start = time.monotonic()
    try:
        proc = subprocess.run(
            cmd, env=child_env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BuildError(
            f"`pio run -e {env}` did not finish in {timeout:.0f} s. If it stalled at the start, "
            f"PlatformIO is trying to reach its registry: real-board environments need internet; "
            f"the QEMU ones ({', '.join(QEMU_ENVS)}) must not."
        ) from exc
    seconds = time.monotonic() - start
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise BuildError(_explain_failure(env, model, log), log)
    elf = out / env / "program.elf"
    if not elf.is_file():
        raise BuildError(f"`pio run -e {env}` succeeded but wrote no {elf}", log)
    return FirmwareBuild(env=env, model_dir=model, build_dir=out, elf=elf, seconds=seconds, log=log)


def _explain_failure(env: str, model: Path, log: str) -> str:
    tail = "\n".join(log.strip().splitlines()[-25:])
    overflow = re.search(r"region [`'](\w+)' overflowed by (\d+) bytes", log)
    if overflow:
        region, excess = overflow.groups()
        return (
            f"the model {model.name} does not fit on {env}: {region} overflowed by {excess} bytes. "
            f"Use a smaller model or a board with more {region}.\n{tail}"
        )
    if "HTTPClientError" in log or "Could not find the package" in log:
        return (
            f"`pio run -e {env}` needed PlatformIO's registry, which is unreachable. Only the QEMU "
            f"environments ({', '.join(QEMU_ENVS)}) build offline.\n{tail}"
        )
    return f"`pio run -e {env}` failed for model {model}:\n{tail}"


def memory_usage(elf: Path) -> MemoryUsage:
    """Flash and RAM from the ELF's section headers (arm-none-eabi-size -A)."""
    proc = subprocess.run(
        ["arm-none-eabi-size", "-A", "-d", str(elf)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise BuildError(f"arm-none-eabi-size failed on {elf}: {proc.stderr.strip()}")
    sections: dict[str, int] = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
            sections[parts[0]] = int(parts[1])
    flash = sum(sections.get(s, 0) for s in FLASH_SECTIONS)
    ram = sum(sections.get(s, 0) for s in RAM_SECTIONS)
    return MemoryUsage(flash=flash, ram=ram, stack=sections.get(".stack", 0), sections=sections)


def upload(env: str, port: str, model_dir: Path | None = None, timeout: float = 900.0) -> None:
    """Flash an Arduino-core board with ``pio run -t upload`` (needs the board's registry
    packages); the bare-metal chips go through deploy/flash.py (see deploy/session.py)."""
    if is_qemu_env(env):
        raise ValueError(f"{env} is emulated: start it with tinyrnn.deploy.link.QemuBoard, not upload")
    model = (model_dir or FIXTURE_MODEL_DIR).resolve()
    setup = bootstrap()
    child_env = dict(setup.env)
    child_env.update(TINYRNN_MODEL_DIR=str(model),
                     PLATFORMIO_BUILD_DIR=str(default_build_dir(model)))
    cmd = setup.command("run", "-d", str(FIRMWARE_DIR), "-e", env, "-t", "upload",
                        "--upload-port", port)
    proc = subprocess.run(cmd, env=child_env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    if proc.returncode != 0:
        raise BuildError(_explain_failure(env, model, proc.stdout + proc.stderr),
                         proc.stdout + proc.stderr)


def env_exists(env: str) -> bool:
    from tinyrnn.deploy.boards import all_boards

    return env in all_boards()


__all__ = [
    "DEFAULT_ENV",
    "FIXTURE_MODEL_DIR",
    "QEMU_ENVS",
    "REAL_BOARD_ENVS",
    "BuildError",
    "FirmwareBuild",
    "MemoryUsage",
    "build",
    "env_exists",
    "is_qemu_env",
    "memory_usage",
    "qemu_machine",
    "upload",
]
