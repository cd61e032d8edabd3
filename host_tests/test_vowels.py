"""The JapaneseVowels loader: the shipped files, the .ts parser, padding and errors."""

from __future__ import annotations

import numpy as np
import pytest

from tinyrnn.train.dataset import DatasetError
from tinyrnn.train.vowels import load_vowels, pad_start, read_ts

TS = """# comment
@problemName Toy
@dimensions 2
@data
1,2,3:4,5,6:b
7:8:a
"""


def test_shipped_split_matches_the_archive():
    d = load_vowels()
    assert (len(d.y_train), len(d.y_test), d.steps, d.channels, d.num_classes) == (270, 370, 29, 12, 9)
    assert np.bincount(d.y_train).tolist() == [30] * 9
    assert d.class_names[0] == "speaker1" and d.class_names[-1] == "speaker9"


def test_ts_parser_and_start_padding(tmp_path):
    p = tmp_path / "toy.ts"
    p.write_text(TS)
    series, labels = read_ts(p)
    assert labels == ["b", "a"]
    np.testing.assert_array_equal(series[0], [[1, 4], [2, 5], [3, 6]])
    x = pad_start(series, 3)
    # the short series ends at the last step and repeats its first frame before it
    np.testing.assert_array_equal(x[1], [[7, 8], [7, 8], [7, 8]])
    np.testing.assert_array_equal(x[0], series[0])


def test_bad_ts_files_are_named(tmp_path):
    with pytest.raises(DatasetError, match="missing"):
        read_ts(tmp_path / "nope.ts")
    p = tmp_path / "bad.ts"
    p.write_text("@data\n1,x:2,3:a\n")
    with pytest.raises(DatasetError, match=r"bad.ts:2"):
        read_ts(p)
    p.write_text("@data\n1,2:3:a\n")
    with pytest.raises(DatasetError, match="differ in length"):
        read_ts(p)
