"""The command line's contract: version, exit codes, one error prefix, checked arguments, help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tinyrnn import __version__
from tinyrnn.cli import main
from tinyrnn.convert.aot.errors import few


def _tinyrnn(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tinyrnn", *argv], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


def test_version(tmp_path):
    r = _tinyrnn("--version", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == f"tinyrnn {__version__}"


@pytest.mark.parametrize("argv, problem", [
    (["train", "--cells", "lstm,transformer"], "unknown cell transformer"),
    (["all", "--seeds", "0,one"], "bad seed list '0,one'"),
    (["all", "--units", "0"], "must be at least 1"),
    (["nonsense"], "invalid choice"),
])
def test_usage_errors_exit_2_before_any_work(tmp_path, argv, problem):
    r = _tinyrnn("--build", str(tmp_path / "b"), *argv, cwd=tmp_path)
    assert r.returncode == 2 and problem in r.stderr, r.stderr
    assert not (tmp_path / "b").exists()  # nothing trained, nothing written


def test_failures_exit_1_with_one_prefix(tmp_path, capsys):
    assert main(["--build", str(tmp_path), "compile", str(tmp_path / "missing")]) == 1
    assert main(["--build", str(tmp_path), "evaluate"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("tinyrnn: error: ") for line in err), err


def test_compile_of_a_folder_without_int8_model_names_the_fix(tmp_path, capsys):
    (tmp_path / "m").mkdir()
    assert main(["compile", str(tmp_path / "m")]) == 1
    assert "tinyrnn quantize-rnn" in capsys.readouterr().err


def test_help_shows_defaults_and_choices(tmp_path):
    r = _tinyrnn("all", "--help", cwd=tmp_path)
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    assert "lstm, gru, rnn" in text and "(default: 32)" in text and "(default: [0, 1, 2])" in text


def test_long_lists_in_errors_are_cut():
    names = [f"tensor_{i}" for i in range(500)]
    text = few(names)
    assert text.startswith("tensor_0, tensor_1, tensor_2, tensor_3, ...")
    assert "496 more, 500 in all" in text and len(text) < 100
    assert few(names[:3]) == "tensor_0, tensor_1, tensor_2"
