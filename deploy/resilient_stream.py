"""Stream many windows through a board that may die, reset or garble the link, without losing
or double-counting a window.

    report = stream_windows(lambda: QemuBoard(elf, machine, timeout=2.0), windows, runs=2,
                            checkpoint=Path("build/models/<m>/.device-mps2-an386.partial.json"))

A window counts only once it is *confirmed*: its `infer` reply and the `out` reply that follows
agree (protocol v1 replies carry no checksum, so a garbled digit inside `out=` would otherwise
pass as a result). Results are keyed by window index, so a retried window replaces nothing and
is never counted twice. On any fault the window is classified again from `load` (load + infer
resets the model first, so repeating it is safe):

  * garbled or dropped bytes, a timeout, a rejected command: resynchronise with `ping`, retry;
  * a reset (the `ready` banner mid-stream): the board lost its window; identify again, retry;
  * the connection closed (QEMU killed, cable pulled): open a new board session, retry.

Confirmed windows go to the checkpoint file (written whole and renamed, every `save_every`
windows and on every fault), keyed by what was streamed, so a rerun resumes after the last
confirmed window and never trusts results from other firmware or windows."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from tinyrnn.core.buildtree import write_text_atomic
from tinyrnn.deploy.link import (
    CommandRejected,
    Device,
    DeviceError,
    DeviceGone,
    DeviceInfo,
    DeviceReset,
    DeviceTimeout,
    InferResult,
    ProtocolError,
    _s8,
    parse_reply,
)


class Board(Protocol):
    def start(self) -> Device: ...
    def close(self) -> None: ...


class StreamError(DeviceError):
    """A window kept failing after every retry; confirmed windows are in the checkpoint."""


@dataclass
class StreamReport:
    results: dict[int, InferResult]
    retries: int = 0
    sessions: int = 0
    resumed: int = 0
    faults: Counter = field(default_factory=Counter)
    info: DeviceInfo | None = None

    def to_json(self) -> dict:
        return {"retries": self.retries, "sessions": self.sessions,
                "resumed_windows": self.resumed, "faults": dict(self.faults)}

    def ordered(self, n: int) -> list[InferResult]:
        return [self.results[i] for i in range(n)]


def stream_key(windows: np.ndarray, runs: int, firmware: bytes | str) -> str:
    h = hashlib.sha256(np.ascontiguousarray(windows, dtype=np.int8).tobytes())
    h.update(f"runs={runs}".encode())
    h.update(firmware if isinstance(firmware, bytes) else firmware.encode())
    return h.hexdigest()


def load_checkpoint(path: Path | None, key: str) -> dict[int, InferResult]:
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("key") != key:
            return {}  # another model, firmware or window set: start over
        return {int(i): InferResult(**r) for i, r in data["windows"].items()}
    except (ValueError, KeyError, TypeError):
        return {}  # unreadable: a rerun must not trust it


def save_checkpoint(path: Path | None, key: str, results: dict[int, InferResult]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"key": key, "windows": {str(i): asdict(r)
                                               for i, r in sorted(results.items())}})
    write_text_atomic(path, text)


def _window_lines(data: bytes, chunk: int) -> list[tuple[str, str]]:
    import zlib

    lines = [(f"load {len(data)} {zlib.crc32(data):08x}", "load")]
    for off in range(0, len(data), chunk):
        last = off + chunk >= len(data)
        lines.append((f"data {off} {data[off:off + chunk].hex()}", "loaded" if last else "data"))
    return lines


def classify_confirmed(dev: Device, window: np.ndarray, runs: int, pipelined: bool) -> InferResult:
    """load + data + infer + out; pipelined writes them at once (QEMU holds bytes back until its
    UART takes them), else one line per reply. Raises on any reply that is not the expected one
    or when `out` disagrees with `infer`."""
    data = np.ascontiguousarray(window, dtype=np.int8).tobytes()
    info = dev.info
    if len(data) != info.input_size:
        raise ValueError(f"window has {len(data)} bytes, the device model takes {info.input_size}")
    chunk = max(1, min(info.chunk_max, (info.line_max - 20) // 2))
    lines = [*_window_lines(data, chunk), (f"infer {runs}", "infer"), ("out", "out")]
    if pipelined:
        # Everything up to `infer`; `out` only after its reply (a byte arriving while infer
        # runs is a protocol violation, answered `err busy`).
        dev.transport.write("".join(cmd + "\n" for cmd, _ in lines[:-1]).encode("ascii"))
    replies = []
    for cmd, verb in lines:
        if not pipelined or cmd == "out":
            dev.send_line(cmd)
        reply = parse_reply(dev.read_reply_line(cmd), cmd)
        if reply.verb != verb:
            raise ProtocolError(f"`{cmd[:40]}` answered `ok {reply.verb}`, expected `{verb}`")
        replies.append(reply)
    inf, out = replies[-2].fields, replies[-1].fields
    try:
        result = InferResult(output=_s8(inf["out"]), cls=int(inf["cls"]), count=int(inf["count"]),
                             count_min=int(inf["min"]), count_max=int(inf["max"]),
                             runs=int(inf["n"]))
        again = (_s8(out["out"]), int(out["cls"]), int(out["count"]))
    except (KeyError, ValueError) as exc:
        raise ProtocolError(f"garbled infer/out reply field {exc}") from exc
    if (result.output, result.cls, result.count) != again or len(result.output) != info.output_size \
            or result.runs != runs:
        raise ProtocolError("`out` does not repeat `infer`'s result: a reply was garbled")
    return result


def stream_windows(open_board: Callable[[], Board], windows: np.ndarray, runs: int = 1, *,
                   checkpoint: Path | None = None, key: str = "", pipelined: bool = True,
                   max_attempts: int = 6, save_every: int = 100,
                   progress: Callable[[int, int], None] | None = None,
                   check: Callable[[Device], None] | None = None) -> StreamReport:
    """Every window classified and confirmed exactly once (see the module docstring)."""
    n = len(windows)
    report = StreamReport(results=load_checkpoint(checkpoint, key))
    report.resumed = len(report.results)
    board: Board | None = None
    dev: Device | None = None

    def open_session() -> Device:
        nonlocal board
        if board is not None:
            board.close()
        board = open_board()
        report.sessions += 1
        d = board.start()
        report.info = d.identify()
        if check is not None:
            check(d)
        return d

    unsaved = 0
    try:
        for i in range(n):
            if i in report.results:
                continue
            attempts = 0
            while True:
                try:
                    if dev is None:
                        dev = open_session()
                    report.results[i] = classify_confirmed(dev, windows[i], runs, pipelined)
                    break
                except (DeviceGone, DeviceReset, DeviceTimeout, ProtocolError,
                        CommandRejected) as exc:
                    attempts += 1
                    report.retries += 1
                    report.faults[type(exc).__name__] += 1
                    save_checkpoint(checkpoint, key, report.results)
                    unsaved = 0
                    if attempts >= max_attempts:
                        raise StreamError(
                            f"window {i} failed {attempts} times (last: {exc}); "
                            f"{len(report.results)} of {n} windows are confirmed"
                            + (f" and kept in {checkpoint}: rerun to resume" if checkpoint
                               else "")) from exc
                    dev = _recover(dev, exc, open_session)
            unsaved += 1
            if unsaved >= save_every:
                save_checkpoint(checkpoint, key, report.results)
                unsaved = 0
            if progress is not None:
                progress(len(report.results), n)
        if report.info is None:
            # Every window came from the checkpoint (the previous run was stopped after its
            # last window): the board is still identified and checked, as on every run.
            open_session()
        save_checkpoint(checkpoint, key, report.results)
    finally:
        if board is not None:
            board.close()
    return report


def _recover(dev: Device | None, exc: DeviceError, open_session: Callable[[], Device]
             ) -> Device | None:
    """The same session when the board still answers, else None (the next try opens one)."""
    if dev is None or isinstance(exc, DeviceGone):
        return None
    try:
        dev.sync()
        dev.identify()  # after a reset: the same model must be running
        return dev
    except DeviceError:
        return None
