"""Files that ship with tinyrnn: the PlatformIO firmware project (and, in a checkout, the repo).

In a source checkout (editable install, or PYTHONPATH pointing at a worktree) the firmware is
the ``firmware/`` folder beside ``tinyrnn/``; in an installed wheel it is package data,
``tinyrnn/firmware`` (pyproject maps the folder to the ``tinyrnn.firmware`` package).
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
# The source checkout's root (relative settings such as TFLM_TREE resolve against it).
CHECKOUT_ROOT = PACKAGE_DIR.parent
_CHECKOUT = CHECKOUT_ROOT


def firmware_dir() -> Path:
    """The PlatformIO project (platformio.ini, src/, lib/tinyrnn/, platforms/)."""
    candidates = [_CHECKOUT / "firmware", PACKAGE_DIR / "firmware"]
    try:
        candidates.append(Path(str(importlib.resources.files("tinyrnn.firmware"))))
    except ModuleNotFoundError:
        pass
    for path in candidates:
        if (path / "platformio.ini").is_file():
            return path
    raise FileNotFoundError(
        "the tinyrnn firmware project is missing (looked in "
        f"{', '.join(str(c) for c in candidates)}); reinstall tinyrnn")


def runtime_src_dir() -> Path:
    """The C99 runtime's sources and headers (the PlatformIO library ``lib/tinyrnn``)."""
    return firmware_dir() / "lib" / "tinyrnn" / "src"


def budgets_file() -> Path:
    """budgets.json, the per-board limits of the CI gate: the checkout's, else the working
    directory's (an installed package has no checkout; ``tinyrnn budget --budgets`` overrides)."""
    checkout = _CHECKOUT / "budgets.json"
    return checkout if checkout.is_file() else Path("budgets.json")
