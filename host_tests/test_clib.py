"""The runtime as a drop-in library: library.json is current, the CMake file builds the runtime
and a generated model with -Werror, and the documented C example (raw sensor floats -> class)
gives the host pipeline's prediction on every window."""

from __future__ import annotations

import fnmatch
import json
import shutil
import subprocess
import tomllib
from pathlib import Path

import numpy as np
import pytest
from clib_models import gru_folder, lstm_folder, python_classes, raw_windows

import tinyrnn
from tinyrnn.convert.compile_folder import compile_model_folder

REPO = Path(__file__).resolve().parents[1]
LIB = REPO / "firmware" / "lib" / "tinyrnn"
EXAMPLE = LIB / "examples" / "classify"


def test_library_json_is_current():
    meta = json.loads((LIB / "library.json").read_text())
    assert meta["version"] == tinyrnn.__version__
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert meta["license"] == pyproject["project"]["license"]["text"]
    for cell in ("LSTM", "GRU", "SimpleRNN", "int8"):
        assert cell in meta["description"]
    src = LIB / meta["build"]["srcDir"]
    assert meta["headers"] == sorted(p.name for p in src.glob("*.h"))
    # every runtime source is built, nothing else is
    patterns = [f[2:-1] for f in meta["build"]["srcFilter"] if f.startswith("+<")]
    built = {p.name for p in src.iterdir() if any(fnmatch.fnmatch(p.name, pat) for pat in patterns)}
    assert built == {p.name for p in src.iterdir() if p.suffix in (".c", ".S")}
    assert len(built) >= 9
    for example in meta["examples"]:
        for f in example["files"]:
            assert (LIB / example["base"] / f).is_file()
    for path in meta["export"]["include"]:
        assert (LIB / path).exists()


def _cmake(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    cmake = shutil.which("cmake")
    assert cmake, "cmake missing: scripts/install-toolchain.sh installs it"
    return subprocess.run([cmake, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("clib-models")
    out = {}
    for cell, make in (("lstm", lstm_folder), ("gru", gru_folder)):
        folder = make(root)
        compile_model_folder(folder.path)  # the default prefix, as `tinyrnn compile` writes
        out[cell] = folder
    return out


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_c_example_classifies_like_the_python_pipeline(folders, cell, tmp_path):
    folder = folders[cell]
    build = tmp_path / "build"
    conf = _cmake("-S", str(EXAMPLE), "-B", str(build), f"-DTINYRNN_MODEL_DIR={folder.tinyrnn_dir}",
                  "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON")
    assert conf.returncode == 0, conf.stdout + conf.stderr
    made = _cmake("--build", str(build), "--", "-j2")
    assert made.returncode == 0, made.stdout + made.stderr
    commands = json.loads((build / "compile_commands.json").read_text())
    c_files = [c for c in commands if c["file"].endswith(".c")]
    assert len(c_files) >= 10  # runtime kernels + model + main
    for c in c_files:
        assert "-std=c99" in c["command"] and "-Werror" in c["command"], c["command"]
    raw = raw_windows(folder, 40, seed=3)
    text = "\n".join(" ".join(format(float(v), ".9g") for v in w.reshape(-1)) for w in raw)
    run = subprocess.run([str(build / "classify")], input=text + "\n", capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    got = np.array([int(line.split()[0]) for line in lines])
    names = json.loads(folder.config_json.read_text())["class_names"]
    assert [line.split()[1] for line in lines] == [names[k] for k in got]
    want = python_classes(folder, raw)
    assert np.array_equal(got, want), f"{np.sum(got != want)} of {len(want)} windows differ"
    assert len(set(want.tolist())) > 1  # the windows reach more than one class


def test_c_example_names_the_fix_without_a_model(tmp_path):
    conf = _cmake("-S", str(EXAMPLE), "-B", str(tmp_path / "b"),
                  f"-DTINYRNN_MODEL_DIR={tmp_path / 'nothing'}")
    assert conf.returncode != 0
    assert "tinyrnn compile" in conf.stderr and "TINYRNN_MODEL_DIR" in conf.stderr
