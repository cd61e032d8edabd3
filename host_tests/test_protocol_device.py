"""The serial protocol on a running board (default: the emulated Cortex-M4), with the protocol
fixture firmware: round trips, fixture outputs against the Python mirror, step versus infer,
deterministic instruction counts, and every malformed command."""

from __future__ import annotations

import os
import random
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from device_plugin import device_option, is_serial_port
from firmware_support import (
    FIXTURE_CHANNELS,
    FIXTURE_OUTPUTS,
    FIXTURE_STEPS,
    fixture_build,
    fixture_mirror,
)

from tinyrnn.deploy.boards import board
from tinyrnn.deploy.firmware import QEMU_ENVS, qemu_machine
from tinyrnn.deploy.link import (
    CommandRejected,
    Device,
    DeviceGone,
    LineTransport,
    ProtocolError,
    QemuBoard,
    open_serial,
)

pytestmark = pytest.mark.device

INPUT = FIXTURE_STEPS * FIXTURE_CHANNELS


def _windows(n: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    fixed = [bytes([0x80] * INPUT), bytes([0x7F] * INPUT), bytes(INPUT)]
    return fixed + [bytes(rng.randrange(256) for _ in range(INPUT)) for _ in range(n)]


@pytest.fixture(scope="module")
def dev(request: pytest.FixtureRequest) -> Iterator[Device]:
    target = device_option(request.config)
    if is_serial_port(target):
        device = open_serial(target)
        try:
            if device.identify().model != "protocol-fixture":
                pytest.skip("the board on --device does not run the protocol fixture firmware")
            yield device
        finally:
            device.close()
        return
    with QemuBoard(fixture_build(target).elf, qemu_machine(target)) as device:
        yield device


@pytest.fixture(autouse=True)
def _still_responsive(dev: Device) -> Iterator[None]:
    yield
    # After every test, whatever it sent, the firmware must still answer.
    assert dev.command("ping alive", "pong").words == ["alive"]


def test_identify(dev: Device) -> None:
    info = dev.identify()
    assert info.model == "protocol-fixture" and info.backend == "tinyrnn"
    assert (info.steps, info.channels, info.output_size) == (FIXTURE_STEPS, FIXTURE_CHANNELS,
                                                             FIXTURE_OUTPUTS)
    assert info.input_size == INPUT and info.proto == 1
    assert info.input_scale == 0.0625 and info.input_zero_point == -3
    assert info.output_zero_point == -128
    assert dev.class_names() == [f"fixture_{k}" for k in range(FIXTURE_OUTPUTS)]
    means, stds = dev.normalization()
    assert means == [0.0] * FIXTURE_CHANNELS and stds == [1.0] * FIXTURE_CHANNELS
    if info.board in QEMU_ENVS:
        assert info.counter_unit == "instructions_emulated"


def test_outputs_equal_python_mirror(dev: Device) -> None:
    for w in _windows(20):
        r = dev.classify(w)
        expected = fixture_mirror(w)
        assert r.output == expected
        assert r.cls == expected.index(max(expected))
        assert dev.output()[0] == expected


def test_infer_resets_state_so_repeated_runs_agree(dev: Device) -> None:
    w = _windows(1, seed=7)[-1]
    dev.load(w)
    first = dev.infer(1)
    again = dev.infer(5)
    assert again.output == first.output == fixture_mirror(w)
    if dev.info.counter_unit == "instructions_emulated":
        assert again.count_min == again.count_max == first.count


def test_step_matches_invoke(dev: Device) -> None:
    w = _windows(1, seed=3)[-1]
    dev.load(w)
    dev.reset()
    for t in range(FIXTURE_STEPS):  # frames from the loaded window
        s = dev.step()
        assert s.t == t and s.output == fixture_mirror(w, t + 1)
    with pytest.raises(CommandRejected, match="window exhausted"):
        dev.step()
    dev.reset()
    for t in range(FIXTURE_STEPS):  # frames sent on the line
        s = dev.step(w[t * FIXTURE_CHANNELS : (t + 1) * FIXTURE_CHANNELS])
    assert s.output == dev.infer().output == fixture_mirror(w)


def test_spin_calibrates_the_counter(dev: Device) -> None:
    info = dev.info
    if info.counter_unit != "instructions_emulated":
        pytest.skip("cycle counts on hardware depend on the pipeline")
    n = 1_000_000
    count = dev.spin(n)
    # Two instructions per iteration; the counter ticks every counter_resolution instructions.
    assert abs(count - 2 * n) <= 2 * info.counter_resolution


def test_memory_report(dev: Device) -> None:
    mem = dev.memory()
    assert 0 < mem["stack_used"] < mem["stack_reserved"]
    assert mem["harness_buffers"] >= INPUT


def _raw(dev: Device, line: bytes) -> str:
    dev.transport.write(line + b"\n")
    return dev.read_reply_line(repr(line)).decode("ascii")


MALFORMED: list[tuple[bytes, str]] = [
    (b"frobnicate", "err unknown_verb"),
    (b"ID", "err unknown_verb"),
    (b"\x00\xff\x01garbage", "err unknown_verb"),
    (b"id extra", "err unknown_verb"),  # replaced below: id takes no args but ignores them? no
    (b"load", "err bad_arg"),
    (b"load 95 00000000", "err bad_len"),
    (b"load 96 xyz", "err bad_arg"),
    (b"load 96 123456789", "err bad_arg"),
    (b"load 99999999999 0", "err bad_arg"),
    (b"load -1 0", "err bad_arg"),
    (b"infer 0", "err bad_arg"),
    (b"infer 10001", "err bad_arg"),
    (b"infer 1 2", "err bad_arg"),
    (b"infer 1x", "err bad_arg"),
    (b"class 7", "err bad_arg"),
    (b"class", "err bad_arg"),
    (b"norm 6", "err bad_arg"),
    (b"step 0011", "err bad_len"),
    (b"step 00112233445566778899aabb", "err bad_len"),
    (b"step zz1122334455", "err bad_hex"),
    (b"spin 100000001", "err bad_arg"),
    (b"exit 256", "err bad_arg"),
    (b"reset now", "err bad_arg"),
    (b"a b c d e f", "err bad_arg"),
    (b"x" * 161, "err too_long"),
    (b"data 0 " + b"00" * 2000, "err too_long"),
]
MALFORMED = [m for m in MALFORMED if m[0] != b"id extra"]


@pytest.mark.parametrize(("line", "expected"), MALFORMED, ids=lambda v: repr(v)[:30])
def test_malformed_command_gets_error_and_firmware_stays_responsive(
    dev: Device, line: bytes, expected: str
) -> None:
    assert _raw(dev, line).startswith(expected)


def test_longest_accepted_line_is_not_too_long(dev: Device) -> None:
    assert _raw(dev, b"ping " + b"p" * 155).startswith("ok pong")
    assert _raw(dev, b"ping " + b"p" * 156).startswith("err too_long")


def test_data_errors_leave_no_window(dev: Device) -> None:
    good = _windows(1, seed=5)[-1]
    dev.load(good)
    crc = zlib.crc32(good)
    assert _raw(dev, b"data 0 00").startswith("err state")  # no load open
    assert _raw(dev, f"load {INPUT} {crc:08x}".encode()).startswith("ok load")
    assert _raw(dev, b"infer").startswith("err no_input")  # the old window is gone
    assert _raw(dev, b"data 4 00").startswith("err bad_offset expected=0")
    assert _raw(dev, b"data 0 0").startswith("err bad_len")  # odd digit count
    assert _raw(dev, b"data 0 " + b"00" * 65).startswith("err bad_len")  # over chunk_max
    assert _raw(dev, b"data 0 00g0").startswith("err bad_hex at=2")
    assert _raw(dev, b"data 0 " + good[:64].hex().encode()).startswith("ok data next=64")
    assert _raw(dev, b"data 64 " + b"00" * 40).startswith("err bad_len")  # past the end
    # Last chunk with one flipped byte: CRC mismatch, no window.
    bad_tail = bytearray(good[64:])
    bad_tail[0] ^= 1
    assert _raw(dev, b"data 64 " + bytes(bad_tail).hex().encode()).startswith("err crc")
    assert _raw(dev, b"infer").startswith("err no_input")
    # A clean reload works.
    assert dev.classify(good).output == fixture_mirror(good)


def test_bytes_arriving_mid_command_are_rejected(dev: Device) -> None:
    if dev.info.counter_unit != "instructions_emulated":
        pytest.skip("timing of the overlap is only guaranteed under QEMU")
    # spin 100M instructions lasts a while in QEMU; the second line arrives while it runs.
    dev.transport.write(b"spin 100000000\nid\n")
    first = dev.read_reply_line("spin", timeout=60).decode()
    second = dev.read_reply_line("id", timeout=10).decode()
    assert first.startswith("ok spin n=100000000")
    assert second.startswith("err busy discarded=2")


def test_blank_lines_are_ignored(dev: Device) -> None:
    assert _raw(dev, b"\r\n\n  \nping x").startswith("ok pong x")


class _GarbleOnce(LineTransport):
    """Corrupts the first reply line it reads, as line noise would."""

    def __init__(self, inner: LineTransport) -> None:
        self.__dict__.update(inner.__dict__)
        self.garbled = False

    def readline(self, timeout: float) -> bytes:
        line = super().readline(timeout)
        if not self.garbled and line.startswith(b"ok"):
            self.garbled = True
            return b"\xfe\xff" + line[2:]
        return line


def test_client_retries_once_on_a_garbled_reply(dev: Device) -> None:
    noisy = Device(_GarbleOnce(dev.transport), dev.timeout)
    noisy._info = dev.info
    w = _windows(1, seed=11)[-1]
    assert noisy.classify(w).output == fixture_mirror(w)
    assert noisy.transport.garbled  # type: ignore[attr-defined]


class _ClippedBanner(LineTransport):
    """Hands out the tail of a boot banner first, as when the link lost its first bytes."""

    def __init__(self, inner: LineTransport, first: bytes) -> None:
        self.__dict__.update(inner.__dict__)
        self.first: bytes | None = first

    def readline(self, timeout: float) -> bytes:
        if self.first is not None:
            line, self.first = self.first, None
            return line
        return super().readline(timeout)


def test_clipped_banner_resyncs_and_garbage_is_refused(dev: Device) -> None:
    clipped = Device(_ClippedBanner(dev.transport, b"eady proto=1 model=m board=b init=0"))
    assert clipped.wait_ready() == "ready proto=1 model=m board=b init=0"
    noise = Device(_ClippedBanner(dev.transport, b"\xfe\xfe"))
    with pytest.raises(ProtocolError, match="boot banner"):
        noise.wait_ready()


def test_all_qemu_boards_answer_and_agree(request: pytest.FixtureRequest) -> None:
    if is_serial_port(device_option(request.config)):
        pytest.skip("QEMU-only")
    w = _windows(1, seed=13)[-1]
    for env in QEMU_ENVS:
        with QemuBoard(fixture_build(env).elf, qemu_machine(env)) as d:
            info = d.identify()
            assert info.board == env
            assert d.classify(w).output == fixture_mirror(w)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_waiting_qemu_board_sleeps_and_still_answers(request: pytest.FixtureRequest) -> None:
    """The QEMU boards' port waits for input in WFI: a board waiting for the host takes no host
    CPU (it used to spin a whole core), and answers at once when bytes come."""
    if is_serial_port(device_option(request.config)):
        pytest.skip("QEMU-only")
    w = _windows(1, seed=13)[-1]
    for env in (e for e in QEMU_ENVS if not board(e).real_chip):
        qemu = QemuBoard(fixture_build(env).elf, qemu_machine(env))
        with qemu as d:
            assert d.classify(w).output == fixture_mirror(w)
            assert qemu.proc is not None
            before = _cpu_seconds(qemu.proc.pid)
            time.sleep(1.0)
            idle = _cpu_seconds(qemu.proc.pid) - before
            assert idle < 0.2, f"{env}: QEMU used {idle:.2f} s of CPU in 1 s of waiting"
            assert d.classify(w).output == fixture_mirror(w)


def test_instruction_counts_identical_over_two_runs(request: pytest.FixtureRequest) -> None:
    target = device_option(request.config)
    if is_serial_port(target):
        pytest.skip("emulated instruction counts only")
    windows = _windows(6, seed=17)
    runs = []
    for _ in range(2):
        with QemuBoard(fixture_build(target).elf, qemu_machine(target)) as d:
            runs.append([(d.classify(w).count, d.spin(12345)) for w in windows])
    assert runs[0] == runs[1]
    assert all(c > 0 for c, _ in runs[0])


def test_exit_ends_qemu_with_its_code_and_client_reports_it(request: pytest.FixtureRequest) -> None:
    target = device_option(request.config)
    if is_serial_port(target):
        pytest.skip("QEMU-only")
    board = QemuBoard(fixture_build(target).elf, qemu_machine(target), timeout=3)
    with board as d:
        d.command("exit 7", "exit")
        assert board.exit_code() == 7
        start = time.monotonic()
        with pytest.raises(DeviceGone, match="exited with 7"):
            d.command("id", "id")
        assert time.monotonic() - start < 5
    assert board.proc is not None and board.proc.poll() is not None
