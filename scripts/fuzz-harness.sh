#!/usr/bin/env bash
# Coverage-guided fuzz campaign of the protocol harness: the real firmware/src harness with the
# host port (firmware/src/host/host_fuzz.c) under libFuzzer + ASan + UBSan, seeded with
# firmware/test/fuzz/harness/corpus and the protocol dictionary.
#
#   scripts/fuzz-harness.sh [seconds]      (default 900; `make fuzz-harness` at the top level)
#
# One process (one core). New corpus entries go to build/fuzz/harness/corpus, crashes and
# hangs to build/fuzz/harness/findings/ (copy each into firmware/test/fuzz/harness/regressions/
# as <name>.bin once fixed: test_harness_fuzz.py replays them), the log to
# build/fuzz/harness/campaign.log. Needs Debian's clang-14 + libclang-rt-14-dev (installed here
# if missing; `make test` itself needs only gcc).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-900}"
if ! command -v clang-14 >/dev/null || ! ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends clang-14 libclang-rt-14-dev
fi
out="$PWD/build/host-harness"
work="build/fuzz/harness"
make -s -C firmware/src/host fuzz OUT="$out"
mkdir -p "$work/corpus" "$work/findings"
"$out/harness-fuzz" "$work/corpus" firmware/test/fuzz/harness/corpus \
  -dict=firmware/test/fuzz/harness/protocol.dict -max_len=1024 -timeout=10 \
  -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$work/findings/" \
  2>&1 | tee "$work/campaign.log"
