"""Exceptions raised by the ahead-of-time compiler; every message names what to fix."""

from __future__ import annotations


class AotError(Exception):
    """Base class: the model cannot be compiled (nothing is written)."""


class ModelFormatError(AotError):
    """The file is not a readable TFLite flatbuffer (truncated, corrupted, wrong type)."""


class UnsupportedModelError(AotError):
    """A readable model that uses an op, type or pattern the runtime does not implement."""


class LimitError(AotError):
    """A shape exceeds what the C runtime is built to handle."""


def few(items: list[str], shown: int = 4) -> str:
    """A readable list for an error message: the first few items and how many more there are
    (an unrolled graph's operator can have hundreds of tensors)."""
    if len(items) <= shown:
        return ", ".join(items)
    return f"{', '.join(items[:shown])}, ... ({len(items) - shown} more, {len(items)} in all)"
