# PRE extra script: compiles the model chosen at build time into the firmware.
#
#   TINYRNN_MODEL_DIR (environment) > custom_model_dir (platformio.ini) > test/fixture_model
#
# The folder is what `convert` writes for one model: for the tinyrnn backend tinyrnn_model.h/.c
# (plus the runtime library firmware/lib/tinyrnn/src, or TINYRNN_RUNTIME_DIR / custom_runtime_dir;
# "none" skips it); for the TFLM backend the C array model_data.h/.cc. Relative paths are taken
# from the firmware/ folder. The harness never changes when the model does.
#
# The backend is TINYRNN_BACKEND (environment) > custom_backend. TFLM on a QEMU board links the
# archive deploy/tflm_lib.py builds (TINYRNN_TFLM_LIB_DIR: libtflm.a + flags.json); the device
# link (deploy/tflm_firmware.py) sets both, with a model folder holding the C array and
# tinyrnn_tflm_config.h.

import os
import sys

Import("env")  # noqa: F821  (SCons injects it)

project_dir = env.subst("$PROJECT_DIR")  # noqa: F821


def _option(name, default):
    return env.GetProjectOption(name, default)  # noqa: F821


def _resolve(path):
    path = os.path.expanduser(path)
    return os.path.normpath(path if os.path.isabs(path) else os.path.join(project_dir, path))


def _fail(message):
    sys.stderr.write("Error: %s\n" % message)
    env.Exit(1)  # noqa: F821


def _tflm_qemu():
    """TFLM from the prebuilt archive: its include dirs as -isystem (TFLM's headers are not
    written for -Wshadow -Werror), its defines, the glue and the tinyrnn runtime (custom ops)."""
    import json

    lib_dir = os.environ.get("TINYRNN_TFLM_LIB_DIR")
    if not lib_dir or not os.path.isfile(os.path.join(lib_dir, "flags.json")):
        _fail("backend tflm on a QEMU board needs TINYRNN_TFLM_LIB_DIR (libtflm.a + flags.json): "
              "build through the device link (`tinyrnn device eval MODEL --backend tflm`) or run "
              "`python -m tinyrnn.deploy.tflm_lib --board BOARD --variant ref|cmsis-nn` and point it at "
              "the folder it prints")
    with open(os.path.join(lib_dir, "flags.json"), encoding="utf-8") as fp:
        flags = json.load(fp)["app"]
    for inc in flags["include_dirs"]:
        env.Append(CCFLAGS=["-isystem", inc])  # noqa: F821
    env.Append(CPPDEFINES=["TINYRNN_BACKEND_TFLM"] + flags["defines"])  # noqa: F821
    env.Append(CXXFLAGS=[f for f in flags["cxx_flags"] if not f.startswith("-std=")])  # noqa: F821
    # build_flags' -Wstrict-prototypes is C-only (g++ rejects it under -Werror): C files keep it.
    env.Append(BUILD_UNFLAGS=["-Wstrict-prototypes"], CFLAGS=["-Wstrict-prototypes"])  # noqa: F821
    glue = os.path.join(project_dir, "src", "backend_tflm")
    env.BuildSources(os.path.join("$BUILD_DIR", "backend_tflm"), glue)  # noqa: F821
    runtime_dir = _resolve(os.environ.get("TINYRNN_RUNTIME_DIR") or _option("custom_runtime_dir", "lib/tinyrnn/src"))
    env.Append(CPPPATH=[runtime_dir])  # noqa: F821
    runtime = env.BuildLibrary(os.path.join("$BUILD_DIR", "tinyrnn_runtime"), runtime_dir)  # noqa: F821
    # The TFLM glue is C++: link with g++ (libstdc++ for operator new's placement forms, etc.).
    env.Replace(LINK="arm-none-eabi-g++")  # noqa: F821
    env.Append(LIBPATH=[lib_dir])  # noqa: F821
    env.Prepend(LIBS=[runtime, "tflm", "m"])  # noqa: F821
    print("tinyrnn TFLM library: %s" % lib_dir)


backend = os.environ.get("TINYRNN_BACKEND") or _option("custom_backend", "tinyrnn")
model_dir = _resolve(os.environ.get("TINYRNN_MODEL_DIR") or _option("custom_model_dir", "test/fixture_model"))
required = {"tinyrnn": "tinyrnn_model.h", "tflm": "model_data.h"}
if backend not in required:
    _fail("custom_backend = %s: use tinyrnn or tflm" % backend)
if not os.path.isfile(os.path.join(model_dir, required[backend])):
    _fail(
        "model folder %s has no %s (backend %s). Point TINYRNN_MODEL_DIR at a folder written by "
        "`tinyrnn convert` (build/models/<name>/tinyrnn for tinyrnn, .../tflm for TFLM)."
        % (model_dir, required[backend], backend)
    )

print("tinyrnn model: %s (backend %s)" % (model_dir, backend))
env.Append(CPPPATH=[model_dir])  # noqa: F821
if backend == "tflm":
    # Adapter header giving the TFLM C array the tinyrnn model interface the harness includes.
    env.Append(CPPPATH=[os.path.join(project_dir, "src", "backend_tflm")])  # noqa: F821
    if "tinyrnn-qemu" in str(_option("platform", "")):
        _tflm_qemu()
env.BuildSources(os.path.join("$BUILD_DIR", "model"), model_dir)  # noqa: F821



def _includes_any(folder, names):
    """True when a source in folder #includes one of the header names."""
    for entry in sorted(os.listdir(folder)):
        if not entry.endswith((".c", ".h", ".cc", ".cpp")):
            continue
        with open(os.path.join(folder, entry), encoding="utf-8", errors="replace") as fp:
            for line in fp:
                text = line.strip()
                if text.startswith("#") and "include" in text:
                    for name in names:
                        if '"%s"' % name in text or "<%s>" % name in text:
                            return True
    return False


if backend == "tinyrnn":
    runtime = os.environ.get("TINYRNN_RUNTIME_DIR") or _option("custom_runtime_dir", "lib/tinyrnn/src")
    runtime_dir = _resolve(runtime) if runtime != "none" else None
    headers = []
    if runtime_dir and os.path.isdir(runtime_dir):
        headers = [h for h in os.listdir(runtime_dir) if h.endswith(".h") and h != "tinyrnn_model.h"]
    # Only a model that includes a runtime header needs the runtime (the protocol fixture does
    # not), so the fixture builds whatever state the runtime is in.
    if headers and _includes_any(model_dir, headers):
        env.Append(CPPPATH=[runtime_dir])  # noqa: F821
        # An archive, so the linker takes only the kernels this model calls.
        lib = env.BuildLibrary(os.path.join("$BUILD_DIR", "tinyrnn_runtime"), runtime_dir)  # noqa: F821
        env.Prepend(LIBS=[lib])  # noqa: F821
        print("tinyrnn runtime: %s" % runtime_dir)
    else:
        print("tinyrnn runtime: not needed by this model")
