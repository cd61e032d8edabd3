"""Which boards exist and what each one is, read from firmware/platformio.ini and the board JSONs of
the project-local platform: the one place a board is declared (firmware/README.md, "Adding a
board"). Nothing here lists board names.

An environment is
* emulated (``qemu_machine``) when its board JSON names a QEMU machine: it builds offline and runs
  in QEMU -- the Arm FPGA boards and the real chips alike;
* a real chip (``chip_port``) when its board JSON has ``build.port``: bare-metal code for a chip you
  can buy, the same ELF on the board and in QEMU, flashed with pyocd (``debug.pyocd_target``);
* an Arduino-core board otherwise (vendor platform, needs PlatformIO's registry).
"""

from __future__ import annotations

import configparser
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

from tinyrnn.deploy.pio_bootstrap import FIRMWARE_DIR

PLATFORMIO_INI = FIRMWARE_DIR / "platformio.ini"
LOCAL_PLATFORM_DIR = FIRMWARE_DIR / "platforms" / "tinyrnn-qemu"
LOCAL_BOARDS_DIR = LOCAL_PLATFORM_DIR / "boards"
LDSCRIPTS_DIR = LOCAL_PLATFORM_DIR / "ldscripts"
LOCAL_PLATFORM_MARK = "platforms/tinyrnn-qemu"


class BoardError(ValueError):
    """An unknown environment or an inconsistent board declaration."""


@dataclass(frozen=True)
class MemoryRegion:
    origin: int
    length: int

    @property
    def end(self) -> int:
        return self.origin + self.length

    def __contains__(self, address: object) -> bool:
        return isinstance(address, int) and self.origin <= address < self.end


@dataclass(frozen=True)
class Board:
    env: str
    board: str
    platform: str
    backend: str
    name: str = ""
    qemu_machine: str | None = None
    chip_port: str | None = None
    cpu: str = ""
    pyocd_target: str | None = None
    daplink_drive: str | None = None
    ldscript: str | None = None
    max_flash: int | None = None
    max_ram: int | None = None

    @property
    def emulated(self) -> bool:
        return self.qemu_machine is not None

    @property
    def real_chip(self) -> bool:
        return self.chip_port is not None

    @property
    def offline(self) -> bool:
        """Builds with nothing from PlatformIO's registry (the project-local platform)."""
        return LOCAL_PLATFORM_MARK in self.platform

    def memory(self) -> dict[str, MemoryRegion]:
        """FLASH and RAM from the board's linker script (the only place they are written)."""
        if not self.ldscript:
            raise BoardError(f"{self.env} has no linker script in this repository (vendor board)")
        return linker_memory(LDSCRIPTS_DIR / self.ldscript)


_SIZE = re.compile(r"(0x[0-9a-fA-F]+|\d+)\s*([KM]?)")
_REGION = re.compile(
    r"^\s*(\w+)\s*\([^)]*\)\s*:\s*ORIGIN\s*=\s*(\S+?)\s*,\s*LENGTH\s*=\s*(\S+)\s*$", re.M
)


def _number(text: str) -> int:
    m = _SIZE.fullmatch(text.strip())
    if m is None:
        raise BoardError(f"cannot read the number {text!r} in a linker script")
    value = int(m.group(1), 0)
    return value * {"": 1, "K": 1024, "M": 1024 * 1024}[m.group(2)]


def linker_memory(ldscript: Path) -> dict[str, MemoryRegion]:
    text = ldscript.read_text(encoding="utf-8")
    regions = {name: MemoryRegion(_number(origin), _number(length))
               for name, origin, length in _REGION.findall(text)}
    if not {"FLASH", "RAM"} <= set(regions):
        raise BoardError(f"{ldscript} defines no FLASH and RAM MEMORY regions")
    return regions


def _read_ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False,
                                       inline_comment_prefixes=(";",), comment_prefixes=(";", "#"))
    parser.read(path, encoding="utf-8")
    return parser


def _option(ini: configparser.ConfigParser, section: str, key: str, seen: tuple[str, ...] = ()
            ) -> str | None:
    """A section's option, following PlatformIO's ``extends`` chain."""
    if section in seen or not ini.has_section(section):
        return None
    if ini.has_option(section, key):
        return ini.get(section, key).strip()
    parents = ini.get(section, "extends", fallback="")
    for parent in (p.strip() for p in parents.split(",") if p.strip()):
        value = _option(ini, parent, key, (*seen, section))
        if value is not None:
            return value
    return None


@functools.lru_cache(maxsize=4)
def _boards(ini_path: Path, mtime_ns: int) -> dict[str, Board]:
    ini = _read_ini(ini_path)
    boards: dict[str, Board] = {}
    for section in ini.sections():
        if not section.startswith("env:"):
            continue
        env = section[4:]
        board_id = _option(ini, section, "board") or ""
        platform = _option(ini, section, "platform") or ""
        backend = _option(ini, section, "custom_backend") or "tinyrnn"
        fields: dict[str, object] = {}
        if LOCAL_PLATFORM_MARK in platform:
            path = LOCAL_BOARDS_DIR / f"{board_id}.json"
            if not path.is_file():
                raise BoardError(f"{ini_path}: [env:{env}] names board {board_id!r}, but "
                                 f"{path} does not exist")
            data = json.loads(path.read_text(encoding="utf-8"))
            build = data.get("build", {})
            upload = data.get("upload", {})
            debug = data.get("debug", {})
            fields = dict(
                name=str(data.get("name", "")),
                qemu_machine=data.get("qemu", {}).get("machine"),
                chip_port=build.get("port") or None,
                cpu=str(build.get("cpu", "")),
                pyocd_target=debug.get("pyocd_target"),
                daplink_drive=debug.get("daplink_drive"),
                ldscript=build.get("ldscript"),
                max_flash=upload.get("maximum_size"),
                max_ram=upload.get("maximum_ram_size"),
            )
        boards[env] = Board(env=env, board=board_id, platform=platform, backend=backend,
                            **fields)  # type: ignore[arg-type]
    return boards


def all_boards(ini_path: Path = PLATFORMIO_INI) -> dict[str, Board]:
    """Every ``[env:...]`` of platformio.ini, in file order."""
    return _boards(ini_path, ini_path.stat().st_mtime_ns)


def board(env: str) -> Board:
    boards = all_boards()
    if env not in boards:
        raise BoardError(f"no environment {env!r} in {PLATFORMIO_INI}: known are "
                         f"{', '.join(boards)}")
    return boards[env]


def emulated_envs() -> tuple[str, ...]:
    return tuple(e for e, b in all_boards().items() if b.emulated)


def real_chip_envs() -> tuple[str, ...]:
    return tuple(e for e, b in all_boards().items() if b.real_chip)


def arduino_envs() -> tuple[str, ...]:
    return tuple(e for e, b in all_boards().items() if not b.offline)


def flashable_envs() -> tuple[str, ...]:
    """Environments `tinyrnn device flash` can write: real chips and the Arduino-core boards."""
    return tuple(e for e, b in all_boards().items() if b.real_chip or not b.offline)
