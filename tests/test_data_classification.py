"""Classification batching: padding, bucketing, stratified class mix, determinism."""
import numpy as np
import pytest
import torch

from sentiment_discovery.data.batches.padded import make_batches, pad_batch, stratify_keys
from sentiment_discovery.errors import UserError


def random_token_lists(n, seed=0, max_len=60):
    rng = np.random.default_rng(seed)
    return [list(rng.integers(1, 257, size=rng.integers(1, max_len))) for _ in range(n)]


def test_pad_batch():
    tokens, lengths = pad_batch([[5, 6, 7], [8], []])
    assert tokens.dtype == torch.int64 and lengths.dtype == torch.int64
    assert tokens.tolist() == [[5, 6, 7], [8, 0, 0], [0, 0, 0]] and lengths.tolist() == [3, 1, 0]
    tokens, lengths = pad_batch([[], []])
    assert tokens.shape == (2, 1) and lengths.tolist() == [0, 0]


def test_unshuffled_batches_keep_row_order():
    batches = make_batches(random_token_lists(10), None, 4, bucket=False, shuffle=False)
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert make_batches([], None, 4) == []


@pytest.mark.parametrize("bucket,stratified,shuffle", [
    (False, False, True), (True, False, True), (True, False, False), (False, True, True),
    (True, True, True), (True, True, False)])
def test_every_row_once_and_deterministic(bucket, stratified, shuffle):
    tokens = random_token_lists(523)
    labels = np.random.default_rng(1).integers(0, 3, size=523)
    batches = make_batches(tokens, labels, 16, bucket=bucket, stratified=stratified, seed=7, shuffle=shuffle)
    assert sorted(i for b in batches for i in b) == list(range(523))
    assert sorted(len(b) for b in batches) == [523 % 16] + [16] * (523 // 16)
    again = make_batches(tokens, labels, 16, bucket=bucket, stratified=stratified, seed=7, shuffle=shuffle)
    assert batches == again
    if shuffle:
        other = make_batches(tokens, labels, 16, bucket=bucket, stratified=stratified, seed=8, shuffle=shuffle)
        assert batches != other


def padded_cells(tokens, batches):
    return sum(len(b) * max(len(tokens[i]) for i in b) for b in batches)


def test_bucketing_cuts_padding_and_sorts_within_chunks():
    tokens = random_token_lists(3200)
    plain = make_batches(tokens, None, 32, bucket=False, seed=0)
    bucketed = make_batches(tokens, None, 32, bucket=True, seed=0)
    assert padded_cells(tokens, bucketed) < 0.6 * padded_cells(tokens, plain)
    ordered = make_batches(tokens, None, 32, bucket=True, shuffle=False)
    chunk = [i for b in ordered[:50] for i in b]  # the first 50 batches = rows 0..1599 sorted by length
    assert sorted(chunk) == list(range(1600))
    assert [len(tokens[i]) for i in chunk] == sorted(len(tokens[i]) for i in chunk)


def test_stratified_batches_follow_class_mix():
    labels = (np.random.default_rng(2).random(1000) < 0.2).astype(np.float32)  # ~20% positives
    tokens = random_token_lists(1000)
    expected = 32 * labels.mean()
    for bucket in (False, True):
        batches = make_batches(tokens, labels, 32, bucket=bucket, stratified=True, seed=3)
        full = [b for b in batches if len(b) == 32]
        positives = [labels[b].sum() for b in full]
        assert max(abs(p - expected) for p in positives) <= 1.5
    plain = make_batches(tokens, labels, 32, bucket=False, seed=3)
    assert max(abs(labels[b].sum() - expected) for b in plain if len(b) == 32) > 1.5


def test_multi_label_stratify_on_first_positive():
    labels = np.array([[0, 1, 1], [0, 0, 0], [1, 0, 0], [0, 0, 1]], np.float32)
    assert stratify_keys(labels).tolist() == [1, 3, 0, 2]
    assert stratify_keys(np.array([1.0, 0.0])).tolist() == [1, 0]


def test_bad_batch_size():
    tokens = random_token_lists(10)
    with pytest.raises(UserError, match="batch size must be at least 1"):
        make_batches(tokens, None, 0)
