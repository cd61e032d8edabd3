"""The package as a user installs it: a wheel, a fresh venv, one top-level name, firmware inside.

The fresh venv borrows the project venv's third-party packages through a path entry (so
TensorFlow is not installed twice) but not its editable tinyrnn: the tinyrnn imported in it must
be the wheel's.
"""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # Build from a copy: setuptools writes build/ and *.egg-info into the source tree.
    src = out / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", ".pio", "*.egg-info", "__pycache__", ".pytest_cache",
        ".ruff_cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "-w", str(out), str(src)],
                   check=True, capture_output=True, text=True, timeout=300, cwd=out)
    (found,) = out.glob("tinyrnn-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> Path:
    root = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True,
                   timeout=120)
    py = root / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             check=True, capture_output=True, text=True).stdout.strip()
    # Third-party packages from the project venv, appended after the wheel's own site-packages;
    # a plain path entry does not run that folder's .pth files (no editable tinyrnn comes along).
    Path(purelib, "project-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet",
                    "--no-deps", str(wheel)], check=True, capture_output=True, text=True,
                   timeout=300)
    return root


def test_wheel_installs_one_top_level_name_and_the_firmware(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"tinyrnn", wheel.name.split("-py")[0] + ".dist-info"}
    for must in ("tinyrnn/train/dataset.py", "tinyrnn/convert/aot/compiler.py",
                 "tinyrnn/deploy/link.py", "tinyrnn/cli/__init__.py", "tinyrnn/core/buildtree.py",
                 "tinyrnn/firmware/platformio.ini", "tinyrnn/firmware/lib/tinyrnn/library.json"):
        assert must in names, must


def test_fresh_venv_runs_the_command_and_imports_from_the_wheel(venv, tmp_path):
    r = subprocess.run([str(venv / "bin" / "tinyrnn"), "--version"], capture_output=True,
                       text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("tinyrnn "), r.stderr
    code = ("import tinyrnn, tinyrnn.pipeline, tinyrnn.train.dataset\n"
            "from tinyrnn.core.resources import firmware_dir\n"
            "print(tinyrnn.__file__)\n"
            "print(firmware_dir())\n")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True,
                         text=True, cwd=tmp_path, timeout=120, check=True).stdout.split("\n")
    assert out[0].startswith(str(venv)), f"tinyrnn imported from {out[0]}, not the wheel"
    firmware = Path(out[1])
    assert firmware.is_relative_to(venv)
    assert (firmware / "platformio.ini").is_file()
    assert (firmware / "lib" / "tinyrnn" / "src").is_dir()
