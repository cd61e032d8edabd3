"""Device runs that survive a dying board: thousands of protocol-fixture windows streamed
through deploy/resilient_stream.py while a loopback TCP proxy between the host link and QEMU's
serial port garbles and drops bytes, QEMU is killed, or the board is reset (QMP system_reset:
the firmware reboots and prints its banner). Every window must end confirmed exactly once with
the fixture's true output (Python mirror), and the retries must be reported."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import serial
from firmware_support import FIXTURE_CHANNELS, FIXTURE_STEPS, fixture_build, fixture_mirror

from tinyrnn.deploy.firmware import qemu_machine
from tinyrnn.deploy.link import QemuBoard, _free_port
from tinyrnn.deploy.resilient_stream import StreamReport, load_checkpoint, stream_key, stream_windows

pytestmark = pytest.mark.device

ENV = "mps2-an386"
WINDOWS = 1500


class FaultProxy:
    """Forwards one client to QEMU's UART; corrupts (random byte) or drops bytes at the given
    per-byte rates, in both directions, with a seeded generator."""

    def __init__(self, upstream: socket.socket, garble: float, drop: float, seed: int) -> None:
        self.upstream = upstream
        self.garble, self.drop = garble, drop
        self.rng = random.Random(seed)
        self.garbled = self.dropped = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        client, _ = self.listener.accept()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for src, dst in ((client, self.upstream), (self.upstream, client)):
            threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(4096):
                if not self.drop and not self.garble:
                    dst.sendall(data)
                    continue
                out = bytearray()
                for b in data:
                    r = self.rng.random()
                    if r < self.drop:
                        self.dropped += 1
                    elif r < self.drop + self.garble:
                        self.garbled += 1
                        out.append(self.rng.randrange(256))
                    else:
                        out.append(b)
                dst.sendall(bytes(out))
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class ProxiedBoard(QemuBoard):
    """A QEMU board whose UART the host reaches through a FaultProxy, with a QMP socket for
    resets."""

    def __init__(self, elf: Path, garble: float = 0.0, drop: float = 0.0, seed: int = 0) -> None:
        self.qmp_port = _free_port()
        super().__init__(elf, qemu_machine(ENV), timeout=1.0, extra_args=[
            "-qmp", f"tcp:127.0.0.1:{self.qmp_port},server=on,wait=off"])
        self.faults = (garble, drop, seed)
        self.proxy: FaultProxy | None = None

    def _connect(self) -> serial.SerialBase:
        deadline = time.monotonic() + 20
        while True:
            try:
                upstream = socket.create_connection(("127.0.0.1", self.port), timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or (self.proc and self.proc.poll() is not None):
                    raise
                time.sleep(0.05)
        upstream.settimeout(None)
        self.proxy = FaultProxy(upstream, *self.faults)
        ser = serial.serial_for_url(f"socket://127.0.0.1:{self.proxy.port}", timeout=0.25)
        ser._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as QemuBoard does
        return ser

    def system_reset(self) -> None:
        with socket.create_connection(("127.0.0.1", self.qmp_port), timeout=5) as s:
            f = s.makefile("rw")
            f.readline()  # greeting
            for cmd in ("qmp_capabilities", "system_reset"):
                f.write(json.dumps({"execute": cmd}) + "\n")
                f.flush()
                while "return" not in json.loads(f.readline()):
                    pass


@pytest.fixture(scope="module")
def elf() -> Path:
    return fixture_build(ENV).elf


@pytest.fixture(scope="module")
def windows() -> np.ndarray:
    rng = np.random.default_rng(5)
    return rng.integers(-128, 128, (WINDOWS, FIXTURE_STEPS, FIXTURE_CHANNELS), dtype=np.int8)


def _run(elf: Path, windows: np.ndarray, tmp_path: Path, make: Callable[[], ProxiedBoard],
         on_progress: Callable[[int, list[ProxiedBoard]], None] | None = None
         ) -> tuple[StreamReport, list[ProxiedBoard]]:
    boards: list[ProxiedBoard] = []

    def factory() -> ProxiedBoard:
        boards.append(make())
        return boards[-1]

    def progress(done: int, total: int) -> None:
        if on_progress is not None:
            on_progress(done, boards)

    key = stream_key(windows, 1, elf.read_bytes())
    report = stream_windows(factory, windows, 1, checkpoint=tmp_path / "partial.json", key=key,
                            progress=progress, save_every=50)
    return report, boards


def _assert_all_confirmed_and_true(report: StreamReport, windows: np.ndarray) -> None:
    assert sorted(report.results) == list(range(len(windows)))  # each window once, none lost
    for i, w in enumerate(windows):
        want = fixture_mirror(w.tobytes())
        got = report.results[i]
        assert got.output == want, f"window {i}: {got.output} != {want}"
        assert got.cls == int(np.argmax(want))


def test_garbled_and_dropped_bytes(elf, windows, tmp_path) -> None:
    seeds = iter(range(100))
    report, boards = _run(elf, windows, tmp_path,
                          lambda: ProxiedBoard(elf, garble=2e-5, drop=2e-5, seed=next(seeds)))
    _assert_all_confirmed_and_true(report, windows)
    injected = sum(b.proxy.garbled + b.proxy.dropped for b in boards if b.proxy)
    assert injected > 0 and report.retries > 0
    print(f"\nfaults injected {injected}, retries {report.retries}, sessions {report.sessions}, "
          f"{dict(report.faults)}")


def test_qemu_killed_mid_stream(elf, windows, tmp_path) -> None:
    killed: list[int] = []

    def kill(done: int, boards: list[ProxiedBoard]) -> None:
        if done in (500, 1100) and done not in killed:
            killed.append(done)
            boards[-1].proc.kill()

    report, _ = _run(elf, windows, tmp_path, lambda: ProxiedBoard(elf), kill)
    _assert_all_confirmed_and_true(report, windows)
    assert killed == [500, 1100] and report.sessions == 3 and report.retries >= 2
    assert report.faults["DeviceGone"] >= 2
    print(f"\nkilled twice: retries {report.retries}, sessions {report.sessions}")


def test_board_reset_mid_stream(elf, windows, tmp_path) -> None:
    resets: list[int] = []

    def reset(done: int, boards: list[ProxiedBoard]) -> None:
        if done in (300, 1000) and done not in resets:
            resets.append(done)
            boards[-1].system_reset()

    report, _ = _run(elf, windows, tmp_path, lambda: ProxiedBoard(elf), reset)
    _assert_all_confirmed_and_true(report, windows)
    assert resets == [300, 1000] and report.retries >= 2
    assert report.faults["DeviceReset"] >= 1
    print(f"\nreset twice: retries {report.retries}, sessions {report.sessions}, "
          f"{dict(report.faults)}")


def test_interrupted_run_resumes_from_its_checkpoint(elf, windows, tmp_path) -> None:
    def interrupt(done: int, boards: list[ProxiedBoard]) -> None:
        if done == 777:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(elf, windows, tmp_path, lambda: ProxiedBoard(elf), interrupt)
    key = stream_key(windows, 1, elf.read_bytes())
    kept = load_checkpoint(tmp_path / "partial.json", key)
    assert 750 <= len(kept) <= 777  # saved every 50 windows
    assert load_checkpoint(tmp_path / "partial.json", "another key") == {}
    report, _ = _run(elf, windows, tmp_path, lambda: ProxiedBoard(elf))
    assert report.resumed == len(kept)
    _assert_all_confirmed_and_true(report, windows)
