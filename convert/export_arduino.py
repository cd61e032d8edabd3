"""An Arduino library (.zip) holding the tinyrnn runtime, one or more compiled models and an
example sketch: Sketch > Include Library > Add .ZIP Library in the Arduino IDE, or
``arduino-cli lib install --zip-path``.

Layout (Arduino library specification 1.5)::

    <Library>/library.properties
    <Library>/src/             the runtime (firmware/lib/tinyrnn/src) + <prefix>.h/.c per model
    <Library>/examples/Classify/Classify.ino

Each model is compiled from its folder's deployable int8 model (core/buildtree.py) with its own
symbol prefix (convert/aot/symbols.py), so several models share one copy of the runtime.
"""

from __future__ import annotations

import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tinyrnn import __version__
from tinyrnn.convert.aot.symbols import DEFAULT_PREFIX, Symbols, prefix_for
from tinyrnn.convert.compile_folder import compile_model_folder, recompile_inputs
from tinyrnn.core.buildtree import ModelFolder, find_model_folder
from tinyrnn.core.resources import runtime_src_dir

EXAMPLE = "Classify"
DEFAULT_URL = "https://pypi.org/project/tinyrnn/"
# Every file of a zip gets this time stamp: the same models give a byte-identical zip.
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


class ExportError(ValueError):
    """The library cannot be written; the message names the fix."""


@dataclass(frozen=True)
class ExportedLibrary:
    zip_path: Path
    library: str
    prefixes: tuple[str, ...]
    files: tuple[str, ...]

    def one_line(self) -> str:
        return (f"{self.zip_path}: Arduino library {self.library} with model(s) "
                f"{', '.join(self.prefixes)} and example {EXAMPLE} ({len(self.files)} files)")


def library_name(prefixes: list[str]) -> str:
    """Arduino library names allow letters, digits, '_', '-' and '.' (spaces too, but they
    become underscores in folder names, so none here)."""
    return "tinyrnn_" + prefixes[0] if len(prefixes) == 1 else "tinyrnn_models"


def library_properties(name: str, prefixes: list[str], url: str) -> str:
    headers = ",".join(Symbols(p).header for p in prefixes)
    fields = {
        "name": name,
        "version": __version__,
        "author": "tinyrnn export arduino",
        "maintainer": "tinyrnn export arduino",
        "sentence": "int8 recurrent classifier (LSTM, GRU or SimpleRNN) compiled ahead of time "
                    "by tinyrnn, with its C99 runtime.",
        "paragraph": "Models " + ", ".join(prefixes) + ": <prefix>_quantize_raw_input() turns "
                     "raw sensor floats into the int8 window (the training normalization and "
                     "the host's rounding), <prefix>_invoke() classifies it. Static memory only, "
                     "no dynamic allocation.",
        "category": "Data Processing",
        "url": url,
        "architectures": "*",
        "includes": headers,
    }
    return "".join(f"{k}={v}\n" for k, v in fields.items())


def sketch(prefix: str, has_normalization: bool) -> str:
    """The example: read one window of raw floats from Serial, quantize, run, print the class."""
    s = Symbols(prefix)
    m = s.macro
    quantize = (f"{s.fn('quantize_raw_input')}(raw, input, {m('STEPS')});  // normalize + int8"
                if has_normalization else
                f"{s.fn('quantize_input')}(raw, input, {m('STEPS')});  // already normalized")
    return f"""// {EXAMPLE}: raw sensor floats -> class with the tinyrnn model {prefix}.
//
// Send {m('STEPS')} x {m('CHANNELS')} numbers per window over Serial (time-major: every
// channel of frame 0, then frame 1, ...; in the units the model was trained on), e.g. from
// the Serial Monitor; each window prints "<class index> <class name>". Replace read_window()
// with your sensor reads to classify live data.
#include <Arduino.h>

#include "{s.header}"

static float raw[{m('INPUT_SIZE')}];
static int8_t input[{m('INPUT_SIZE')}];
static int8_t scores[{m('OUTPUT_SIZE')}];

static void read_window(float *window) {{
  for (int i = 0; i < {m('INPUT_SIZE')}; ++i) {{
    while (Serial.available() == 0) {{
    }}
    window[i] = Serial.parseFloat();
  }}
}}

void setup() {{
  Serial.begin(115200);
  Serial.setTimeout(60000);
  while (!Serial) {{
  }}
  {s.fn('init')}();
  Serial.print("tinyrnn model ");
  Serial.println({m('NAME')});
}}

void loop() {{
  read_window(raw);
  {quantize}
  if ({s.fn('invoke')}(input, scores) != 0) {{
    Serial.println("invoke failed");
    return;
  }}
  int best = 0;  // the first of equal scores
  for (int k = 1; k < {m('OUTPUT_SIZE')}; ++k) {{
    if (scores[k] > scores[best]) {{
      best = k;
    }}
  }}
  Serial.print(best);
  Serial.print(' ');
  Serial.println({s.fn('class_names')}[best]);
}}
"""


def _add(zf: zipfile.ZipFile, arcname: str, data: bytes) -> None:
    info = zipfile.ZipInfo(arcname, _ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def export_arduino(models: list[str | Path], out: Path | None = None, *,
                   root: Path | str | None = None, prefixes: list[str] | None = None,
                   name: str | None = None, url: str = DEFAULT_URL) -> ExportedLibrary:
    """Write the Arduino library zip for ``models`` (folders or names in the build tree).

    Raises FileNotFoundError (no such model), AotError (no deployable int8 model, or a model
    the compiler refuses) or ExportError, each naming the fix; nothing is written then.
    """
    if not models:
        raise ExportError("give at least one model folder or model name")
    folders: list[ModelFolder] = [find_model_folder(m, root) for m in models]
    # What each folder's tinyrnn/ was compiled with: a Python API folder has no config.json or
    # normalization.json, its class names, normalization and chosen prefix live only there.
    recorded = [recompile_inputs(f.tinyrnn_dir) for f in folders]
    if prefixes is None:
        prefixes = [r["symbol_prefix"] if r.get("symbol_prefix", DEFAULT_PREFIX) != DEFAULT_PREFIX
                    else prefix_for(f.name) for f, r in zip(folders, recorded, strict=True)]
    if len(prefixes) != len(folders):
        raise ExportError(f"{len(prefixes)} prefixes for {len(folders)} models: give one each")
    if len(set(prefixes)) != len(prefixes):
        raise ExportError(f"two models would share the symbol prefix of {prefixes}: give each "
                          "its own with --prefix")
    for p in prefixes:
        Symbols(p)  # validates before anything is compiled
    lib = name or library_name(prefixes)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", lib):
        raise ExportError(f"library name {lib!r}: use letters, digits, '_', '-' or '.', "
                          "starting with a letter or digit")
    runtime = runtime_src_dir()
    files: dict[str, bytes] = {}
    for path in sorted(runtime.iterdir()):
        if path.suffix in (".c", ".h", ".S"):
            files[f"src/{path.name}"] = path.read_bytes()
    norms: list[bool] = []
    with tempfile.TemporaryDirectory(prefix="tinyrnn-arduino-") as tmp:
        for folder, prefix, rec in zip(folders, prefixes, recorded, strict=True):
            cdir = Path(tmp) / prefix
            compile_model_folder(folder.path, cdir, name=rec.get("name"),
                                 normalization=rec.get("normalization"),
                                 class_names=rec.get("class_names"), symbol_prefix=prefix)
            norms.append(folder.normalization_json.is_file()
                         or rec.get("normalization") is not None)
            sym = Symbols(prefix)
            for fname in (sym.header, sym.source):
                if f"src/{fname}" in files:
                    raise ExportError(f"model file {fname} collides with a runtime file: choose "
                                      "another --prefix")
                files[f"src/{fname}"] = (cdir / fname).read_bytes()
    files["library.properties"] = library_properties(lib, prefixes, url).encode()
    files[f"examples/{EXAMPLE}/{EXAMPLE}.ino"] = sketch(prefixes[0], norms[0]).encode()
    zip_path = Path(out) if out is not None else Path(f"{lib}.zip")
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_zip = zip_path.with_name(f".{zip_path.name}.tmp")
    try:
        with zipfile.ZipFile(tmp_zip, "w") as zf:
            for arc in sorted(files):
                _add(zf, f"{lib}/{arc}", files[arc])
        tmp_zip.replace(zip_path)
    finally:
        tmp_zip.unlink(missing_ok=True)
    return ExportedLibrary(zip_path, lib, tuple(prefixes), tuple(sorted(files)))
