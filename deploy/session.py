"""One entry point for "give me a device running this model": build + QEMU, or a real board."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tinyrnn.deploy.boards import board
from tinyrnn.deploy.firmware import DEFAULT_ENV, FirmwareBuild, build, is_qemu_env, qemu_machine, upload
from tinyrnn.deploy.flash import flash as flash_board
from tinyrnn.deploy.link import DEFAULT_TIMEOUT, Device, QemuBoard, open_serial


@dataclass
class Session:
    device: Device
    env: str
    firmware: FirmwareBuild | None
    emulated: bool


@contextlib.contextmanager
def open_device(
    env: str = DEFAULT_ENV,
    port: str | None = None,
    model_dir: Path | None = None,
    elf: Path | None = None,
    flash: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> Iterator[Session]:
    """Yield a synced, identified device; QEMU is always stopped on exit.

    ``port`` selects real hardware (e.g. /dev/ttyACM0) running firmware for ``env``; with
    ``flash`` it is uploaded first. Without a port, ``env`` must be a QEMU board: the firmware is
    built for ``model_dir`` (unless ``elf`` is given) and started in the emulator."""
    if port is not None:
        if flash and board(env).real_chip:
            flash_board(env, model_dir)
        elif flash:
            upload(env, port, model_dir)
        dev = open_serial(port, timeout=timeout)
        try:
            dev.identify()
            yield Session(device=dev, env=env, firmware=None, emulated=False)
        finally:
            dev.close()
        return
    if not is_qemu_env(env):
        raise ValueError(
            f"{env} is a real board: pass its serial port (e.g. --port /dev/ttyACM0), or pick a "
            f"QEMU board"
        )
    fw = None
    if elf is None:
        fw = build(env, model_dir)
        elf = fw.elf
    with QemuBoard(elf, qemu_machine(env), timeout=timeout) as dev:
        dev.identify()
        yield Session(device=dev, env=env, firmware=fw, emulated=True)
