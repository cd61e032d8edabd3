"""Real-chip ports (firmware/src/<port>/): derived board lists, the flash images next to the ELF
(addresses, vector table) booted in QEMU on the chip's own machine straight from the .hex and the
.bin, the counter's calibration, and `device flash` / `device eval --port` without a board."""

from __future__ import annotations

import json
import random
import struct
import time
from pathlib import Path

import pytest
from firmware_support import FIXTURE_CHANNELS, FIXTURE_STEPS, fixture_build, fixture_mirror

from tinyrnn.deploy.boards import LOCAL_BOARDS_DIR, all_boards, board, linker_memory, real_chip_envs
from tinyrnn.deploy.firmware import QEMU_ENVS, REAL_BOARD_ENVS, qemu_machine
from tinyrnn.deploy.flash import FlashError, find_drive, flash
from tinyrnn.deploy.images import ImageError, QemuImageBoard, check_image, image_paths, read_ihex
from tinyrnn.deploy.link import DeviceGone, open_serial
from tinyrnn.deploy.pio_bootstrap import FIRMWARE_DIR

pytestmark = pytest.mark.device

CHIPS = real_chip_envs()
WINDOW = bytes(random.Random(5).randrange(256) for _ in range(FIXTURE_STEPS * FIXTURE_CHANNELS))


def test_board_lists_come_from_platformio_ini_and_board_jsons() -> None:
    ini = (FIRMWARE_DIR / "platformio.ini").read_text()
    envs = [line[5:-1] for line in ini.splitlines() if line.startswith("[env:")]
    assert list(all_boards()) == envs
    with_port = {p.stem for p in LOCAL_BOARDS_DIR.glob("*.json")
                 if json.loads(p.read_text())["build"].get("port")}
    assert set(CHIPS) == {e for e in envs if board(e).board in with_port}
    assert {"microbit", "mps3-an547", "netduinoplus2"} <= set(CHIPS)
    assert set(CHIPS) <= set(QEMU_ENVS) and set(CHIPS) <= set(REAL_BOARD_ENVS)
    assert "nano33ble" in REAL_BOARD_ENVS and "nano33ble" not in QEMU_ENVS


@pytest.mark.parametrize("env", CHIPS)
def test_linker_script_is_the_chip_memory_the_board_json_declares(env: str) -> None:
    b = board(env)
    mem = linker_memory(FIRMWARE_DIR / "platforms/tinyrnn-qemu/ldscripts" / str(b.ldscript))
    assert mem["FLASH"].length == b.max_flash and mem["RAM"].length == b.max_ram
    assert b.pyocd_target, f"{env} names no pyocd target: device flash could not write it"


def test_microbit_has_the_nrf51822_memory() -> None:
    mem = board("microbit").memory()
    assert (mem["FLASH"].origin, mem["FLASH"].length) == (0, 256 * 1024)
    assert (mem["RAM"].origin, mem["RAM"].length) == (0x20000000, 16 * 1024)


@pytest.mark.parametrize("env", CHIPS)
def test_images_next_to_elf_have_a_bootable_vector_table(env: str) -> None:
    fw = fixture_build(env)
    image = check_image(env, fw.elf)
    mem = board(env).memory()
    assert image.load_address == mem["FLASH"].origin
    raw = image.bin.read_bytes()
    sp, reset = struct.unpack_from("<II", raw)
    assert (sp, reset) == (image.initial_sp, image.reset_vector)
    # The stack section comes last in RAM, after .data and .bss: SP is where RAM use ends.
    assert mem["RAM"].origin < sp <= mem["RAM"].end
    assert sp - mem["RAM"].origin == fw.memory().ram
    assert reset & 1 and mem["FLASH"].origin < reset < mem["FLASH"].origin + len(raw)
    hexdata = read_ihex(image.hex)
    assert min(hexdata) == mem["FLASH"].origin and len(hexdata) == len(raw)
    assert image.size == fw.memory().flash


def test_image_check_rejects_a_bad_vector_table(tmp_path: Path) -> None:
    fw = fixture_build("microbit")
    elf = tmp_path / "program.elf"
    bin_path, hex_path = image_paths(elf)
    raw = bytearray(fw.elf.with_suffix(".bin").read_bytes())
    raw[4:8] = struct.pack("<I", struct.unpack_from("<I", raw, 4)[0] & ~1)  # ARM, not Thumb
    bin_path.write_bytes(bytes(raw))
    hex_path.write_text(fw.elf.with_suffix(".hex").read_text())
    with pytest.raises(ImageError, match="different bytes"):
        check_image("microbit", elf)
    # A consistent pair with an even reset vector: still refused.
    lines = [_ihex_record(0, i, bytes(raw[i:i + 16])) for i in range(0, len(raw), 16)]
    hex_path.write_text("\n".join([*lines, ":00000001FF"]) + "\n")
    with pytest.raises(ImageError, match=r"reset vector .* not a Thumb address"):
        check_image("microbit", elf)


def _ihex_record(kind: int, offset: int, payload: bytes) -> str:
    body = bytes([len(payload), offset >> 8 & 0xFF, offset & 0xFF, kind]) + payload
    return ":" + (body + bytes([-sum(body) & 0xFF])).hex().upper()


@pytest.mark.parametrize("suffix", [".hex", ".bin"])
@pytest.mark.parametrize("env", CHIPS)
def test_image_itself_boots_in_qemu_on_the_chip_machine(env: str, suffix: str) -> None:
    fw = fixture_build(env)
    path = fw.elf.with_suffix(suffix)
    with QemuImageBoard(path, qemu_machine(env)) as dev:
        info = dev.identify()
        assert info.board == env
        assert info.counter_unit == "instructions_emulated"  # QEMU: no DWT, no real counter
        r = dev.classify(WINDOW)
        assert r.output == fixture_mirror(WINDOW)


@pytest.mark.parametrize("env", CHIPS)
def test_counter_counts_emulated_instructions_to_one_tick(env: str) -> None:
    with QemuImageBoard(fixture_build(env).elf, qemu_machine(env)) as dev:
        res = dev.info.counter_resolution
        n = 1_000_000
        count = dev.spin(n)  # exactly 2 instructions per iteration
        assert abs(count - 2 * n) <= res + 16, (count, res)
        assert dev.spin(n) == count  # deterministic under -icount


def test_flash_without_a_board_says_what_it_looked_for(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tinyrnn.deploy.flash.MOUNT_ROOTS", (str(tmp_path),))
    try:
        import pyocd  # noqa: F401
        expected = r"no debug probe found for microbit: pyocd looked for CMSIS-DAP .*ST-Link.*MICROBIT"
    except ImportError:
        expected = r"pyocd is not installed .*requirements-flash\.lock"
    with pytest.raises(FlashError, match=expected) as err:
        flash("microbit")
    assert "\n" not in str(err.value)


def test_flash_copies_the_hex_to_a_daplink_drive(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    drive = tmp_path / "media" / "user" / "MICROBIT"
    drive.mkdir(parents=True)
    (drive / "DETAILS.TXT").write_text("DAPLink Firmware\n")
    monkeypatch.setattr("tinyrnn.deploy.flash.MOUNT_ROOTS", (str(tmp_path / "media"),))
    assert find_drive("MICROBIT") == drive
    result = flash("microbit")
    assert result.method == f"drive {drive}"
    assert (drive / "program.hex").read_bytes() == result.image.hex.read_bytes()


def test_flash_refuses_a_non_chip_env() -> None:
    with pytest.raises(FlashError, match="not a bare-metal real chip"):
        flash("mps2-an386")


def test_cli_flash_exits_1_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from tinyrnn.deploy.cli import main

    monkeypatch.setattr("tinyrnn.deploy.flash.MOUNT_ROOTS", (str(tmp_path),))
    with pytest.raises(SystemExit) as exc:
        main(["device", "flash", "--env", "netduinoplus2", "--probe", "no-such-probe"])
    assert exc.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1


def test_missing_serial_port_is_a_clear_error() -> None:
    with pytest.raises(DeviceGone, match="cannot open /dev/ttyNOSUCH0"):
        open_serial("/dev/ttyNOSUCH0")


@pytest.mark.slow
@pytest.mark.parametrize("env", CHIPS)
def test_trained_model_on_each_chip_equals_host_build(env: str, tiny_build: Path) -> None:
    """A trained LSTM's test windows on the chip's QEMU machine, window by window against the
    host build of the same generated C; nothing is written to the model folder."""
    from tinyrnn.deploy.device_eval import ensure_compiled, run_device_step

    model = next(d for d in sorted((tiny_build / "models").iterdir()) if "lstm" in d.name)
    ensure_compiled(model)
    r = run_device_step(model, env, limit=12, recheck=2, progress=False, write=False)
    assert r["board"] == env and r["windows"] == 12
    assert r["windows_outputs_differ"] == 0 and r["accuracy"] == r["host_accuracy"]
    assert r["parameter_bytes_match_card"]
    assert r["counts_identical_over_two_runs"] is True
    assert not (model / f"device-{env}.json").exists()


@pytest.mark.slow
def test_eval_on_a_missing_port_writes_no_results(tiny_build: Path) -> None:
    from tinyrnn.deploy.device_eval import ensure_compiled, run_device_step

    model = next(d for d in sorted((tiny_build / "models").iterdir()) if "lstm" in d.name)
    ensure_compiled(model)
    with pytest.raises(DeviceGone, match="cannot open /dev/ttyNOSUCH0"):
        run_device_step(model, "microbit", port="/dev/ttyNOSUCH0", limit=2, progress=False)
    assert not (model / "device-microbit.json").exists()


@pytest.mark.slow
def test_eval_against_a_board_running_another_firmware_writes_no_results(tiny_build: Path) -> None:
    """A "real board" on a serial port (QEMU's UART as a TCP port, opened like /dev/ttyACM0) that
    runs the protocol fixture instead of the model: a clear error and no results file."""
    import socket
    import subprocess

    from tinyrnn.deploy.device_eval import DeviceEvalError, ensure_compiled, run_device_step

    model = next(d for d in sorted((tiny_build / "models").iterdir()) if "lstm" in d.name)
    ensure_compiled(model)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    qemu = subprocess.Popen(
        ["qemu-system-arm", "-M", "microbit", "-nographic", "-monitor", "none", "-semihosting",
         "-serial", f"tcp:127.0.0.1:{port},server=on,wait=off", "-kernel",
         str(fixture_build("microbit").elf)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        with pytest.raises(DeviceEvalError, match=r"runs model 'protocol-fixture'.*device flash"):
            run_device_step(model, "microbit", port=f"socket://127.0.0.1:{port}", limit=2,
                            progress=False)
    finally:
        qemu.kill()
        qemu.wait(timeout=5)
    assert not (model / "device-microbit.json").exists()
