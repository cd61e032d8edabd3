"""Static arena planning: place scratch buffers so that buffers alive at the same time never
overlap, and buffers with disjoint lifetimes share bytes (greedy by size, first fit, like
TFLM's GreedyMemoryPlanner, but done once on the host)."""

from __future__ import annotations

from dataclasses import dataclass

ALIGN = 4


@dataclass(frozen=True)
class Buffer:
    name: str
    size: int
    first: int  # first time slot that uses it (inclusive)
    last: int   # last time slot that uses it (inclusive)


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def plan_arena(buffers: list[Buffer]) -> tuple[dict[str, int], int]:
    """Return ({name: offset}, arena size in bytes). Deterministic for a given input."""
    order = sorted(buffers, key=lambda b: (-b.size, b.first, b.name))
    placed: list[tuple[Buffer, int]] = []
    offsets: dict[str, int] = {}
    for buf in order:
        live = sorted(
            (off, off + _align(other.size)) for other, off in placed
            if not (other.last < buf.first or buf.last < other.first)
        )
        candidate = 0
        for start, end in live:
            if candidate + _align(buf.size) <= start:
                break
            candidate = max(candidate, end)
        offsets[buf.name] = candidate
        placed.append((buf, candidate))
    total = max((off + _align(b.size) for b, off in placed), default=0)
    return offsets, total
