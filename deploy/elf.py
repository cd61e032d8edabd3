"""What a firmware ELF holds: the model's parameter arrays, read from its symbol table.

The tinyrnn compiler emits every parameter as a ``static const`` array named ``k_<op><i>_<what>``
(``k_l0_w_in``: LSTM layer 0 input weights; ``k_h0_b``: head layer 0 bias); the linker keeps them in
``.rodata`` with their sizes. Weights (``w*``) are int8; biases (``b*``) and requantization
multipliers/shifts (``mult``/``shift``) are int32. Symbols without a suffix (``k_l0``, ``k_h1``) are
the small layer descriptors.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_PARAM = re.compile(r"^k_([a-z]+\d+)(?:_(\w+))?$")


class ElfError(RuntimeError):
    """The ELF cannot be read; the message says which tool or file is missing."""


@dataclass(frozen=True)
class ParameterBytes:
    int8_weights: int
    int32_biases: int
    int32_requant: int
    other: int
    descriptors: int
    symbols: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Every parameter array in flash: what the model costs in flash beyond code."""
        return self.int8_weights + self.int32_biases + self.int32_requant + self.other

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["total"] = self.total
        return d


def symbol_sizes(elf: Path) -> dict[str, int]:
    """Defined symbols with a size: name -> bytes (``arm-none-eabi-nm -S``)."""
    nm = shutil.which("arm-none-eabi-nm")
    if nm is None:
        raise ElfError("arm-none-eabi-nm not found: run `bash scripts/install-toolchain.sh`")
    if not Path(elf).is_file():
        raise ElfError(f"no ELF at {elf}: build the firmware first (tinyrnn firmware build)")
    proc = subprocess.run([nm, "-S", "-t", "d", "--defined-only", str(elf)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ElfError(f"arm-none-eabi-nm failed on {elf}: {proc.stderr.strip()}")
    sizes: dict[str, int] = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[1].isdigit():
            sizes[parts[3]] = int(parts[1])
    return sizes


def is_parameter_array(name: str) -> bool:
    """A parameter array (``k_<op><i>_<what>``: weights, biases, requantization constants), not
    a layer descriptor: what a model costs in flash beyond code."""
    m = _PARAM.match(name)
    return m is not None and m.group(2) is not None


def parameter_bytes(elf: Path) -> ParameterBytes:
    """Sizes of the model's const parameter arrays in the linked firmware."""
    w8 = b32 = r32 = other = desc = 0
    symbols: dict[str, int] = {}
    for name, size in sorted(symbol_sizes(elf).items()):
        m = _PARAM.match(name)
        if m is None:
            continue
        symbols[name] = size
        what = m.group(2)
        if what is None:
            desc += size
        elif what.startswith("w"):
            w8 += size
        elif what.startswith("b"):
            b32 += size
        elif what in ("mult", "shift") or what.startswith(("mult", "shift")):
            r32 += size
        else:
            other += size
    if not symbols:
        raise ElfError(f"{elf} has no k_* parameter arrays: is it built from a tinyrnn model folder "
                       f"(not the protocol fixture or a TFLM C array)?")
    return ParameterBytes(w8, b32, r32, other, desc, symbols)
