#!/usr/bin/env bash
# Installs the Debian packages the firmware side needs (Arm GCC, newlib, libstdc++, QEMU, CMake,
# ccache) if any is missing.
# Idempotent: a machine that already has them is left alone.
set -euo pipefail
need=()
command -v arm-none-eabi-gcc >/dev/null || need+=(gcc-arm-none-eabi libnewlib-arm-none-eabi)
command -v qemu-system-arm >/dev/null || need+=(qemu-system-arm)
# CMake: the runtime's CMakeLists.txt and its C example are built by host_tests/test_clib.py.
command -v cmake >/dev/null || need+=(cmake)
[ -f /usr/lib/arm-none-eabi/newlib/libc.a ] || [ -d /usr/lib/arm-none-eabi/lib ] \
  || need+=(libnewlib-arm-none-eabi)
# ccache: firmware builds for many models on one board share every object but the model's
# (deploy/pio_bootstrap.py puts it in front of the Arm compilers; builds work without it).
command -v ccache >/dev/null || need+=(ccache)
# C++ headers and libstdc++ for newlib: the TFLM backend (deploy/tflm_lib.py) is C++.
compgen -G "/usr/include/newlib/c++/*/cstdint" >/dev/null \
  || need+=(libstdc++-arm-none-eabi-newlib)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "installing Debian packages: ${need[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"
