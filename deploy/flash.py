"""``tinyrnn device flash``: build a real chip's firmware, check its images (deploy/images.py) and
write them to the board -- with pyocd through a CMSIS-DAP (DAPLink), ST-Link or J-Link probe, or,
for boards whose DAPLink shows a USB drive (micro:bit: MICROBIT), by copying the .hex onto it.

pyocd is optional (requirements-flash.lock, or ``pip install 'tinyrnn[flash]'``). When no board is
found the command says in one line what it looked for and writes nothing.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from tinyrnn.deploy.boards import board
from tinyrnn.deploy.firmware import build
from tinyrnn.deploy.images import FlashImage, check_image

PROBE_KINDS = "CMSIS-DAP (DAPLink), ST-Link and J-Link"
INSTALL_HINT = "pip install -r requirements-flash.lock (or pip install 'tinyrnn[flash]')"
MOUNT_ROOTS = ("/media", "/run/media", "/mnt", "/Volumes")


class FlashError(RuntimeError):
    """Nothing was written to a board; the message says why and what was looked for."""


@dataclass(frozen=True)
class FlashResult:
    env: str
    image: FlashImage
    method: str   # "pyocd <probe uid>" or "drive <path>"


def find_drive(label: str, roots: tuple[str, ...] | None = None) -> Path | None:
    """A mounted DAPLink drive named ``label`` (/media/<user>/MICROBIT, /Volumes/MICROBIT, ...)."""
    for root in map(Path, MOUNT_ROOTS if roots is None else roots):
        for candidate in (root / label, *root.glob(f"*/{label}")):
            if candidate.is_dir() and (candidate / "DETAILS.TXT").is_file():
                return candidate
    return None


def copy_to_drive(image: FlashImage, drive: Path) -> None:
    if not drive.is_dir():
        raise FlashError(f"--drive {drive} is not a mounted folder: plug the board in and mount "
                         f"its USB drive")
    target = drive / image.hex.name
    shutil.copyfile(image.hex, target)
    # DAPLink programs the chip when the file is closed; make sure it reached the device.
    with open(target, "rb") as fp:
        os.fsync(fp.fileno())


def _pyocd_flash(env: str, image: FlashImage, target: str, probe: str | None, also: str = "") -> str:
    try:
        from pyocd.core.helpers import ConnectHelper  # type: ignore[import-not-found]
        from pyocd.flash.file_programmer import FileProgrammer  # type: ignore[import-not-found]
    except ImportError as exc:
        raise FlashError(f"cannot flash {env}: pyocd is not installed ({INSTALL_HINT}); no probe "
                         f"was looked for, nothing was written") from exc
    probes = ConnectHelper.get_all_connected_probes(blocking=False, unique_id=probe,
                                                    print_wait_message=False)
    if not probes:
        which = f" with id {probe}" if probe else ""
        raise FlashError(f"no debug probe{which} found for {env}: pyocd looked for {PROBE_KINDS} "
                         f"probes on USB{also}; nothing was written")
    uid = probes[0].unique_id
    try:
        session = ConnectHelper.session_with_chosen_probe(
            blocking=False, unique_id=uid, target_override=target, auto_open=True,
            options={"frequency": 4000000})
    except Exception as exc:  # pyocd raises its own TargetSupportError, TransferError, ...
        raise FlashError(f"pyocd could not open {env} (target {target}) on probe {uid}: {exc}. "
                         f"If the target is unknown, install its pack once (internet): pyocd pack "
                         f"install {target}") from exc
    if session is None:
        raise FlashError(f"pyocd found probe {uid} but opened no session for {env}")
    with session:
        FileProgrammer(session).program(str(image.hex), file_format="hex")
        session.target.reset()
    return f"pyocd probe {uid}"


def flash(env: str, model_dir: Path | None = None, probe: str | None = None,
          drive: Path | None = None) -> FlashResult:
    """Build ``env`` for the model, check its images and write them to the board."""
    b = board(env)
    if not b.real_chip:
        raise FlashError(f"{env} is not a bare-metal real chip (board JSON without build.port): "
                         f"flash Arduino-core boards with `pio run -e {env} -t upload`")
    if b.pyocd_target is None and drive is None and b.daplink_drive is None:
        raise FlashError(f"{env}'s board JSON names no debug.pyocd_target and no DAPLink drive")
    if drive is None and b.daplink_drive:
        drive = find_drive(b.daplink_drive)
    fw = build(env, model_dir)
    image = check_image(env, fw.elf)
    if drive is not None:
        copy_to_drive(image, drive)
        return FlashResult(env, image, f"drive {drive}")
    if b.pyocd_target is None:
        raise FlashError(f"no {b.daplink_drive} drive mounted for {env} and no pyocd target; "
                         f"nothing was written")
    also = (f", and for a mounted {b.daplink_drive} drive under {', '.join(MOUNT_ROOTS)}"
            if b.daplink_drive else "")
    return FlashResult(env, image, _pyocd_flash(env, image, b.pyocd_target, probe, also))
