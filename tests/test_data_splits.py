"""--split parsing and the deterministic train/val/test cut."""
import numpy as np
import pytest

from sentiment_discovery.data.formats.readers import TextDataset
from sentiment_discovery.data.formats.splits import parse_split, split_dataset
from sentiment_discovery.errors import UserError


def test_parse_split_normalises_and_pads():
    assert parse_split("1000,1,1") == pytest.approx([1000 / 1002, 1 / 1002, 1 / 1002])
    assert parse_split(".9,.1") == pytest.approx([0.9, 0.1, 0.0])
    assert parse_split("1") == [1.0, 0.0, 0.0]


@pytest.mark.parametrize("text,message", [
    ("a,b", "does not parse"), ("", "does not parse"), ("0,0", "sums to 0"),
    ("1,1,1,1", "has 4 parts"), ("1,-1", "negative"), ("nan,1", "non-finite"),
])
def test_parse_split_errors(text, message):
    with pytest.raises(UserError, match=message):
        parse_split(text)


def make_dataset(n):
    return TextDataset([f"t{i}" for i in range(n)], np.arange(n) % 2 * 1.0, ["label"], "mem")


def test_split_dataset_is_a_deterministic_partition():
    ds = make_dataset(100)
    train, val, test = split_dataset(ds, parse_split("8,1,1"), seed=3)
    assert (len(train), len(val), len(test)) == (80, 10, 10)
    together = sorted(list(train.texts) + list(val.texts) + list(test.texts))
    assert together == sorted(ds.texts)
    for part in (train, val, test):  # labels follow their texts
        assert all(part.labels[i] == int(t[1:]) % 2 for i, t in enumerate(part.texts))
    again = split_dataset(ds, parse_split("8,1,1"), seed=3)
    assert list(again[1].texts) == list(val.texts)
    assert list(split_dataset(ds, parse_split("8,1,1"), seed=4)[1].texts) != list(val.texts)
    assert list(train.texts) != sorted(train.texts, key=lambda t: int(t[1:]))  # shuffled


def test_split_sizes_always_add_up():
    for n in (1, 2, 7, 1001):
        parts = split_dataset(make_dataset(n), parse_split("1000,1,1"), seed=0)
        assert sum(len(p) for p in parts) == n
    empty_test = split_dataset(make_dataset(10), parse_split(".9,.1"), seed=0)[2]
    assert len(empty_test) == 0 and empty_test.labels.shape == (0,)
