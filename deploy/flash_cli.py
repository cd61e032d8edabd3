"""``tinyrnn device flash``: wired into deploy/cli.py's ``device`` group."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from tinyrnn.deploy.boards import real_chip_envs


def register(dev_sub: argparse._SubParsersAction,
             strict: Callable[[Callable[[argparse.Namespace], int]],
                              Callable[[argparse.Namespace], int]]) -> None:
    envs = real_chip_envs()
    p = dev_sub.add_parser(
        "flash", help="build the firmware and write it to a connected board (pyocd or DAPLink drive)",
        description="Builds ENV's firmware for the model, checks program.bin/.hex (addresses, "
        "vector table) and writes it with pyocd (CMSIS-DAP/DAPLink, ST-Link, J-Link) or copies "
        "the .hex to a DAPLink USB drive. Then: tinyrnn device eval MODEL --env ENV --port "
        "/dev/ttyACM0.")
    p.add_argument("--env", required=True, choices=envs, help="real-chip environment")
    p.add_argument("--model-dir", type=Path,
                   help="model folder from convert/compile (default: protocol fixture)")
    p.add_argument("--probe", help="pyocd probe unique id (default: the only one connected)")
    p.add_argument("--drive", type=Path,
                   help="DAPLink drive to copy the .hex to (default: auto-detect, e.g. MICROBIT)")
    p.set_defaults(func=strict(_cmd_flash))


def _cmd_flash(args: argparse.Namespace) -> int:
    from tinyrnn.deploy.firmware import BuildError
    from tinyrnn.deploy.flash import FlashError, flash
    from tinyrnn.deploy.images import ImageError
    from tinyrnn.deploy.pio_bootstrap import BootstrapError

    try:
        result = flash(args.env, args.model_dir, probe=args.probe, drive=args.drive)
    except (FlashError, ImageError, BuildError, BootstrapError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    im = result.image
    print(f"flashed {args.env} via {result.method}: {im.hex} ({im.size} B at "
          f"{im.load_address:#010x})")
    return 0
