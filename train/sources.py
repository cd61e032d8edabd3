"""Data sets by name: ``watch``, ``vowels``, ``recall<T>`` (e.g. ``recall64``) or an ``.npz`` path."""

from __future__ import annotations

import re
from pathlib import Path

from tinyrnn.train.dataset import Dataset, DatasetError
from tinyrnn.train.npz_data import load_npz
from tinyrnn.train.synthetic import load_recall
from tinyrnn.train.vowels import load_vowels
from tinyrnn.train.watch import load_watch

BUILTIN = ("watch", "vowels", "recall<steps>")


def load_dataset(spec: str, seed: int = 0) -> Dataset:
    if spec == "watch":
        return load_watch()
    if spec == "vowels":
        return load_vowels()
    m = re.fullmatch(r"recall(\d+)", spec)
    if m:
        return load_recall(steps=int(m.group(1)))
    if spec.endswith(".npz") or Path(spec).is_file():
        return load_npz(Path(spec), seed=seed)
    raise DatasetError(
        f"unknown data set {spec!r}: use one of {', '.join(BUILTIN)} or a path to an .npz file"
    )
