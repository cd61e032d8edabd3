"""The real harness (firmware/src) built for the host with ASan + UBSan and fed a fixed-seed
stream of random and mutated lines: no sanitizer report, no hang, exactly one well-formed reply
per non-blank line, and `id` answered correctly after every input. The coverage-guided campaign
with libFuzzer is scripts/fuzz-harness.sh; its seeds and findings live in firmware/test/fuzz."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from firmware_support import FIXTURE_CHANNELS, FIXTURE_OUTPUTS, FIXTURE_STEPS
from protocol_fuzz import FUZZ_DIR, INPUT, LINE_MAX, LineGenerator, build_stdio, expects_reply

LINES = 100_000
SANITIZER_ENV = {"ASAN_OPTIONS": "abort_on_error=0:detect_leaks=1",
                 "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_stdio(tmp_path_factory.mktemp("host-harness"))


def _run(binary: Path, data: bytes, *flags: str, timeout: float = 120) -> list[bytes]:
    proc = subprocess.run([str(binary), "-k", *flags], input=data, capture_output=True,
                          timeout=timeout, env={**os.environ, **SANITIZER_ENV}, check=False)
    assert proc.stderr == b"", proc.stderr.decode(errors="replace")[-3000:]
    assert proc.returncode == 0
    assert proc.stdout.endswith(b"\n")
    return proc.stdout[:-1].split(b"\n")


def _fields(reply: bytes) -> dict[str, str]:
    return dict(word.split("=", 1) for word in reply.decode().split()[2:])


def _id_reply(binary: Path) -> bytes:
    banner, reply = _run(binary, b"id\n")
    assert banner == b"ready proto=1 model=protocol-fixture board=host init=0"
    fields = _fields(reply)
    assert reply.startswith(b"ok id ")
    assert (int(fields["steps"]), int(fields["channels"]), int(fields["output"])) == (
        FIXTURE_STEPS, FIXTURE_CHANNELS, FIXTURE_OUTPUTS)
    assert int(fields["input"]) == INPUT and int(fields["line_max"]) == LINE_MAX
    assert fields["init"] == "0" and fields["model"] == "protocol-fixture"
    return reply


def test_random_stream_lockstep(harness: Path) -> None:
    expected_id = _id_reply(harness)
    inputs = list(LineGenerator(seed=13).lines(LINES))
    stream = b"".join(line + b"\nid\n" for line in inputs)
    replies = _run(harness, stream)
    assert replies[0].startswith(b"ready ")
    pos = 1
    answered = 0
    for line in inputs:
        if expects_reply(line):
            reply = replies[pos]
            assert reply.startswith((b"ok ", b"err ")), (line, reply)
            assert len(reply) < 400, (line, reply)
            pos += 1
            answered += 1
        assert replies[pos] == expected_id, (line, replies[pos])
        pos += 1
    assert pos == len(replies)
    # The stream reached real work, not only parse errors.
    assert answered > LINES // 2
    for kind in (b"ok loaded", b"ok infer", b"ok step", b"err crc", b"err too_long",
                 b"err bad_hex", b"err bad_offset", b"err unknown_verb"):
        assert any(r.startswith(kind) for r in replies), kind


def test_random_stream_unpaced(harness: Path) -> None:
    """Bytes sent without waiting for replies: long commands meet the `err busy` path."""
    expected_id = _id_reply(harness)
    inputs = list(LineGenerator(seed=14).lines(20_000))
    replies = _run(harness, b"\n".join(inputs) + b"\n\nid\n", "-s")
    assert all(r.startswith((b"ok ", b"err ")) for r in replies[1:]), "malformed reply"
    assert replies[-1] == expected_id


def test_fuzz_inputs_in_repo(harness: Path) -> None:
    """The campaign's seeds and every finding it made (regressions/) stay answered correctly."""
    expected_id = _id_reply(harness)
    seeds = sorted((FUZZ_DIR / "corpus").iterdir())
    assert len(seeds) >= 10, f"seed corpus missing in {FUZZ_DIR / 'corpus'}"
    regressions = sorted((FUZZ_DIR / "regressions").glob("*.bin"))
    for path in seeds + regressions:
        replies = _run(harness, path.read_bytes() + b"\n\nid\n", "-s", timeout=30)
        assert replies[-1] == expected_id, path.name
