"""``tinyrnn export arduino``: the zip has the Arduino 1.5 library layout, its sources compile
for Cortex-M with -Werror, two models share one runtime, and the example sketch (run on the host
with a stand-in Serial) prints the host pipeline's class for raw sensor windows."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from clib_models import gru_folder, lstm_folder, python_classes, raw_windows

import tinyrnn
from tinyrnn.cli import main as cli_main
from tinyrnn.convert.aot.errors import AotError
from tinyrnn.convert.export_arduino import ExportError, export_arduino
from tinyrnn.core.resources import runtime_src_dir

WARN = ["-Wall", "-Wextra", "-Werror"]
# Required fields of library.properties (Arduino library specification 1.5) and its categories.
REQUIRED = ("name", "version", "author", "maintainer", "sentence", "paragraph", "category", "url",
            "architectures")
CATEGORIES = {"Display", "Communication", "Signal Input/Output", "Sensors", "Device Control",
              "Timing", "Data Storage", "Data Processing", "Other"}
CORES = {"cortex-m4": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
         "cortex-m0": ["-mcpu=cortex-m0", "-mthumb"]}

# Just enough of the Arduino API for the sketch: declarations for the cross compile, and on the
# host a Serial over stdin/stdout so the sketch runs as a program.
ARDUINO_H = r"""
#ifndef ARDUINO_STUB_H
#define ARDUINO_STUB_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
struct StubSerial {
  void begin(long) {}
  void setTimeout(long) {}
  explicit operator bool() const { return true; }
  int available() {
    int c = getchar();
    if (c == EOF) exit(0);
    ungetc(c, stdin);
    return 1;
  }
  float parseFloat() {
    float v;
    if (scanf("%f", &v) != 1) exit(0);
    return v;
  }
  void print(const char *s) { fputs(s, stdout); }
  void print(int v) { printf("%d", v); }
  void print(char c) { putchar(c); }
  void println(const char *s) { puts(s); }
};
extern StubSerial Serial;
void setup();
void loop();
#endif
"""
HOST_MAIN = '#include "Arduino.h"\nStubSerial Serial;\nint main() {\n  setup();\n  for (;;) loop();\n}\n'


@pytest.fixture(scope="module")
def build_tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("export-build")
    lstm_folder(root / "models")
    gru_folder(root / "models")
    return root


def _unzip(zip_path: Path, dest: Path) -> Path:
    with zipfile.ZipFile(zip_path) as zf:
        roots = {n.split("/")[0] for n in zf.namelist()}
        assert len(roots) == 1, roots  # one library folder, as Add .ZIP Library expects
        zf.extractall(dest)
    return dest / roots.pop()


def _properties(lib: Path) -> dict[str, str]:
    lines = (lib / "library.properties").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line)


def test_zip_layout_and_properties(build_tree, tmp_path):
    out = tmp_path / "lib.zip"
    result = export_arduino(["demo-lstm"], out, root=build_tree)  # a name in the build tree
    lib = _unzip(out, tmp_path / "x")
    assert lib.name == result.library == "tinyrnn_demo_lstm"
    props = _properties(lib)
    assert set(REQUIRED) <= set(props) and all(props[k] for k in REQUIRED)
    assert props["name"] == lib.name and props["version"] == tinyrnn.__version__
    assert props["category"] in CATEGORIES and props["includes"] == "demo_lstm.h"
    runtime = {p.name for p in runtime_src_dir().iterdir() if p.suffix in (".c", ".h", ".S")}
    src = {p.name for p in (lib / "src").iterdir()}
    assert src == runtime | {"demo_lstm.h", "demo_lstm.c"}
    assert [p.relative_to(lib).as_posix() for p in (lib / "examples").rglob("*") if p.is_file()] \
        == ["examples/Classify/Classify.ino"]
    header = (lib / "src" / "demo_lstm.h").read_text()
    assert "void demo_lstm_quantize_raw_input(" in header and "DEMO_LSTM_STEPS" in header
    # reproducible: the same models give the same bytes
    again = tmp_path / "again.zip"
    export_arduino([build_tree / "models" / "demo-lstm"], again)  # a folder path
    assert again.read_bytes() == out.read_bytes()


@pytest.mark.parametrize("core", sorted(CORES))
def test_sources_and_sketch_compile_for_cortex_m(build_tree, core, tmp_path):
    out = tmp_path / "two.zip"
    result = export_arduino(["demo-lstm", "demo-gru"], out, root=build_tree)
    assert result.prefixes == ("demo_lstm", "demo_gru") and result.library == "tinyrnn_models"
    lib = _unzip(out, tmp_path / "x")
    (tmp_path / "stub").mkdir()
    (tmp_path / "stub" / "Arduino.h").write_text(ARDUINO_H)
    objs = tmp_path / "obj"
    objs.mkdir()
    for src in sorted((lib / "src").iterdir()):
        if src.suffix in (".c", ".S"):
            cmd = ["arm-none-eabi-gcc", *CORES[core], "-std=c99", *WARN, "-Os", "-c",
                   f"-I{lib / 'src'}", str(src), "-o", str(objs / f"{src.name}.o")]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            assert proc.returncode == 0, proc.stderr
    ino = lib / "examples" / "Classify" / "Classify.ino"
    proc = subprocess.run(["arm-none-eabi-g++", *CORES[core], "-std=c++11", *WARN, "-Os", "-c",
                           "-x", "c++", f"-I{tmp_path / 'stub'}", f"-I{lib / 'src'}", str(ino),
                           "-o", str(objs / "sketch.o")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    # both models and one runtime in one relocatable link: no symbol defined twice
    proc = subprocess.run(["arm-none-eabi-ld", "-r", *map(str, sorted(objs.glob("*.o"))), "-o",
                           str(tmp_path / "all.o")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("model", ["demo-lstm", "demo-gru"])
def test_sketch_prints_the_python_pipeline_class(build_tree, model, tmp_path):
    out = tmp_path / "lib.zip"
    export_arduino([model], out, root=build_tree)
    lib = _unzip(out, tmp_path / "x")
    (tmp_path / "Arduino.h").write_text(ARDUINO_H)
    (tmp_path / "host_main.cpp").write_text(HOST_MAIN)
    sketch = tmp_path / "sketch.cpp"
    shutil.copyfile(lib / "examples" / "Classify" / "Classify.ino", sketch)
    objs = []
    for src in sorted((lib / "src").glob("*.c")):
        obj = tmp_path / f"{src.name}.o"
        subprocess.run(["gcc", "-std=c99", *WARN, "-O1", "-c", f"-I{lib / 'src'}", str(src),
                        "-o", str(obj)], check=True)
        objs.append(str(obj))
    exe = tmp_path / "sketch"
    proc = subprocess.run(["g++", "-std=c++11", *WARN, "-O1", f"-I{tmp_path}",
                           f"-I{lib / 'src'}", str(sketch), str(tmp_path / "host_main.cpp"),
                           *objs, "-o", str(exe)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    folder = build_tree / "models" / model
    from tinyrnn.core.buildtree import ModelFolder

    mf = ModelFolder(folder)
    raw = raw_windows(mf, 30, seed=11)
    text = "\n".join(" ".join(format(float(v), ".9g") for v in w.reshape(-1)) for w in raw)
    run = subprocess.run([str(exe)], input=text + "\n", capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == f"tinyrnn model {model}"
    got = np.array([int(line.split()[0]) for line in lines[1:]])
    want = python_classes(mf, raw)
    assert np.array_equal(got, want), f"{np.sum(got != want)} of {len(want)} windows differ"
    assert len(set(want.tolist())) > 1


def test_errors_name_the_fix(build_tree, tmp_path, capsys, monkeypatch):
    with pytest.raises(FileNotFoundError, match="tinyrnn train"):
        export_arduino(["no-such-model"], tmp_path / "a.zip", root=build_tree)
    bare = build_tree / "models" / "not-converted"
    bare.mkdir()
    with pytest.raises(AotError, match="tinyrnn convert"):
        export_arduino([bare], tmp_path / "b.zip")
    with pytest.raises(ExportError, match="--prefix"):
        export_arduino(["demo-lstm", "demo-lstm"], tmp_path / "c.zip", root=build_tree)
    with pytest.raises(AotError, match="prefix"):
        export_arduino(["demo-lstm"], tmp_path / "d.zip", root=build_tree, prefixes=["Bad-1"])
    assert not list(tmp_path.glob("*.zip")) and not list(tmp_path.glob(".*.tmp"))  # no leftovers
    # through the CLI (which exports its --build to the environment: restored after the test)
    monkeypatch.setenv("TINYRNN_BUILD", str(build_tree))
    assert cli_main(["export", "arduino", "demo-gru", "--prefix", "gesture",
                     "--out", str(tmp_path / "ok.zip")]) == 0
    assert "tinyrnn_gesture" in capsys.readouterr().out
    with zipfile.ZipFile(tmp_path / "ok.zip") as zf:
        assert "tinyrnn_gesture/src/gesture.h" in zf.namelist()
    # exit 1, one error line naming the fix
    code = cli_main(["--build", str(build_tree), "export", "arduino", "not-converted",
                     "--out", str(tmp_path / "e.zip")])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("tinyrnn: error:") and "tinyrnn convert" in err
