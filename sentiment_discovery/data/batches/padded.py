"""Batches for classification: padding, and the order rows are batched in.

`make_batches` returns lists of row indices, one list per batch:
- plain: rows in order (`shuffle=False`) or a seeded permutation, cut every `batch_size` rows;
- `bucket=True`: rows are taken in chunks of `BUCKET_BATCHES` (50) batches, sorted by length inside
  each chunk, cut into batches, and (with `shuffle`) the batches are shuffled, so a batch holds texts
  of similar length and little padding;
- `stratified=True`: each batch's class mix follows the whole set's. Each class's rows (shuffled,
  and with `bucket` sorted by length in the same number of chunks) are spread evenly over one
  sequence: the i-th of n_c rows of class c sits at position (i + u_c) / n_c, u_c a seeded offset
  in [0, 1) (0.5, and rows in file order, without `shuffle`); cutting that sequence into consecutive
  batches gives every batch about n_c / N of class c. The class of a multi-label row is its first
  positive label, or "none".
Everything is deterministic for a seed.
"""
import numpy as np
import torch

from ...errors import UserError

BUCKET_BATCHES = 50


def pad_batch(token_lists):
    """Right-pad with 0: tokens (B, T) int64 with T = max(1, longest), lengths (B,) int64."""
    lengths = np.array([len(tokens) for tokens in token_lists], dtype=np.int64)  # (B,)
    width = max(1, int(lengths.max()) if lengths.size else 1)
    tokens = np.zeros((len(token_lists), width), dtype=np.int64)  # (B, T)
    for row, ids in enumerate(token_lists):
        tokens[row, :len(ids)] = ids
    return torch.from_numpy(tokens), torch.from_numpy(lengths)


def stratify_keys(labels):
    """One class id per row: the label (binary / multi-class), or for multi-label (N, L) the first
    positive column, with L meaning "none"."""
    labels = np.asarray(labels)
    if labels.ndim == 1:
        return labels.astype(np.int64)
    positive = labels > 0.5  # (N, L)
    return np.where(positive.any(axis=1), positive.argmax(axis=1), labels.shape[1])


def _sort_chunks_by_length(rows, lengths, n_chunks):
    """rows cut into n_chunks nearly equal chunks, each sorted by length (stable)."""
    chunks = np.array_split(rows, max(1, n_chunks))
    return np.concatenate([chunk[np.argsort(lengths[chunk], kind="stable")] for chunk in chunks])


def _stratified_order(keys, lengths, batch_size, bucket, shuffle, rng):
    """All rows in an order where every class is spread evenly (see module docstring); without
    shuffle, rows keep their order within a class and every offset is 0.5."""
    n_chunks = int(np.ceil(len(keys) / (BUCKET_BATCHES * batch_size)))
    rows_out, positions = [], []
    for key in np.unique(keys):
        rows = np.flatnonzero(keys == key)
        if shuffle:
            rows = rng.permutation(rows)
        if bucket:
            rows = _sort_chunks_by_length(rows, lengths, n_chunks)
        rows_out.append(rows)
        offset = rng.random() if shuffle else 0.5
        positions.append((np.arange(rows.size) + offset) / rows.size)
    rows_out, positions = np.concatenate(rows_out), np.concatenate(positions)
    return rows_out[np.argsort(positions, kind="stable")]


def _plain_order(n_rows, lengths, batch_size, bucket, shuffle, rng):
    rows = rng.permutation(n_rows) if shuffle else np.arange(n_rows)
    if not bucket:
        return rows
    chunk_rows = BUCKET_BATCHES * batch_size
    return np.concatenate([chunk[np.argsort(lengths[chunk], kind="stable")]
                           for chunk in np.split(rows, np.arange(chunk_rows, n_rows, chunk_rows))])


def make_batches(token_lists, labels, batch_size, bucket=True, stratified=False, seed=0, shuffle=True):
    """Lists of row indices, one per batch (see the module docstring)."""
    if batch_size < 1:
        raise UserError(f"batch size must be at least 1, got {batch_size}")
    n_rows = len(token_lists)
    if n_rows == 0:
        return []
    lengths = np.array([len(tokens) for tokens in token_lists], dtype=np.int64)  # (N,)
    rng = np.random.default_rng(seed)
    if stratified:
        order = _stratified_order(stratify_keys(labels), lengths, batch_size, bucket, shuffle, rng)
    else:
        order = _plain_order(n_rows, lengths, batch_size, bucket, shuffle, rng)
    batches = [order[i:i + batch_size].tolist() for i in range(0, n_rows, batch_size)]
    if shuffle and (bucket or stratified):
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches
