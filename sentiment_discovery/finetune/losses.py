"""The losses of finetuning (Kant et al. 2018, arXiv 1812.01207), all computed in fp32.

Each loss returns a *sum* divided by a count the caller passes in (`n_rows`, `n_tokens`): in a
distributed run every rank divides its rows' sum by the global batch's count (times the world size,
which DDP's gradient averaging undoes), so N ranks step exactly like one process on the same batch.

- `classification_loss`: BCE with logits per output (binary, multi-label) or softmax cross-entropy over
  classes; with K heads per class every head is trained on the same target and the loss is the mean over
  heads. Optional class weights (see `balanced_class_weights`).
- `head_variance`: the variance of the K heads' probabilities of each class, summed over rows and
  averaged over classes; finetuning *subtracts* `--aux-head-variance-loss-weight` times it, which pushes
  the heads of a class apart.
- `aux_lm_loss`: next-token cross-entropy inside each text: position t predicts token t+1 for
  t + 1 < length only, so neither padding nor the token after a text's end is ever a target or an input
  that matters (the original masked the wrong positions).
"""
import numpy as np
import torch
import torch.nn.functional as F

from ..models.classifier import output_probabilities


def balanced_class_weights(targets: np.ndarray, use_softmax: bool, n_classes: int | None = None) -> np.ndarray:
    """scikit-learn's 'balanced' weights from the training targets.

    softmax, targets (N,) ids of K = n_classes classes -> (K,) weights N / (K * n_k); sigmoid, targets
    (N, C) 0/1 -> (2, C): row 0 the weight of a negative, row 1 of a positive, N / (2 * n) per column.
    A class without examples gets weight 1."""
    targets = np.asarray(targets)
    n_rows = targets.shape[0]
    if use_softmax:
        n_classes = n_classes or int(targets.max()) + 1
        counts = np.bincount(targets.astype(np.int64), minlength=n_classes).astype(np.float64)
        return np.where(counts > 0, n_rows / (len(counts) * np.maximum(counts, 1)), 1.0)
    positives = targets.sum(axis=0).astype(np.float64)  # (C,)
    negatives = n_rows - positives
    weights = np.stack([n_rows / (2 * np.maximum(negatives, 1)), n_rows / (2 * np.maximum(positives, 1))])
    return np.where(np.stack([negatives, positives]) > 0, weights, 1.0)  # (2, C)


def prior_logits(targets: np.ndarray, use_softmax: bool, n_outputs: int) -> np.ndarray:
    """Output biases that make an untrained head predict the training label frequencies (C,): the log
    odds log(p / (1 - p)) of each sigmoid output, the log frequency of each softmax class. Frequencies are
    smoothed by one example each way so that no bias is infinite."""
    targets = np.asarray(targets)
    n_rows = targets.shape[0]
    if use_softmax:
        counts = np.bincount(targets.astype(np.int64), minlength=n_outputs)[:n_outputs].astype(np.float64)
        return np.log((counts + 1.0) / (n_rows + n_outputs))
    frequency = (targets.reshape(n_rows, -1).sum(axis=0) + 1.0) / (n_rows + 2.0)  # (C,)
    return np.log(frequency / (1.0 - frequency))


def _with_heads(values, logits):
    """Expand per-row targets/weights (B, ...) to logits' heads axis when it has one."""
    if logits.dim() == values.dim() + 1:
        return values.unsqueeze(-1).expand(*values.shape, logits.shape[-1])
    return values


def classification_loss(logits, targets, n_rows, use_softmax=False, class_weights=None):
    """Summed loss / n_rows (averaged over outputs and heads).

    logits (B, C) or (B, C, K); targets (B,) int64 for softmax, (B, C) 0/1 float otherwise;
    class_weights as `balanced_class_weights` returns (a tensor), or None."""
    logits = logits.float()
    heads = logits.shape[2] if logits.dim() == 3 else 1
    if use_softmax:
        per_row = targets.long() if logits.dim() == 2 else _with_heads(targets.long(), logits[:, 0])
        weight = None if class_weights is None else class_weights.float().to(logits.device)
        losses = F.cross_entropy(logits, per_row, weight=weight, reduction="none")  # (B,) or (B, K)
        return losses.sum() / (n_rows * heads)
    targets = targets.float()
    losses = F.binary_cross_entropy_with_logits(logits, _with_heads(targets, logits), reduction="none")
    if class_weights is not None:
        weights = class_weights.float().to(logits.device)                         # (2, C)
        per_element = targets * weights[1] + (1.0 - targets) * weights[0]           # (B, C)
        losses = losses * _with_heads(per_element, logits)
    return losses.sum() / (n_rows * logits.shape[1] * heads)


def head_variance(logits, n_rows, use_softmax=False):
    """Variance of the K heads' probabilities per row and class, summed over rows / n_rows, mean over
    classes. logits (B, C, K)."""
    if logits.dim() != 3:
        raise ValueError(f"head_variance needs (B, C, K) logits, got shape {tuple(logits.shape)}")
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    probabilities = output_probabilities(logits, use_softmax)  # (B, C, K)
    return probabilities.var(dim=2, unbiased=False).sum() / (n_rows * logits.shape[1])


def next_token_mask(lengths, steps):
    """(B, steps - 1) bool: position t predicts a real token (t + 1 < length)."""
    positions = torch.arange(max(steps - 1, 0), device=lengths.device)
    return positions.unsqueeze(0) < (lengths.unsqueeze(1) - 1)


def aux_lm_loss(lm_logits, tokens, lengths, n_tokens):
    """Next-token cross-entropy over the real tokens of each text, summed / n_tokens.

    lm_logits (B, T, V) from the classifier's encoder over tokens (B, T); lengths (B,); n_tokens the
    number of predicted tokens to divide by (the global batch's sum of length - 1)."""
    steps = lm_logits.shape[1]
    mask = next_token_mask(lengths.to(lm_logits.device), steps)  # (B, T-1)
    if not bool(mask.any()):
        return lm_logits.float().sum() * 0.0
    predicting = lm_logits[:, :-1][mask].float()          # (M, V)
    targets = tokens[:, 1:steps].to(lm_logits.device)[mask]  # (M,)
    return F.cross_entropy(predicting, targets, reduction="sum") / max(n_tokens, 1)


def predicted_token_count(lengths) -> int:
    """How many next-token targets texts of these lengths hold (sum of length - 1)."""
    return int(sum(max(int(length) - 1, 0) for length in lengths))
