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


def test_fresh_venv_api_call_exports_a_users_model(venv, tmp_path):
    """One Python API call from the installed wheel: a SimpleRNN built here (nothing trained)
    -> int8 model, C array, tinyrnn C (built with the runtime sources shipped in the wheel)."""
    code = (
        "import numpy as np, tf_keras as k, tinyrnn, tinyrnn.api\n"
        "inp = k.Input((8, 2))\n"
        "m = k.Model(inp, k.layers.Dense(3, activation='softmax')(k.layers.SimpleRNN(5)(inp)))\n"
        "rng = np.random.default_rng(0)\n"
        "m.set_weights([rng.normal(0, 0.7, w.shape).astype('float32') for w in m.get_weights()])\n"
        "x = rng.normal(size=(40, 8, 2)).astype('float32')\n"
        "r = tinyrnn.export_model(m, calibration=x, out='out', x_test=x, tflm_arena=False,\n"
        "                         verbose=False)\n"
        "print(tinyrnn.api.__file__)\n"
        "print(r.evaluation.windows_identical, r.compiled.dir.resolve())\n")
    r = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True,
                       text=True, cwd=tmp_path, timeout=300,
                       env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3",
                            "HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr[-3000:]
    api_file, result = r.stdout.strip().splitlines()[-2:]
    assert api_file.startswith(str(venv)), f"tinyrnn.api imported from {api_file}"
    identical, c_dir = result.split()
    assert float(identical) == 1.0  # the wheel's C equals the numpy reference on every window
    assert (Path(c_dir) / "tinyrnn_model.c").is_file() and Path(c_dir).is_relative_to(tmp_path)
