# PRE extra script of the Arduino-core environments: when custom_backend = tflm, compile TensorFlow
# Lite Micro from the TFLM source tree instead of a registry library.
#
#   TFLM_TREE (environment) > ../shared/peers/tflm-cmsisnn beside the repository
#
# The tree is the output of TFLM's create_tflm_tree.py for cortex_m_generic + CMSIS-NN; the rules
# below are the ones its README.md gives ("Building"): every .cc under tensorflow/ and signal/,
# every .c under third_party/cmsis_nn/Source/, kissfft's .c files excluded (they are #included),
# its include paths and defines, and the CMSIS device header of the board's core. It holds
# Cortex-M code only (CMSIS-NN, CMSIS-Core): a board with another core (esp32dev: Xtensa) is
# refused with the reason. The harness's TFLM glue is src/backend_tflm/.

import os
import sys

Import("env")  # noqa: F821  (SCons injects it)

project_dir = env.subst("$PROJECT_DIR")  # noqa: F821
# Same precedence as select_model.py: TINYRNN_BACKEND (environment) > custom_backend.
backend = os.environ.get("TINYRNN_BACKEND") or env.GetProjectOption("custom_backend", "tinyrnn")  # noqa: F821

# Board core (PlatformIO build.cpu) -> the tree's CMSIS device name (its README, per-CPU table).
CMSIS_DEVICE = {
    "cortex-m0": "ARMCM0", "cortex-m0plus": "ARMCM0plus", "cortex-m3": "ARMCM3",
    "cortex-m4": "ARMCM4", "cortex-m7": "ARMCM7", "cortex-m33": "ARMCM33", "cortex-m55": "ARMCM55",
}


def _fail(message):
    sys.stderr.write("Error: %s\n" % message)
    env.Exit(1)  # noqa: F821


def tflm_tree():
    raw = os.environ.get("TFLM_TREE", "")
    repo = os.path.dirname(project_dir)
    tree = raw or os.path.normpath(os.path.join(repo, "..", "shared", "peers", "tflm-cmsisnn"))
    if not os.path.isfile(os.path.join(tree, "tensorflow", "lite", "micro", "micro_interpreter.h")):
        where = "TFLM_TREE=%s" % raw if raw else "the default %s (TFLM_TREE unset)" % tree
        _fail("backend tflm needs a TFLM source tree; %s has no "
              "tensorflow/lite/micro/micro_interpreter.h. Set TFLM_TREE to a tree made by TFLM's "
              "create_tflm_tree.py." % where)
    return tree


if backend == "tflm":
    cpu = env.BoardConfig().get("build.cpu", "")  # noqa: F821
    device = CMSIS_DEVICE.get(cpu)
    if device is None:
        _fail("backend tflm: the TFLM tree holds Cortex-M code (CMSIS-NN) and this board's core "
              "is %r; use custom_backend = tinyrnn, or point TFLM_TREE at a tree generated for "
              "this target" % cpu)
    tree = tflm_tree()
    print("tinyrnn TFLM tree: %s (%s)" % (tree, device))
    includes = [".", "third_party/gemmlowp", "third_party/flatbuffers/include",
                "third_party/kissfft", "third_party/ruy", "third_party/cmsis_nn",
                "third_party/cmsis_nn/Include", "third_party/cmsis/CMSIS/Core/Include",
                "third_party/cmsis/Cortex_DFP/Device/%s/Include" % device]
    env.Append(  # noqa: F821
        CPPPATH=[os.path.join(tree, p) for p in includes],
        CPPDEFINES=[
            "TINYRNN_BACKEND_TFLM", "TF_LITE_STATIC_MEMORY", "CMSIS_NN", "TF_LITE_MCU_DEBUG_LOG",
            "KERNELS_OPTIMIZED_FOR_SPEED", ("ARM_NN_ENABLE_F16", 0), ("ARM_NN_ENABLE_F32", 0),
            "NDEBUG", "TF_LITE_STRIP_ERROR_STRINGS", device,
            ("CMSIS_DEVICE_ARM_CORTEX_M_XX_HEADER_FILE", env.StringifyMacro(device + ".h")),  # noqa: F821
        ],
    )
    # One archive, so the linker keeps only what the model's op resolver reaches.
    lib = env.BuildLibrary(  # noqa: F821
        os.path.join("$BUILD_DIR", "tflm_tree"), tree,
        src_filter=["-<*>", "+<tensorflow/>", "+<signal/>", "+<third_party/cmsis_nn/Source/>"],
    )
    env.Prepend(LIBS=[lib, "m"])  # noqa: F821
