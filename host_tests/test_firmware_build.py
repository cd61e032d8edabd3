"""The firmware builds offline for every QEMU board, reports its size, and refuses a model that
does not fit the small board."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from firmware_support import fixture_build

from tinyrnn.deploy.firmware import (
    FIXTURE_MODEL_DIR,
    QEMU_ENVS,
    BuildError,
    build,
    default_build_dir,
    memory_usage,
)
from tinyrnn.deploy.pio_bootstrap import FIRMWARE_DIR, TOOL_SCONS_VERSION, bootstrap, build_root

pytestmark = pytest.mark.device

# Proxies that go nowhere: any registry access fails at once instead of after ~61 s of retries,
# and shows up in the log.
NO_NETWORK = {
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "ALL_PROXY": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
}
REGISTRY_TRACES = ("registry", "Downloading", "HTTPClientError", "Unpacking", "api.platformio")


def test_same_named_models_in_two_folders_build_apart(tmp_path: Path) -> None:
    """Two exports called k3_gru (API users, parallel test workers) never share a build folder;
    a model of the build tree keeps its readable folder name."""
    a = tmp_path / "a" / "k3_gru" / "tinyrnn"
    b = tmp_path / "b" / "k3_gru" / "tinyrnn"
    assert default_build_dir(a) != default_build_dir(b)
    assert default_build_dir(a).name.startswith("k3_gru-tinyrnn-")
    assert default_build_dir(a) == default_build_dir(tmp_path / "a" / "k3_gru" / "." / "tinyrnn")
    in_tree = build_root() / "models" / "watch-gru-u32-s0" / "tinyrnn"
    assert default_build_dir(in_tree) == build_root() / "firmware" / "watch-gru-u32-s0-tinyrnn"


def test_bootstrap_is_idempotent_and_names_platformio_owner() -> None:
    first = bootstrap()
    pkg = first.core_dir / "packages" / "tool-scons"
    meta = json.loads((pkg / ".piopm").read_text())
    assert meta["spec"]["owner"] == "platformio"
    assert meta["version"] == TOOL_SCONS_VERSION
    stamp = (pkg / "scons.py").stat().st_mtime_ns
    second = bootstrap()
    assert second.core_dir == first.core_dir
    assert (pkg / "scons.py").stat().st_mtime_ns == stamp
    assert second.env["PLATFORMIO_SETTING_ENABLE_TELEMETRY"] == "No"
    assert second.env["PLATFORMIO_DISABLE_UPGRADE_CHECK"] == "true"


@pytest.mark.parametrize("env", QEMU_ENVS)
def test_qemu_env_builds_offline(env: str, tmp_path: Path) -> None:
    start = time.monotonic()
    fw = build(env, build_dir=tmp_path / "fw", extra_env=NO_NETWORK)
    seconds = time.monotonic() - start
    # A registry attempt stalls ~61 s; a clean offline build of the harness takes a few.
    assert seconds < 45, f"{env} took {seconds:.0f} s: did PlatformIO try the network?"
    for trace in REGISTRY_TRACES:
        assert trace not in fw.log, f"{env} build log mentions {trace!r}:\n{fw.log[-2000:]}"
    mem = memory_usage(fw.elf)
    board = json.loads((FIRMWARE_DIR / "platforms/tinyrnn-qemu/boards" / f"{env}.json").read_text())
    assert 0 < mem.flash <= board["upload"]["maximum_size"]
    assert 0 < mem.ram <= board["upload"]["maximum_ram_size"]
    assert "RAM:" in fw.log and "Flash:" in fw.log  # PlatformIO's size check ran


def test_size_target_reports_sections() -> None:
    fw = fixture_build("mps2-an386")
    setup = bootstrap()
    env = dict(setup.env, PLATFORMIO_BUILD_DIR=str(fw.build_dir))
    proc = subprocess.run(
        setup.command("run", "-d", str(FIRMWARE_DIR), "-e", "mps2-an386", "-t", "size"),
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "text" in proc.stdout and "bss" in proc.stdout


def _oversized_model(tmp_path: Path, decl: str, use: str) -> Path:
    model = tmp_path / "oversized" / "tinyrnn"
    shutil.copytree(FIXTURE_MODEL_DIR, model)
    src = model / "tinyrnn_model.c"
    text = src.read_text()
    text = text.replace("int tinyrnn_model_init(void)\n{",
                        f"{decl}\nint tinyrnn_model_init(void)\n{{\n    {use}")
    src.write_text(text)
    return model


def test_model_too_big_for_flash_fails_the_link_on_lm3s6965evb(tmp_path: Path) -> None:
    # 300 KB of weights on a board with 256 KB of flash.
    model = _oversized_model(
        tmp_path,
        "const int8_t tinyrnn_big_weights[300 * 1024] = {1};\nvolatile uint32_t tinyrnn_big_i;",
        "if (tinyrnn_big_weights[tinyrnn_big_i] != 1) { return -1; }",
    )
    with pytest.raises(BuildError, match=r"does not fit on lm3s6965evb: FLASH overflowed"):
        build("lm3s6965evb", model, build_dir=tmp_path / "fw")
    # The same model fits the 4 MB board: the failure is the board's size, not the code.
    assert build("mps2-an386", model, build_dir=tmp_path / "fw").elf.is_file()


def test_model_too_big_for_ram_fails_the_link_on_lm3s6965evb(tmp_path: Path) -> None:
    model = _oversized_model(
        tmp_path,
        "int8_t tinyrnn_big_arena[60 * 1024];\nvolatile uint32_t tinyrnn_big_i;",
        "tinyrnn_big_arena[tinyrnn_big_i] = 1;",
    )
    with pytest.raises(BuildError, match=r"does not fit on lm3s6965evb: RAM overflowed"):
        build("lm3s6965evb", model, build_dir=tmp_path / "fw")


def test_missing_model_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="does not exist"):
        build("mps2-an386", tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BuildError, match=r"has no tinyrnn_model\.h"):
        build("mps2-an386", empty, build_dir=tmp_path / "fw")


def _ccache_stats(cache: Path) -> dict[str, int]:
    out = subprocess.run(["ccache", "--print-stats"], env={**os.environ, "CCACHE_DIR": str(cache)},
                         capture_output=True, text=True, check=True).stdout
    return {k: int(v) for k, v in (line.split("\t") for line in out.splitlines() if "\t" in line)}


def _image(elf: Path, out: Path) -> bytes:
    subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", str(elf), str(out)], check=True)
    return out.read_bytes()


def test_ccache_serves_a_second_build_and_changes_no_byte(tmp_path: Path) -> None:
    """The device link puts ccache (installed by scripts/install-toolchain.sh) in front of the
    compilers: a second build tree of the same firmware compiles from the cache, and the flashed
    image is byte-identical to a build without ccache."""
    assert shutil.which("ccache"), "ccache is missing: run `bash scripts/install-toolchain.sh`"
    cache = tmp_path / "ccache"
    plain = build("mps2-an386", build_dir=tmp_path / "plain",
                  extra_env={"TINYRNN_COMPILER_LAUNCHER": ""})
    build("mps2-an386", build_dir=tmp_path / "first", extra_env={"CCACHE_DIR": str(cache)})
    before = _ccache_stats(cache)
    second = build("mps2-an386", build_dir=tmp_path / "second", extra_env={"CCACHE_DIR": str(cache)})
    after = _ccache_stats(cache)
    hits = sum(after[k] - before[k] for k in ("direct_cache_hit", "preprocessed_cache_hit"))
    misses = after["cache_miss"] - before["cache_miss"]
    objects = len(list((second.build_dir / "mps2-an386").rglob("*.o")))
    assert before["cache_miss"] >= objects > 10
    assert (hits, misses) == (objects, 0)
    assert _image(second.elf, tmp_path / "a.bin") == _image(plain.elf, tmp_path / "b.bin")
