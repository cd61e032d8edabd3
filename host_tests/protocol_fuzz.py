"""Host build of the real harness (firmware/src/host) and a seeded generator of random and
mutated protocol lines, for the fuzz tests (test_harness_fuzz.py) and the seed corpus."""

from __future__ import annotations

import random
import subprocess
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from firmware_support import FIXTURE_CHANNELS, FIXTURE_OUTPUTS, FIXTURE_STEPS

REPO = Path(__file__).resolve().parent.parent
HOST_DIR = REPO / "firmware" / "src" / "host"
FUZZ_DIR = REPO / "firmware" / "test" / "fuzz" / "harness"
LINE_MAX = 160
CHUNK_MAX = 64
INPUT = FIXTURE_STEPS * FIXTURE_CHANNELS
VERBS = ("id", "class", "norm", "load", "data", "infer", "out", "reset", "step", "mem", "spin",
         "ping", "exit", "help")


def build_stdio(out: Path) -> Path:
    """Builds the stdin/stdout harness with gcc + ASan + UBSan into out; returns the binary."""
    proc = subprocess.run(["make", "-s", "-C", str(HOST_DIR), "stdio", f"OUT={out}"],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"host harness build failed:\n{proc.stdout}{proc.stderr}")
    return out / "harness-stdio"


def expects_reply(line: bytes) -> bool:
    """The protocol's rule, written independently of the C: a line (terminator removed) is
    answered once unless it is blank after dropping '\\r'; an over-long line is always answered."""
    kept = line.replace(b"\r", b"")
    return len(kept) > LINE_MAX or kept.strip(b" \t") != b""


def window_commands(window: bytes) -> list[bytes]:
    """A valid load of one window: `load` with its CRC, then `data` chunks."""
    lines = [b"load %d %08x" % (len(window), zlib.crc32(window))]
    for off in range(0, len(window), CHUNK_MAX):
        lines.append(b"data %d %s" % (off, window[off:off + CHUNK_MAX].hex().encode()))
    return lines


def valid_commands(rng: random.Random) -> list[bytes]:
    """One of each command with valid arguments (a load is its whole sequence)."""
    window = rng.randbytes(INPUT)
    frame = rng.randbytes(FIXTURE_CHANNELS)
    return [b"id", b"help", b"class %d" % rng.randrange(FIXTURE_OUTPUTS),
            b"norm %d" % rng.randrange(FIXTURE_CHANNELS), *window_commands(window), b"infer",
            b"infer 3", b"out", b"step", b"reset", b"step " + frame.hex().encode(), b"mem",
            b"spin 100", b"ping tok", b"exit 7"]


_NUMBERS = (b"0", b"1", b"7", b"96", b"64", b"160", b"10000", b"10001", b"100000000", b"100000001",
            b"4294967295", b"4294967296", b"99999999999", b"-1", b"+1", b"0x10", b"1e3", b"")


def _token(rng: random.Random) -> bytes:
    kind = rng.randrange(5)
    if kind == 0:
        return rng.choice(_NUMBERS)
    if kind == 1:
        return bytes(rng.choice(b"0123456789abcdefABCDEFg") for _ in range(rng.randrange(0, 140)))
    if kind == 2:
        return rng.choice(VERBS).encode()
    if kind == 3:
        return b"%d" % rng.randrange(-10, 200)
    return bytes(rng.randrange(33, 127) for _ in range(rng.randrange(1, 30)))


def _mutate(rng: random.Random, line: bytes) -> bytes:
    data = bytearray(line)
    for _ in range(rng.randrange(1, 4)):
        op = rng.randrange(7)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(pos, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            data[pos:pos] = bytes([rng.choice(b" \t\r\x00\xff0aZ~")])
        elif op == 2 and data:
            del data[pos:pos + rng.randrange(1, 8)]
        elif op == 3:
            data[pos:pos] = data[pos:pos + rng.randrange(1, 80)]
        elif op == 4:
            del data[pos:]
        elif op == 5:
            data[pos:pos] = b" " + _token(rng)
        else:
            data = bytearray(data.upper() if rng.random() < 0.5 else data.replace(b" ", b"\t"))
    return bytes(data).replace(b"\n", b"")


@dataclass
class LineGenerator:
    """Random, token-soup and mutated lines, plus whole valid loads so deep states are reached."""

    seed: int

    def lines(self, count: int) -> Iterator[bytes]:
        rng = random.Random(self.seed)
        made = 0
        while made < count:
            kind = rng.random()
            if kind < 0.15:
                batch = [bytes(rng.choice((rng.randrange(256), 32, 48, 97))
                               for _ in range(rng.randrange(0, 220))).replace(b"\n", b"")]
            elif kind < 0.40:
                words = [_token(rng) for _ in range(rng.randrange(1, 6))]
                if rng.random() < 0.7:
                    words[0] = rng.choice(VERBS).encode()
                batch = [b" ".join(words)]
            elif kind < 0.90:
                batch = [_mutate(rng, rng.choice(valid_commands(rng)))]
            else:
                batch = valid_commands(rng)
                if rng.random() < 0.3:  # a well-formed load whose data does not match its CRC
                    batch[4] = b"load %d %08x" % (INPUT, rng.getrandbits(32))
            for line in batch:
                yield line
                made += 1
