"""JapaneseVowels (UEA/UCR archive), read from the .ts files that ship inside the sktime wheel.

Source: M. Kudo, J. Toyama, M. Shimbo, "Multidimensional curve classification using
passing-through regions", Pattern Recognition Letters 20(11-13), 1999; UCI Machine Learning
Repository "Japanese Vowels" (CC BY 4.0), as distributed in the UEA multivariate archive and
packaged in sktime 1.2.0 (BSD-3-Clause) under sktime/datasets/data/JapaneseVowels/.
Nine male speakers say /ae/; each utterance is 12 LPC cepstrum coefficients per frame, 7 to 29
frames long; the class is the speaker. Split: the archive's own, 270 training utterances (30 per
speaker) and 370 test utterances (24 to 88 per speaker, recorded separately).

Utterances are padded at the start to 29 frames by repeating their first frame, so every
utterance ends at the last step (where the classifier reads the state) and no artificial value
enters the normalization statistics. sktime itself is never imported (it pulls in pandas).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from tinyrnn.train.dataset import Dataset, DatasetError, make_dataset

NAME = "vowels"
PROBLEM = "JapaneseVowels"


def ts_dir() -> Path:
    spec = importlib.util.find_spec("sktime")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(
            "the JapaneseVowels data set ships in the sktime wheel, which is not installed; "
            "run `make venv` (or pip install sktime==1.2.0)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / PROBLEM


def read_ts(path: Path) -> tuple[list[np.ndarray], list[str]]:
    """Series ``[T_i, C]`` and labels of a .ts file (``dim:dim:...:label`` per line)."""
    if not path.is_file():
        raise DatasetError(f"{path} is missing from the sktime install; reinstall sktime==1.2.0")
    series, labels = [], []
    in_data = False
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.lower() == "@data":
            in_data = True
            continue
        if not in_data:
            continue
        *dims, label = line.split(":")
        try:
            channels = [np.array([float(v) for v in d.split(",")], dtype=np.float32) for d in dims]
        except ValueError as e:
            raise DatasetError(f"{path}:{n}: not a number in the series ({e})") from e
        if len({len(c) for c in channels}) != 1:
            raise DatasetError(f"{path}:{n}: channels of one series differ in length")
        series.append(np.stack(channels, axis=1))
        labels.append(label.strip())
    if not series:
        raise DatasetError(f"{path}: no @data section with series")
    return series, labels


def pad_start(series: list[np.ndarray], length: int) -> np.ndarray:
    """``[N, length, C]``: each series left-padded by repeating its first frame."""
    out = np.empty((len(series), length, series[0].shape[1]), dtype=np.float32)
    for i, s in enumerate(series):
        if len(s) > length:
            raise DatasetError(f"series {i} has {len(s)} steps, more than {length}")
        out[i, : length - len(s)] = s[0]
        out[i, length - len(s):] = s
    return out


def load_vowels() -> Dataset:
    base = ts_dir()
    train_s, train_l = read_ts(base / f"{PROBLEM}_TRAIN.ts")
    test_s, test_l = read_ts(base / f"{PROBLEM}_TEST.ts")
    names = sorted(set(train_l) | set(test_l), key=lambda s: (len(s), s))
    index = {k: i for i, k in enumerate(names)}
    length = max(len(s) for s in train_s + test_s)
    return make_dataset(
        NAME,
        pad_start(train_s, length),
        np.array([index[k] for k in train_l]),
        pad_start(test_s, length),
        np.array([index[k] for k in test_l]),
        class_names=[f"speaker{k}" for k in names],
        description=(
            f"JapaneseVowels (UEA archive, sktime wheel): 12 LPC cepstra per frame, 7-{length} "
            f"frames left-padded to {length} by repeating the first frame, 9 speakers"
        ),
        split_info={"split": "the archive's own TRAIN/TEST files", "license": "CC BY 4.0 (UCI)"},
    )
