"""The QEMU UART connection keeps every byte the guest sends from the moment we connect.

QEMU (``-serial tcp:...,wait=on``) starts the guest when the client connects; pyserial's
``socket://`` flushes its input right after connecting, which on a loaded CI machine ate the first
byte of the boot banner. The connect here is slowed down so the banner is always in flight before
that flush: plain pyserial loses it (which proves the test can fail), the device link does not."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import serial
from serial.urlhandler import protocol_socket

from tinyrnn.deploy import link

BANNER = b"ready proto=1 model=m board=b init=0\n"


@pytest.fixture
def banner_server() -> Iterator[int]:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            threading.Thread(target=talk, args=(conn,), daemon=True).start()

    def talk(conn: socket.socket) -> None:
        conn.sendall(BANNER)  # as QEMU's guest does on connect
        time.sleep(1.5)
        conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield int(srv.getsockname()[1])
    stop.set()
    t.join()
    srv.close()


@pytest.fixture
def slow_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.create_connection

    def connect_then_wait(*args: object, **kwargs: object) -> socket.socket:
        s = real(*args, **kwargs)  # type: ignore[arg-type]
        time.sleep(0.2)  # the banner arrives before pyserial's open-time flush
        return s

    monkeypatch.setattr(protocol_socket.socket, "create_connection", connect_then_wait)


def _read_all(port: serial.SerialBase) -> bytes:
    got = b""
    deadline = time.monotonic() + 2.0
    try:
        while time.monotonic() < deadline and not got.endswith(b"\n"):
            got += port.read(1)
    except serial.SerialException:
        pass  # the server hung up: what arrived before is the answer
    port.close()
    return got


def test_plain_pyserial_socket_loses_the_banner(banner_server: int, slow_connect: None) -> None:
    port = serial.serial_for_url(f"socket://127.0.0.1:{banner_server}", timeout=0.1)
    assert _read_all(port) != BANNER


def test_device_link_keeps_the_banner(banner_server: int, slow_connect: None) -> None:
    port = link._KeepInputSocket(f"socket://127.0.0.1:{banner_server}", timeout=0.1)
    assert _read_all(port) == BANNER
    # Later flushes still work: a resync must be able to drop what is in flight.
    port2 = link._KeepInputSocket(f"socket://127.0.0.1:{banner_server}", timeout=0.1)
    time.sleep(0.2)
    port2.reset_input_buffer()
    assert port2.read(1) == b""
    port2.close()
