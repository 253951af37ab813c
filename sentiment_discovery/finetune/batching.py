"""Token lists and batch orders for finetuning.

Every rank tokenizes the whole split and computes the same *global* batch order for an epoch (bucketed
by length, optionally stratified, seeded by the run's seed and the epoch), then takes its own slice of
each global batch. Optimizer steps group `grad_accum` consecutive global batches. Because the order is a
pure function of (seed, epoch), a resumed run only needs the epoch and the step to continue exactly.
"""
import logging

import numpy as np
import torch

from ..data.batches.classification import make_batches, pad_batch
from ..inference import encode_texts

log = logging.getLogger(__name__)


def encode_split(dataset, tokenizer, max_len, what, process_fn=None):
    """Token id arrays of a split's texts after the process function `process_fn` (a name or None), cut to
    max_len (the count logged)."""
    token_lists, n_truncated, _ = encode_texts(dataset.texts, tokenizer, max_len, process_fn)
    if n_truncated:
        log.info("%s: %d of %d texts cut to %d tokens", what, n_truncated, len(token_lists), max_len)
    return token_lists


def drop_tokenless(token_lists, targets, what):
    """Training rows without tokens carry no signal: drop them (with a warning)."""
    keep = np.array([ids.size > 0 for ids in token_lists], dtype=bool)
    if keep.all():
        return token_lists, targets
    log.warning("%s: dropped %d text(s) without tokens", what, int((~keep).sum()))
    return [ids for ids, k in zip(token_lists, keep) if k], targets[keep]


def epoch_steps(token_lists, targets, global_batch, epoch, seed, stratified, grad_accum, world_size,
                max_steps=0):
    """The optimizer steps of one epoch: a list of steps, each a list of global batches (row index lists).

    Global batches smaller than the world size (each rank needs a row) are left out."""
    batches = make_batches(token_lists, targets, global_batch, bucket=True, stratified=stratified,
                           seed=seed * 1009 + epoch, shuffle=True)
    batches = [batch for batch in batches if len(batch) >= world_size]
    steps = [batches[i:i + grad_accum] for i in range(0, len(batches), grad_accum)]
    return steps[:max_steps] if max_steps > 0 else steps


def rank_rows(global_rows, rank, world_size):
    """This rank's contiguous share of a global batch's rows."""
    return np.array_split(np.asarray(global_rows, dtype=np.int64), world_size)[rank]


def tensor_batch(token_lists, targets, rows, device):
    """tokens (B, T) int64, lengths (B,) int64 and targets (B,) or (B, C) of the given rows, on device."""
    tokens, lengths = pad_batch([token_lists[i] for i in rows])
    batch_targets = torch.from_numpy(np.ascontiguousarray(targets[np.asarray(rows)]))
    return tokens.to(device), lengths.to(device), batch_targets.to(device)
