"""The flash images the platform's builder writes next to the ELF (program.bin, program.hex: see
firmware/platforms/tinyrnn-qemu/builder/main.py), checked against the board's linker script before
anything is written to a chip, and booted in QEMU straight from the image (not the ELF).

Checks: the .hex starts at the flash origin and holds exactly the .bin's bytes; the image fits the
flash; the vector table's initial stack pointer lies in RAM (it may equal RAM's end: the stack
grows down) and its reset vector is a Thumb address (odd) inside the image. None of the chips here
needs an image checksum (the STM32F4 boots any image; the nRF51 needs no UICR entry for code at 0).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from tinyrnn.deploy.boards import board
from tinyrnn.deploy.link import QemuBoard


class ImageError(RuntimeError):
    """A flash image is missing or would not boot on its chip."""


@dataclass(frozen=True)
class FlashImage:
    env: str
    bin: Path
    hex: Path
    load_address: int
    size: int
    initial_sp: int
    reset_vector: int


def image_paths(elf: Path) -> tuple[Path, Path]:
    return elf.with_suffix(".bin"), elf.with_suffix(".hex")


def read_ihex(path: Path) -> dict[int, int]:
    """Address -> byte of an Intel HEX file (record types 00, 01, 02, 03, 04, 05)."""
    data: dict[int, int] = {}
    base = 0
    for lineno, line in enumerate(path.read_text(encoding="ascii").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if not line.startswith(":"):
            raise ImageError(f"{path}:{lineno}: not an Intel HEX record")
        raw = bytes.fromhex(line[1:])
        if len(raw) < 5 or len(raw) != raw[0] + 5:
            raise ImageError(f"{path}:{lineno}: record length does not match its count byte")
        if sum(raw) & 0xFF:
            raise ImageError(f"{path}:{lineno}: record checksum is wrong")
        count, offset, kind, payload = raw[0], (raw[1] << 8) | raw[2], raw[3], raw[4:-1]
        if kind == 0:
            for i, b in enumerate(payload[:count]):
                data[base + offset + i] = b
        elif kind == 1:
            break
        elif kind == 2:
            base = int.from_bytes(payload, "big") << 4
        elif kind == 4:
            base = int.from_bytes(payload, "big") << 16
        elif kind not in (3, 5):
            raise ImageError(f"{path}:{lineno}: unknown record type {kind}")
    return data


def check_image(env: str, elf: Path) -> FlashImage:
    bin_path, hex_path = image_paths(elf)
    for p in (bin_path, hex_path):
        if not p.is_file():
            raise ImageError(f"no {p.name} next to {elf}: rebuild the firmware (tinyrnn firmware "
                             f"build --env {env}); the platform's builder writes it")
    mem = board(env).memory()
    flash, ram = mem["FLASH"], mem["RAM"]
    raw = bin_path.read_bytes()
    hexdata = read_ihex(hex_path)
    if not hexdata:
        raise ImageError(f"{hex_path} holds no data")
    low = min(hexdata)
    if low != flash.origin:
        raise ImageError(f"{hex_path} starts at {low:#010x}, not at {env}'s flash origin "
                         f"{flash.origin:#010x}")
    image = bytes(hexdata.get(low + i, 0) for i in range(max(hexdata) - low + 1))
    if image != raw:
        raise ImageError(f"{bin_path} and {hex_path} hold different bytes")
    if len(raw) > flash.length:
        raise ImageError(f"{bin_path} is {len(raw)} bytes; {env} has {flash.length} bytes of flash")
    if len(raw) < 8:
        raise ImageError(f"{bin_path} is too short to hold a vector table")
    sp, reset = struct.unpack_from("<II", raw, 0)
    if not ram.origin < sp <= ram.end or sp % 8:
        raise ImageError(f"{bin_path}: initial stack pointer {sp:#010x} is not an 8-byte aligned "
                         f"address in RAM [{ram.origin:#010x}, {ram.end:#010x}]")
    if reset % 2 == 0 or not flash.origin <= reset - 1 < flash.origin + len(raw):
        raise ImageError(f"{bin_path}: reset vector {reset:#010x} is not a Thumb address inside "
                         f"the image [{flash.origin:#010x}, {flash.origin + len(raw):#010x})")
    return FlashImage(env, bin_path, hex_path, flash.origin, len(raw), sp, reset)


class QemuImageBoard(QemuBoard):
    """QEMU booting a flash image instead of the ELF: a .hex through QEMU's generic loader (it
    carries its addresses), a .bin with -kernel (QEMU puts a raw Cortex-M image at address 0,
    where each of these chips aliases or holds the start of its code memory)."""

    def command_line(self, port: int) -> list[str]:
        cmd = super().command_line(port)
        i = cmd.index("-kernel")
        if self.elf.suffix == ".hex":
            cmd[i:i + 2] = ["-device", f"loader,file={self.elf}"]
        return cmd
