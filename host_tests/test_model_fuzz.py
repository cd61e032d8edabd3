"""The `.tflite` reader and the AOT compiler under structure-aware mutations of valid LSTM, GRU
(both reset_after) and SimpleRNN models: each mutant is refused with an AotError naming the
problem, or compiles to C that builds with -Werror and equals the numpy reference byte for byte.
The longer campaign: `PYTHONPATH=. .venv/bin/python host_tests/model_fuzz.py --mutants 3000`."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import pytest
from model_fuzz import base_models, campaign, collect_sites

from tinyrnn.convert.aot import AotError, LimitError, ModelFormatError, compile_model

pytestmark = pytest.mark.slow


def test_mutants_are_refused_or_bit_exact(tmp_path: Path) -> None:
    outcome = campaign(300, seed=13, work=tmp_path)
    assert outcome.findings == []
    assert outcome.total == 300
    # Both sides of the oracle were exercised, and by more than one kind of refusal.
    assert outcome.compiled >= 50 and outcome.equal == outcome.compiled
    assert len(outcome.refused) >= 3, outcome.refused


def _set(buf: bytes, what: str, value: float | int) -> bytes:
    site = next(s for s in collect_sites(buf) if s.what == what)
    data = bytearray(buf)
    struct.pack_into("<" + site.fmt, data, site.pos, value)
    return bytes(data)


# Findings of the first campaign (seed 1), kept as regressions: an extreme input or hidden scale
# compiled to C that disagreed with the reference (left shifts past int32), and a NaN scale
# escaped as a ValueError traceback.
REGRESSIONS = [
    ("gru_t6_c3_u5", "tensor 0 scale[0]", 1e38, LimitError, "left shift"),
    ("t10_c3_u8", "tensor 15 scale[0]", 1e38, LimitError, "left shift"),
    ("gru_t6_c3_u5", "tensor 2 scale[1]", math.nan, ModelFormatError, "scale nan"),
    ("rnn_t7_c3_u6", "tensor 0 zero_point[0]", 300, ModelFormatError, "zero point 300"),
    ("t10_c3_u8", "tensor 0 scale[0]", -0.5, ModelFormatError, "finite and positive"),
]


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return base_models(tmp_path_factory.mktemp("bases"))


@pytest.mark.parametrize(("base", "what", "value", "exc", "words"), REGRESSIONS)
def test_regressions(bases: dict[str, bytes], tmp_path: Path, base: str, what: str,
                     value: float, exc: type[AotError], words: str) -> None:
    src = tmp_path / "m.tflite"
    src.write_bytes(_set(bases[base], what, value))
    with pytest.raises(exc) as info:
        compile_model(src, tmp_path / "out", name="x")
    assert words in str(info.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("path", sorted((Path(__file__).parent / "fuzz_regressions").glob("*.tflite")),
                         ids=lambda p: p.stem)
def test_campaign_findings_are_refused(path: Path, tmp_path: Path) -> None:
    """Mutants the 3000-mutant campaign (seed 2) turned into tracebacks: a damaged custom-options
    blob (str / bytes / list where an int belongs), a zero output scale (ZeroDivisionError) and a
    FULLY_CONNECTED op left with one input (IndexError)."""
    with pytest.raises(AotError) as info:
        compile_model(path, tmp_path / "out", name="x")
    assert len(str(info.value)) < 600
    assert not (tmp_path / "out").exists()


def test_sites_cover_every_field_kind(bases: dict[str, bytes]) -> None:
    for name, buf in bases.items():
        kinds = {s.kind for s in collect_sites(buf)}
        assert {"enum", "dim", "index", "scale", "zero_point", "byte"} <= kinds, (name, kinds)
