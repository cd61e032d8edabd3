# Build script of the tinyrnn-qemu development platform: arm-none-eabi-gcc from PATH (Debian's
# gcc-arm-none-eabi), bare-metal startup from this platform, `-t upload` runs the ELF in QEMU.
# Nothing here names a package, so PlatformIO has nothing to fetch from a registry.

import os
import shutil
import sys

from SCons.Script import (  # pylint: disable=import-error
    AlwaysBuild,
    Builder,
    Default,
    DefaultEnvironment,
)

env = DefaultEnvironment()
platform = env.PioPlatform()
board = env.BoardConfig()
platform_dir = platform.get_dir()

if not shutil.which("arm-none-eabi-gcc", path=env["ENV"].get("PATH")):
    sys.stderr.write(
        "Error: arm-none-eabi-gcc is not on PATH. Install Debian's tool chain with "
        "`bash scripts/install-toolchain.sh` (gcc-arm-none-eabi, libnewlib-arm-none-eabi, "
        "qemu-system-arm).\n"
    )
    env.Exit(1)

cpu = board.get("build.cpu")
fpu = board.get("build.fpu", "")
float_abi = board.get("build.float_abi", "soft")
machine_flags = ["-mcpu=%s" % cpu, "-mthumb", "-mfloat-abi=%s" % float_abi]
if fpu:
    machine_flags.append("-mfpu=%s" % fpu)

# Boards with build.port are real chips (src/<port>/, same ELF on the board and in QEMU); the
# others are the QEMU-only FPGA boards of src/qemu/.
chip_port = board.get("build.port", "")
if chip_port:
    port_defines = [
        "TINYRNN_PLATFORM_BAREMETAL",
        "TINYRNN_PORT_%s" % chip_port.upper(),
        ("TINYRNN_BOARD_NAME", env.StringifyMacro(env.subst("$BOARD"))),
    ]
else:
    port_defines = ["TINYRNN_PLATFORM_QEMU"]

# The device link sets TINYRNN_COMPILER_LAUNCHER=ccache when it is installed (deploy/pio_bootstrap.py).
LAUNCHER = (os.environ["TINYRNN_COMPILER_LAUNCHER"] + " ") if os.environ.get("TINYRNN_COMPILER_LAUNCHER") else ""

env.Replace(
    AR="arm-none-eabi-gcc-ar",
    AS="arm-none-eabi-as",
    CC=LAUNCHER + "arm-none-eabi-gcc",
    CXX=LAUNCHER + "arm-none-eabi-g++",
    GDB="gdb-multiarch",
    OBJCOPY="arm-none-eabi-objcopy",
    RANLIB="arm-none-eabi-gcc-ranlib",
    SIZETOOL="arm-none-eabi-size",
    ARFLAGS=["rc"],
    PROGSUFFIX=".elf",
    # Flash = everything loaded into FLASH (including .data's initial values);
    # RAM = .data + .bss + the reserved stack section.
    SIZEPROGREGEXP=(
        r"^(?:\.isr_vector|\.text|\.rodata|\.ARM\.extab|\.ARM\.exidx|\.init_array|\.data)"
        r"\s+(\d+).*"
    ),
    SIZEDATAREGEXP=r"^(?:\.data|\.bss|\.stack)\s+(\d+).*",
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPRINTCMD="$SIZETOOL -B -d $SOURCES",
)

env.Append(
    ASFLAGS=machine_flags,
    ASPPFLAGS=["-x", "assembler-with-cpp"],
    CCFLAGS=machine_flags
    + [
        "-Os",
        "-g",
        "-ffunction-sections",
        "-fdata-sections",
        "-fno-common",
    ],
    CFLAGS=["-std=c99"],
    CXXFLAGS=["-std=gnu++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics"],
    CPPDEFINES=[("F_CPU", board.get("build.f_cpu"))] + port_defines,
    LINKFLAGS=machine_flags
    + [
        "-Os",
        "-nostartfiles",
        "--specs=nano.specs",
        "--specs=nosys.specs",
        "-Wl,--gc-sections",
        "-Wl,--print-memory-usage",
        "-Wl,-Map,%s" % os.path.join("$BUILD_DIR", "firmware.map"),
        "-L%s" % os.path.join(platform_dir, "ldscripts"),
    ],
    LIBS=["c_nano", "gcc"],
    BUILDERS=dict(
        ElfToBin=Builder(
            action=env.VerboseAction(
                "$OBJCOPY -O binary $SOURCES $TARGET", "Building $TARGET"
            ),
            suffix=".bin",
        ),
        ElfToHex=Builder(
            action=env.VerboseAction(
                "$OBJCOPY -O ihex $SOURCES $TARGET", "Building $TARGET"
            ),
            suffix=".hex",
        ),
    ),
)

if not board.get("build.ldscript", ""):
    sys.stderr.write("Error: board %s names no build.ldscript\n" % env.subst("$BOARD"))
    env.Exit(1)
env.Replace(LDSCRIPT_PATH=board.get("build.ldscript"))

# The vector table and reset code belong to the board, not to the harness.
env.BuildSources(
    os.path.join("$BUILD_DIR", "platform_startup"), os.path.join(platform_dir, "startup")
)

target_elf = env.BuildProgram()
# Flash images next to the ELF: .bin (raw, from the lowest load address) for pyocd and ST tools,
# .hex (Intel HEX, carries its addresses) for pyocd and DAPLink drag-and-drop.
target_bin = env.ElfToBin(os.path.join("$BUILD_DIR", "${PROGNAME}"), target_elf)
target_hex = env.ElfToHex(os.path.join("$BUILD_DIR", "${PROGNAME}"), target_elf)
env.Depends(target_bin, "checkprogsize")
AlwaysBuild(env.Alias("nobuild", [target_bin, target_hex]))
Default([env.Alias("buildprog", [target_bin, target_hex])])

target_size = env.Alias(
    "size", target_elf, env.VerboseAction("$SIZEPRINTCMD", "Calculating size $SOURCE")
)
AlwaysBuild(target_size)

# `pio run -t upload` runs the firmware in QEMU with UART0 on this terminal (Ctrl-A X quits).
# -icount shift=0: one instruction = 1 ns of virtual time, so SysTick counts instructions
# deterministically. upload_flags in platformio.ini are appended (e.g. a TCP serial port).
qemu_cmd = [
    "qemu-system-arm",
    "-M",
    board.get("qemu.machine"),
    "-nographic",
    "-semihosting",
    "-icount",
    "shift=0",
    "-kernel",
    "$SOURCE",
]
env.Replace(UPLOADER="qemu-system-arm", UPLOADCMD=" ".join(qemu_cmd) + " $UPLOAD_FLAGS")
AlwaysBuild(
    env.Alias(
        "upload",
        target_elf,
        env.VerboseAction("$UPLOADCMD", "Running $SOURCE in QEMU (%s)" % board.get("qemu.machine")),
    )
)
