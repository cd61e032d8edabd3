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
