"""Host side of the serial protocol (firmware/PROTOCOL.md): the same client drives a board in QEMU
(UART on a loopback TCP port, pyserial ``socket://``) and a real board on ``/dev/ttyACM0``.

Reading is line by line with our own deadline: pyserial's ``socket://`` reports ``in_waiting`` as
only 0 or 1 and a ``read(n)`` that is cut short by QEMU closing the socket loses what it had
read (docs/toolchain-facts.md, "QEMU serial link"), so we never ask for more than is known to be waiting.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import socket
import struct
import subprocess
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import serial
from serial.urlhandler import protocol_socket

DEFAULT_TIMEOUT = 10.0
BOOT_TIMEOUT = 15.0
QEMU_CONNECT_TIMEOUT = 15.0


class DeviceError(RuntimeError):
    """Base of every device-link failure."""


class DeviceTimeout(DeviceError):
    """No (complete) reply in time."""


class DeviceReset(DeviceError):
    """The board printed its boot banner while a reply was expected: it reset."""


class DeviceGone(DeviceError):
    """The connection closed: the board was unplugged or QEMU exited (e.g. after a fault)."""


class ProtocolError(DeviceError):
    """A reply that does not parse, or not the reply the command asked for."""


class CommandRejected(DeviceError):
    """The firmware answered ``err <code> ...``."""

    def __init__(self, command: str, code: str, detail: str) -> None:
        super().__init__(f"device rejected `{_clip(command)}`: err {code} {detail}".rstrip())
        self.command = command
        self.code = code
        self.detail = detail


def _clip(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[:n] + "..."


# ---- transport ----------------------------------------------------------------------------


class LineTransport:
    """A pyserial port read one waiting byte at a time into a line buffer."""

    def __init__(self, port: serial.SerialBase, name: str, on_close: Any = None) -> None:
        self.port = port
        self.name = name
        self._buf = bytearray()
        self._on_close = on_close
        self.transcript: list[tuple[str, bytes]] = []
        self.keep_transcript = False

    def write(self, data: bytes) -> None:
        if self.keep_transcript:
            self.transcript.append(("tx", data))
        try:
            self.port.write(data)
            self.port.flush()
        except (serial.SerialException, OSError) as exc:
            raise DeviceGone(f"{self.name}: write failed ({exc}); {self._why_gone()}") from exc

    def readline(self, timeout: float) -> bytes:
        """One line without its terminator; raises DeviceTimeout / DeviceGone."""
        deadline = time.monotonic() + timeout
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line = bytes(self._buf[:nl]).rstrip(b"\r")
                del self._buf[: nl + 1]
                if self.keep_transcript:
                    self.transcript.append(("rx", line))
                return line
            left = deadline - time.monotonic()
            if left <= 0:
                partial = bytes(self._buf[:80])
                raise DeviceTimeout(
                    f"{self.name}: no reply within {timeout:.1f} s"
                    + (f" (partial line {partial!r})" if partial else "")
                )
            try:
                self.port.timeout = min(left, 0.25)
                waiting = self.port.in_waiting
                chunk = self.port.read(waiting if waiting > 1 else 1)
            except (serial.SerialException, OSError) as exc:
                raise DeviceGone(f"{self.name}: connection lost ({exc}); {self._why_gone()}") from exc
            self._buf.extend(chunk)

    def discard_input(self) -> None:
        self._buf.clear()
        with contextlib.suppress(serial.SerialException, OSError):
            self.port.reset_input_buffer()

    def _why_gone(self) -> str:
        if self._on_close is not None:
            return str(self._on_close())
        return "the board was unplugged or reset"

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.port.close()


# ---- replies ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    verb: str
    fields: dict[str, str]
    words: list[str]
    raw: str


def parse_reply(raw: bytes, command: str) -> Reply:
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"garbled reply to `{_clip(command)}`: {raw[:80]!r}") from exc
    words = text.split()
    if not words or words[0] not in ("ok", "err"):
        raise ProtocolError(f"unexpected line in reply to `{_clip(command)}`: {text[:80]!r}")
    if words[0] == "err":
        code = words[1] if len(words) > 1 else "?"
        raise CommandRejected(command, code, " ".join(words[2:]))
    if len(words) < 2:
        raise ProtocolError(f"reply to `{_clip(command)}` names no verb: {text!r}")
    fields = dict(w.split("=", 1) for w in words[2:] if "=" in w)
    return Reply(verb=words[1], fields=fields, words=words[2:], raw=text)


def _f32(bits: str) -> float:
    return struct.unpack("<f", struct.pack("<I", int(bits, 16)))[0]


def _s8(hexstr: str) -> list[int]:
    return [b - 256 if b > 127 else b for b in bytes.fromhex(hexstr)]


@dataclass(frozen=True)
class DeviceInfo:
    proto: int
    model: str
    board: str
    cpu: str
    backend: str
    steps: int
    channels: int
    input_size: int
    output_size: int
    arena_bytes: int
    state_bytes: int
    weight_bytes: int
    macs: int
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int
    has_step: bool
    counter_unit: str
    counter_resolution: int
    line_max: int
    chunk_max: int
    init_status: int
    fields: dict[str, str] = field(repr=False, default_factory=dict)

    @classmethod
    def from_reply(cls, r: Reply) -> DeviceInfo:
        f = r.fields
        try:
            return cls(
                proto=int(f["proto"]), model=f["model"], board=f["board"], cpu=f["cpu"],
                backend=f["backend"], steps=int(f["steps"]), channels=int(f["channels"]),
                input_size=int(f["input"]), output_size=int(f["output"]),
                arena_bytes=int(f["arena"]), state_bytes=int(f["state"]),
                weight_bytes=int(f["weights"]), macs=int(f["macs"]),
                input_scale=_f32(f["in_scale"]), input_zero_point=int(f["in_zp"]),
                output_scale=_f32(f["out_scale"]), output_zero_point=int(f["out_zp"]),
                has_step=f["step"] == "1", counter_unit=f["counter"],
                counter_resolution=int(f["counter_res"]), line_max=int(f["line_max"]),
                chunk_max=int(f["chunk_max"]), init_status=int(f["init"]), fields=dict(f),
            )
        except (KeyError, ValueError) as exc:
            raise ProtocolError(f"`id` reply lacks or garbles field {exc}: {r.raw[:120]!r}") from exc


@dataclass(frozen=True)
class InferResult:
    output: list[int]
    cls: int
    count: int
    count_min: int
    count_max: int
    runs: int


@dataclass(frozen=True)
class StepResult:
    t: int
    output: list[int]
    cls: int
    count: int


def load_lines(data: bytes, info: DeviceInfo) -> list[tuple[str, str]]:
    """The protocol lines (command, expected reply verb) that load one window: ``load <n> <crc>``
    then ``data <offset> <hex>`` chunks sized to the device's line and chunk limits (the framing
    of firmware/PROTOCOL.md, in this one place)."""
    chunk = max(1, min(info.chunk_max, (info.line_max - 20) // 2))
    lines = [(f"load {len(data)} {zlib.crc32(data):08x}", "load")]
    for off in range(0, len(data), chunk):
        last = off + chunk >= len(data)
        lines.append((f"data {off} {data[off:off + chunk].hex()}", "loaded" if last else "data"))
    return lines


def infer_result(fields: dict[str, str]) -> InferResult:
    """The fields of an ``ok infer`` reply."""
    return InferResult(output=_s8(fields["out"]), cls=int(fields["cls"]), count=int(fields["count"]),
                       count_min=int(fields["min"]), count_max=int(fields["max"]),
                       runs=int(fields["n"]))


def _as_bytes(data: bytes | bytearray | Sequence[int] | Any) -> bytes:
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    if hasattr(data, "tobytes"):  # numpy int8 arrays
        return bytes(data.tobytes())
    return bytes(int(v) & 0xFF for v in data)


# ---- client -------------------------------------------------------------------------------


class Device:
    """Lockstep client: one command line out, one reply line back."""

    def __init__(self, transport: LineTransport, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.transport = transport
        self.timeout = timeout
        self._info: DeviceInfo | None = None
        # `log <text>` lines: diagnostics of the model runtime (TFLM's DebugLog), not replies.
        self.logs: list[str] = []

    def _readline(self, timeout: float) -> bytes:
        while True:
            try:
                line = self.transport.readline(timeout)
            except DeviceGone as exc:
                if not self.logs:
                    raise
                raise DeviceGone(f"{exc}; the runtime logged before: "
                                 f"{' | '.join(self.logs[-6:])}") from exc
            if not line.startswith(b"log "):
                return line
            self.logs.append(line[4:].decode("ascii", "replace").strip())

    # low level
    def send_line(self, line: str | bytes) -> None:
        data = line.encode("ascii") if isinstance(line, str) else line
        self.transport.write(data + b"\n")

    def read_reply_line(self, command: str, timeout: float | None = None) -> bytes:
        line = self._readline(self.timeout if timeout is None else timeout)
        if line.startswith(b"ready "):
            raise DeviceReset(
                f"{self.transport.name} reset while waiting for the reply to `{_clip(command)}` "
                f"(boot banner {line[:80]!r}): check power, the watchdog, or a crash"
            )
        return line

    def command(self, line: str, verb: str, timeout: float | None = None) -> Reply:
        """Send one command and parse its reply, which must be ``ok <verb> ...``."""
        self.send_line(line)
        reply = parse_reply(self.read_reply_line(line, timeout), line)
        if reply.verb != verb:
            raise ProtocolError(f"`{_clip(line)}` answered `ok {reply.verb}`, expected `ok {verb}`")
        return reply

    def _retry_once(self, what: str, fn: Any) -> Any:
        """Run fn; on a garbled or unexpected reply resynchronise and run it once more."""
        try:
            return fn()
        except ProtocolError:
            self.sync()
            try:
                return fn()
            except ProtocolError as exc:
                raise ProtocolError(f"{what}: garbled reply twice, giving up: {exc}") from exc

    def sync(self, attempts: int = 5, timeout: float = 2.0) -> None:
        """Drop whatever is in flight and wait until the board answers a fresh ping."""
        for _ in range(attempts):
            token = secrets.token_hex(4)
            self.transport.discard_input()
            # The blank line ends any half-sent command on the board side.
            self.transport.write(b"\n")
            self.send_line(f"ping {token}")
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    line = self.transport.readline(max(0.01, deadline - time.monotonic()))
                except DeviceTimeout:
                    break
                if line.strip() == f"ok pong {token}".encode():
                    return
        raise DeviceTimeout(
            f"{self.transport.name} does not answer `ping` after {attempts} tries: is the "
            f"tinyrnn firmware flashed and the port right (baud rate 115200)?"
        )

    # protocol
    def wait_ready(self, timeout: float = BOOT_TIMEOUT) -> str:
        """The boot banner of a board that was just started (QEMU prints it on connect)."""
        line = self._readline(timeout)
        if line.startswith(b"ready "):
            return line.decode("ascii", "replace")
        if b" proto=" not in line:
            raise ProtocolError(f"expected the boot banner `ready ...`, got {line[:80]!r}")
        # The tail of a banner whose first bytes were lost: the board booted; make sure it
        # answers before trusting the link.
        self.sync()
        return "ready " + line[line.index(b"proto="):].decode("ascii", "replace")

    def identify(self) -> DeviceInfo:
        info = self._retry_once("id", lambda: DeviceInfo.from_reply(self.command("id", "id")))
        if info.init_status != 0:
            said = f"; the runtime logged: {' | '.join(self.logs[-6:])}" if self.logs else ""
            raise DeviceError(f"model init failed on the device (status {info.init_status})"
                              f"{said}")
        self._info = info
        return info

    @property
    def info(self) -> DeviceInfo:
        return self._info if self._info is not None else self.identify()

    def class_names(self) -> list[str]:
        return [
            self._retry_once("class", lambda k=k: self.command(f"class {k}", "class")).fields["name"]
            for k in range(self.info.output_size)
        ]

    def normalization(self) -> tuple[list[float], list[float]]:
        means, stds = [], []
        for c in range(self.info.channels):
            r = self._retry_once("norm", lambda c=c: self.command(f"norm {c}", "norm"))
            means.append(_f32(r.fields["mean"]))
            stds.append(_f32(r.fields["std"]))
        return means, stds

    def load(self, window: bytes | Sequence[int] | Any) -> None:
        data = _as_bytes(window)
        if len(data) != self.info.input_size:
            raise ValueError(
                f"window has {len(data)} bytes, the model on {self.info.board} takes "
                f"{self.info.input_size} ({self.info.steps} steps x {self.info.channels} channels)"
            )
        crc = zlib.crc32(data)

        def _send() -> None:
            for cmd, verb in load_lines(data, self.info):
                r = self.command(cmd, verb)
                if verb == "loaded" and int(r.fields["crc"], 16) != crc:
                    raise ProtocolError(f"device CRC {r.fields['crc']} != {crc:08x}")

        try:
            self._retry_once("load", _send)
        except CommandRejected as exc:
            if exc.code not in ("crc", "bad_hex", "bad_offset"):
                raise
            # Corruption on the line: a fresh load from the start is safe to repeat once.
            self.sync()
            _send()

    def infer(self, runs: int = 1, timeout: float | None = None) -> InferResult:
        def _run() -> InferResult:
            r = self.command(f"infer {runs}", "infer", timeout or max(self.timeout, 0.05 * runs))
            return infer_result(r.fields)

        return self._retry_once("infer", _run)  # infer resets first: repeating it is harmless

    def classify(self, window: bytes | Sequence[int] | Any, runs: int = 1) -> InferResult:
        self.load(window)
        return self.infer(runs)

    def classify_all(self, windows: Iterable[Any], runs: int = 1) -> Iterator[InferResult]:
        for w in windows:
            yield self.classify(w, runs)

    def reset(self) -> None:
        self._retry_once("reset", lambda: self.command("reset", "reset"))

    def step(self, frame: bytes | Sequence[int] | Any | None = None) -> StepResult:
        # Not retried: a step the board executed but whose reply was lost would run twice.
        line = "step" if frame is None else f"step {_as_bytes(frame).hex()}"
        r = self.command(line, "step")
        return StepResult(t=int(r.fields["t"]), output=_s8(r.fields["out"]),
                          cls=int(r.fields["cls"]), count=int(r.fields["count"]))

    def output(self) -> tuple[list[int], int]:
        r = self._retry_once("out", lambda: self.command("out", "out"))
        return _s8(r.fields["out"]), int(r.fields["count"])

    def memory(self) -> dict[str, int]:
        r = self._retry_once("mem", lambda: self.command("mem", "mem"))
        return {k: int(v) for k, v in r.fields.items()}

    def spin(self, iterations: int) -> int:
        return int(self.command(f"spin {iterations}", "spin", timeout=60.0).fields["count"])

    def exit(self, code: int = 0) -> None:
        with contextlib.suppress(DeviceGone, DeviceTimeout):
            self.command(f"exit {code}", "exit", timeout=2.0)

    def close(self) -> None:
        self.transport.close()


def open_serial(port: str, baudrate: int = 115200, timeout: float = DEFAULT_TIMEOUT) -> Device:
    """A real board on a serial port; syncs with ping, since its boot banner is usually missed."""
    try:
        # exclusive: a port another program holds (a terminal, a second run) is "busy", not shared.
        extra = {} if "://" in port else {"exclusive": True}
        ser = serial.serial_for_url(port, baudrate=baudrate, timeout=0.25, **extra)
    except serial.SerialException as exc:
        raise DeviceGone(
            f"cannot open {port}: {exc}. Is the board plugged in, is no other program using the "
            f"port, and may you use it (group dialout)?"
        ) from exc
    dev = Device(LineTransport(ser, port), timeout)
    # Opening a port resets some boards (ESP32 via DTR/RTS): give the banner time to pass.
    time.sleep(0.5)
    dev.sync(attempts=10)
    return dev


# ---- QEMU ---------------------------------------------------------------------------------


class _KeepInputSocket(protocol_socket.Serial):
    """pyserial's ``socket://`` flushes its input right after connecting. QEMU (``wait=on``)
    starts the guest the moment we connect, so on a loaded machine that flush ate the first bytes
    of the boot banner (``b'eady proto=1 ...'`` in CI). Nothing can be stale on a fresh
    connection, so the open-time flush is skipped; later flushes work as before."""

    def open(self) -> None:
        self._opening = True
        try:
            super().open()
        finally:
            self._opening = False

    def reset_input_buffer(self) -> None:
        if getattr(self, "_opening", False):
            return
        super().reset_input_buffer()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class QemuBoard:
    """One emulated board running one ELF; always stops QEMU on close (use as a context manager).

    -icount shift=0 makes each instruction exactly 1 ns of virtual time, so the SysTick-based
    counter counts instructions deterministically; -semihosting lets the firmware exit QEMU with
    a code (and a fault end it with 100 + exception number)."""

    def __init__(self, elf: Path, machine: str, timeout: float = DEFAULT_TIMEOUT,
                 extra_args: Sequence[str] = ()) -> None:
        if not shutil.which("qemu-system-arm"):
            raise DeviceError(
                "qemu-system-arm is not installed: run `bash scripts/install-toolchain.sh`"
            )
        self.elf = Path(elf)
        if not self.elf.is_file():
            raise DeviceError(f"no firmware at {self.elf}: build it first (tinyrnn firmware build)")
        self.machine = machine
        self.timeout = timeout
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.device: Device | None = None
        self.banner = ""
        self.port = 0

    def command_line(self, port: int) -> list[str]:
        return [
            "qemu-system-arm", "-M", self.machine, "-nographic", "-monitor", "none",
            "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on",
            "-semihosting", "-icount", "shift=0", "-kernel", str(self.elf), *self.extra_args,
        ]

    def start(self) -> Device:
        last_error = ""
        for _ in range(3):  # the free port can be taken between our probe and QEMU's bind
            self.port = _free_port()
            self.proc = subprocess.Popen(
                self.command_line(self.port), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )
            try:
                ser = self._connect()
            except DeviceError as exc:
                last_error = str(exc)
                self._kill()
                continue
            self.device = Device(LineTransport(ser, f"QEMU {self.machine}", self._status), self.timeout)
            self.banner = self.device.wait_ready()
            return self.device
        raise DeviceError(f"could not start QEMU {self.machine}: {last_error}")

    def _connect(self) -> serial.SerialBase:
        assert self.proc is not None
        deadline = time.monotonic() + QEMU_CONNECT_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise DeviceError(f"QEMU exited with {self.proc.returncode}: {err.strip()[:300]}")
            try:
                ser = _KeepInputSocket(f"socket://127.0.0.1:{self.port}", timeout=0.25)
            except serial.SerialException:
                time.sleep(0.05)
                continue
            # Lockstep lines are tiny: without TCP_NODELAY on both ends, Nagle plus delayed ACKs
            # add ~40 ms to every round trip.
            sock = getattr(ser, "_socket", None)
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return ser
        raise DeviceError(f"QEMU did not open its UART port {self.port} in {QEMU_CONNECT_TIMEOUT} s")

    def _status(self) -> str:
        if self.proc is None:
            return "QEMU is not running"
        try:
            code = self.proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return "QEMU is still running but closed the UART"
        if code >= 100:
            return f"QEMU exited with {code}: the firmware faulted (exception {code - 100})"
        return f"QEMU exited with {code}"

    def exit_code(self, timeout: float = 5.0) -> int | None:
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def _kill(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=5.0)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(Exception):
                    stream.close()

    def close(self) -> None:
        if self.device is not None:
            self.device.close()
        self._kill()

    def __enter__(self) -> Device:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()
