"""Make PlatformIO 6.2 work with no registry: a core dir inside the build tree holding a
tool-scons package assembled from the SCons wheel installed in this venv.

PlatformIO asks its registry for ``platformio/tool-scons`` before every build; the registry is
unreachable here and each attempt stalls ~61 s before failing. The package it wants is just SCons
plus a launcher, so we build it from the PyPI wheel (docs/toolchain-facts.md). Everything is idempotent:
a second call checks a few files and returns.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tinyrnn.core.buildtree import build_root as core_build_root
from tinyrnn.core.resources import firmware_dir

FIRMWARE_DIR = firmware_dir()

# PlatformIO 6.2.0 pins ``tool-scons @ ~4.41101.0`` (platformio/dependencies.py): SCons 4.11.1.
SCONS_VERSION = "4.11.1"
TOOL_SCONS_VERSION = "4.41101.0"

_LAUNCHER = '''\
"""SCons launcher made by tinyrnn's deploy/pio_bootstrap.py from the PyPI scons wheel."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import SCons.Script.Main  # noqa: E402

SCons.Script.Main.main()
'''


class BootstrapError(RuntimeError):
    """The offline PlatformIO set-up cannot be made; the message says what to install."""


@dataclass(frozen=True)
class PioSetup:
    """Where PlatformIO lives and the environment every ``pio`` call must run with."""

    core_dir: Path
    pio: Path
    env: dict[str, str] = field(repr=False)

    def command(self, *args: str) -> list[str]:
        return [str(self.pio), *args]


def build_root() -> Path:
    """The build tree by the one rule (tinyrnn.core.buildtree), absolute for PlatformIO."""
    return core_build_root().resolve()


def find_pio() -> Path:
    """The ``pio`` script beside this interpreter (the venv's), else on PATH."""
    here = Path(sys.executable).parent / "pio"
    if here.is_file():
        return here
    found = shutil.which("pio") or shutil.which("platformio")
    if not found:
        raise BootstrapError(
            "PlatformIO is not installed: run `make venv` (it installs platformio==6.2.0 from "
            "requirements.lock) or `pip install platformio==6.2.0`."
        )
    return Path(found)


def _scons_source() -> Path:
    spec = importlib.util.find_spec("SCons")
    if spec is None or not spec.submodule_search_locations:
        raise BootstrapError(
            f"SCons is not importable from {sys.executable}: run "
            f"`pip install scons=={SCONS_VERSION}` in the venv (PlatformIO needs it as tool-scons)."
        )
    src = Path(next(iter(spec.submodule_search_locations)))
    version = _read_scons_version(src)
    if version != SCONS_VERSION:
        raise BootstrapError(
            f"SCons {version} found at {src}, but PlatformIO 6.2.0 needs exactly {SCONS_VERSION}: "
            f"run `pip install scons=={SCONS_VERSION}`."
        )
    return src


def _read_scons_version(src: Path) -> str:
    # Read the version without importing SCons into this process (it patches builtins).
    for line in (src / "__init__.py").read_text(encoding="utf-8").splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    return "unknown"


def _tool_scons_ok(pkg: Path) -> bool:
    try:
        meta = json.loads((pkg / ".piopm").read_text(encoding="utf-8"))
        manifest = json.loads((pkg / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        meta.get("version") == TOOL_SCONS_VERSION
        and (meta.get("spec") or {}).get("owner") == "platformio"
        and manifest.get("version") == TOOL_SCONS_VERSION
        and (pkg / "scons.py").is_file()
        and (pkg / "SCons" / "Script" / "Main.py").is_file()
    )


def _make_tool_scons(packages: Path) -> Path:
    pkg = packages / "tool-scons"
    if _tool_scons_ok(pkg):
        return pkg
    src = _scons_source()
    packages.mkdir(parents=True, exist_ok=True)
    # Assemble beside the target and rename, so an interrupted run never leaves a half package
    # that PlatformIO would accept.
    tmp = Path(tempfile.mkdtemp(dir=packages, prefix=".tool-scons."))
    tmp.chmod(0o755)
    try:
        shutil.copytree(src, tmp / "SCons", ignore=shutil.ignore_patterns("__pycache__"))
        (tmp / "scons.py").write_text(_LAUNCHER, encoding="utf-8")
        manifest = {
            "name": "tool-scons",
            "version": TOOL_SCONS_VERSION,
            "description": f"SCons {SCONS_VERSION} from the PyPI wheel (tinyrnn offline bootstrap)",
            "keywords": ["build tool"],
            "homepage": "https://scons.org",
            "license": "MIT",
            "system": "*",
        }
        (tmp / "package.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        # package.json alone is not enough: PlatformIO matches core packages by the owner
        # recorded in .piopm (docs/toolchain-facts.md).
        meta = {
            "type": "tool",
            "name": "tool-scons",
            "version": TOOL_SCONS_VERSION,
            "spec": {
                "owner": "platformio",
                "id": None,
                "name": "tool-scons",
                "requirements": None,
                "uri": None,
            },
        }
        (tmp / ".piopm").write_text(json.dumps(meta), encoding="utf-8")
        if pkg.exists():
            shutil.rmtree(pkg)
        tmp.rename(pkg)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return pkg


def _pin_last_version(core_dir: Path) -> None:
    """Record the running PlatformIO version as already set up.

    On a version change PlatformIO "upgrades" its core packages from the registry before the
    command runs (maintenance.after_upgrade); on a fresh core it prints a banner. Neither is wanted.
    """
    from platformio import __version__ as pio_version

    state_path = core_dir / "appstate.json"
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state = {}
    if state.get("last_version") == pio_version:
        return
    state["last_version"] = pio_version
    state_path.write_text(json.dumps(state), encoding="utf-8")


def pio_environment(core_dir: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env.update(
        PLATFORMIO_CORE_DIR=str(core_dir),
        PLATFORMIO_SETTING_ENABLE_TELEMETRY="No",
        PLATFORMIO_DISABLE_UPGRADE_CHECK="true",
        PLATFORMIO_NO_ANSI="true",
    )
    # ccache (scripts/install-toolchain.sh) in front of the Arm compilers: firmwares for different
    # models on one board share every object but the model's, and the TFLM glue is C++ that takes
    # seconds to parse. Its cache sits in the build tree; TINYRNN_CCACHE=0 turns it off.
    if shutil.which("ccache") and env.get("TINYRNN_CCACHE", "1") != "0":
        env["TINYRNN_COMPILER_LAUNCHER"] = "ccache"
        env.setdefault("CCACHE_DIR", str(core_dir.parent / "ccache"))
    else:
        env.pop("TINYRNN_COMPILER_LAUNCHER", None)
    # pio runs SCons with the interpreter it was installed with; make sure the venv's bin (pio,
    # python) is found before any other PlatformIO on PATH.
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    return env


def bootstrap(core_dir: Path | None = None) -> PioSetup:
    """Prepare the offline PlatformIO core (idempotent) and return how to call ``pio``."""
    core = (core_dir or build_root() / "pio-core").resolve()
    core.mkdir(parents=True, exist_ok=True)
    # Builds may start side by side (device compare workers, parallel test workers): one of
    # them assembles the package while the others wait, instead of replacing it under them.
    with open(core / ".bootstrap.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _make_tool_scons(core / "packages")
        _pin_last_version(core)
    return PioSetup(core_dir=core, pio=find_pio(), env=pio_environment(core))


def main() -> int:
    setup = bootstrap()
    print(f"PLATFORMIO_CORE_DIR={setup.core_dir}")
    print(f"pio={setup.pio}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
