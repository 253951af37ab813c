"""Decision thresholds tuned on validation data, as the original's automatic thresholding and its
offline `threshold.py` tool did it: per class on a grid, a second pass for the averaged metric, random
global tweaks, the original's dual (positive, negative) and neutral three-way splits, the best cut of
a scalar score, and ROC AUC (sklearn.metrics). scikit-learn scores labels, not candidate thresholds, so
the searches count tp/fp/fn/tn for a whole grid at once (sorted scores, `searchsorted`) and score the
counts with counts.py.

A prediction is positive when `prob > threshold` (strict), as in the original.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from .counts import averaged_metric, metric_from_counts
from .labels import check_labels
from .names import canonical_metric

DEFAULT_GRID = np.linspace(0.0, 1.0, 201)
TWEAK_STEP = 0.08  # the original's tweak width: threshold + 0.08 * (u - 0.5)
NEGATIVE, NEUTRAL, POSITIVE = 0, 1, 2


@dataclass
class ThresholdResult:
    """Per-class thresholds (L,) and the validation metric each reaches (L,)."""
    thresholds: np.ndarray
    per_class: np.ndarray


# ---------------------------------------------------------------- input checks

def as_matrix(values, what: str) -> np.ndarray:
    """(N,) or (N, L) numbers -> (N, L) float64, refusing NaN."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0:
        raise UserError(f"{what} must be a non-empty (N,) or (N, L) array, got shape {array.shape}")
    if np.isnan(array).any():
        raise UserError(f"{what} contains NaN at row {int(np.argwhere(np.isnan(array))[0][0])}")
    return array


def label_matrix(labels, what: str = "labels", **match) -> np.ndarray:
    """(N,) or (N, L) 0/1 labels -> (N, L) int64, checked by `labels.check_labels` (`match`: its
    same_shape_as / same_rows_as)."""
    labels = np.asarray(labels)
    return check_labels(labels[:, None] if labels.ndim == 1 else labels, what, "multilabel", **match)


def check_probs_labels(probs, labels) -> tuple[np.ndarray, np.ndarray]:
    """probs and 0/1 labels as (N, L) arrays of the same shape."""
    probs = as_matrix(probs, "probabilities")
    return probs, label_matrix(labels, same_shape_as=("probabilities", probs))


# ---------------------------------------------------------------- per-class search

class SortedColumns:
    """Each column's positive and negative scores, sorted, to count `score > t` by binary search."""

    def __init__(self, probs: np.ndarray, labels: np.ndarray):
        self.positive = [np.sort(probs[labels[:, j] == 1, j]) for j in range(probs.shape[1])]
        self.negative = [np.sort(probs[labels[:, j] == 0, j]) for j in range(probs.shape[1])]

    def counts(self, column: int, thresholds) -> dict:
        """tp/fp/fn/tn of `probs[:, column] > t` for one threshold, or each (G,) for a grid of them."""
        positive, negative = self.positive[column], self.negative[column]
        tp = positive.size - np.searchsorted(positive, thresholds, side="right")
        fp = negative.size - np.searchsorted(negative, thresholds, side="right")
        return {"tp": tp, "fp": fp, "fn": positive.size - tp, "tn": negative.size - fp}

    def counts_at(self, thresholds) -> dict[str, np.ndarray]:
        """Per-column counts, each (L,), of `probs[:, j] > thresholds[j]`."""
        each = [self.counts(j, t) for j, t in enumerate(np.broadcast_to(thresholds, len(self.positive)))]
        return {key: np.array([counts[key] for counts in each], dtype=np.int64) for key in ("tp", "fp", "fn", "tn")}


def best_on_grid(columns: SortedColumns, column: int, grid: np.ndarray, metric: str) -> tuple[float, float]:
    """(threshold, metric value) maximising the metric over the grid; the first best on ties."""
    values = metric_from_counts(metric, **columns.counts(column, grid))  # (G,)
    best = int(np.argmax(values))
    return float(grid[best]), float(values[best])


def best_thresholds(probs, labels, metric: str = "f1") -> ThresholdResult:
    """Per class, the grid threshold maximising `metric` on (N, L) validation probs and 0/1 labels."""
    probs, labels = check_probs_labels(probs, labels)
    metric, columns = canonical_metric(metric), SortedColumns(probs, labels)
    found = [best_on_grid(columns, j, DEFAULT_GRID, metric) for j in range(probs.shape[1])]
    return ThresholdResult(*np.array(found).T)


def evaluate_thresholds(probs, labels, thresholds, metric: str = "f1", micro: bool = True) -> float:
    """The averaged metric reached by given thresholds."""
    probs, labels = check_probs_labels(probs, labels)
    return averaged_metric(SortedColumns(probs, labels).counts_at(thresholds), canonical_metric(metric), micro)


def second_pass(probs, labels, thresholds, metric, micro) -> np.ndarray:
    """Coordinate ascent: each output's threshold re-chosen for the averaged metric, the others fixed."""
    thresholds = np.array(thresholds, dtype=np.float64)
    columns = SortedColumns(probs, labels)
    counts = columns.counts_at(thresholds)  # each (L,)
    for column in range(probs.shape[1]):
        grid_counts = columns.counts(column, DEFAULT_GRID)  # each (G,)
        if micro:
            values = metric_from_counts(metric, **{key: grid_counts[key] + counts[key].sum() - counts[key][column]
                                                   for key in counts})  # (G,)
            current = averaged_metric(counts, metric, micro=True)
        else:
            values = metric_from_counts(metric, **grid_counts)
            current = float(metric_from_counts(metric, **{key: value[column] for key, value in counts.items()}))
        best = int(np.argmax(values))
        if values[best] > current + 1e-12:
            thresholds[column] = DEFAULT_GRID[best]
            for key in counts:
                counts[key][column] = grid_counts[key][best]
    return thresholds


def global_tweaks(probs, labels, thresholds, n: int = 1000, metric: str = "f1", micro: bool = True,
                  seed: int = 0) -> tuple[np.ndarray, float]:
    """Randomly nudge one class's threshold at a time (by up to +-TWEAK_STEP / 2); keep a nudge when the
    averaged (micro or macro) metric rises.

    Returns the new thresholds (L,) and the metric they reach (never below the starting value)."""
    probs, labels = check_probs_labels(probs, labels)
    metric = canonical_metric(metric)
    thresholds = np.array(np.broadcast_to(np.asarray(thresholds, float), probs.shape[1:]), dtype=np.float64)
    columns = SortedColumns(probs, labels)
    counts = columns.counts_at(thresholds)  # each (L,)
    best = averaged_metric(counts, metric, micro)
    rng = np.random.default_rng(seed)
    for _ in range(n if probs.shape[1] > 1 else 0):
        column = int(rng.integers(probs.shape[1]))
        candidate = round(float(thresholds[column] + TWEAK_STEP * (rng.random() - 0.5)), 6)
        trial = {key: value.copy() for key, value in counts.items()}
        for key, value in columns.counts(column, candidate).items():
            trial[key][column] = value
        value = averaged_metric(trial, metric, micro)
        if value > best:
            best, counts, thresholds[column] = value, trial, candidate
    return thresholds, best


# ---------------------------------------------------------------- three-way splits

def three_way(positive: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """Class ids from broadcastable 'positive side above its threshold' and 'negative side above' masks:
    exactly one side gives that side (2 pos, 0 neg), both or neither give 1 neutral."""
    ids = np.full(np.broadcast_shapes(positive.shape, negative.shape), NEUTRAL, dtype=np.int64)
    ids[positive & ~negative] = POSITIVE
    ids[negative & ~positive] = NEGATIVE
    return ids


def dual_thresholds(probs, labels) -> tuple[tuple[float, float], float]:
    """The (t_positive, t_negative) pair on the grid maximising 3-way accuracy against (positive, negative)
    0/1 label columns (equal columns: neutral), and that accuracy."""
    probs = as_matrix(probs, "probabilities")
    if probs.shape[1] != 2:
        raise UserError(f"dual thresholds need 2 columns (positive, negative), got {probs.shape[1]}")
    labels = label_matrix(labels, same_rows_as=("probabilities", probs))
    if labels.shape[1] != 2:
        raise UserError(f"dual-threshold labels need 2 columns (positive, negative), got {labels.shape[1]}")
    truth = three_way(labels[:, 0] == 1, labels[:, 1] == 1)  # (N,)
    grid = DEFAULT_GRID
    above_positive = probs[:, 0][None, :] > grid[:, None]  # (G, N)
    above_negative = probs[:, 1][None, :] > grid[:, None]  # (G, N)
    best_pair, best_accuracy = (float(grid[0]), float(grid[0])), -1.0
    for i, positive in enumerate(above_positive):
        predicted = three_way(positive[None, :], above_negative)  # (G, N) over t_negative
        accuracies = np.mean(predicted == truth[None, :], axis=1)  # (G,)
        j = int(np.argmax(accuracies))
        if accuracies[j] > best_accuracy:
            best_pair, best_accuracy = (float(grid[i]), float(grid[j])), float(accuracies[j])
    return best_pair, best_accuracy


def neutral_thresholds(scores, labels) -> tuple[tuple[float, float], float]:
    """(low, high) with low <= high maximising the accuracy of the 3-way split of a scalar score (<= low
    negative, > high positive, neutral between) on labels 0 neg, 1 neutral, 2 pos."""
    scores = as_matrix(scores, "scores")
    if scores.shape[1] != 1:
        raise UserError(f"neutral thresholds need one score per row, got {scores.shape[1]} columns")
    scores = scores[:, 0]
    labels = check_labels(np.ravel(labels), "neutral-threshold labels (one per score: 0 neg, 1 neutral, 2 pos)",
                          "multiclass", 3, same_rows_as=("scores", scores))
    grid = score_grid(scores)
    # counts of each class at or below every grid value
    at_or_below = [np.searchsorted(np.sort(scores[labels == c]), grid, side="right") for c in range(3)]
    total_positive = int(np.sum(labels == POSITIVE))
    negative_right = at_or_below[NEGATIVE][:, None]  # (G, 1) negatives <= low
    neutral_right = at_or_below[NEUTRAL][None, :] - at_or_below[NEUTRAL][:, None]  # (G, G) low < s <= high
    positive_right = total_positive - at_or_below[POSITIVE][None, :]  # (1, G) positives > high
    correct = negative_right + neutral_right + positive_right  # (G_low, G_high)
    correct = np.where(np.triu(np.ones_like(correct, dtype=bool)), correct, -1)  # keep low <= high
    low, high = np.unravel_index(int(np.argmax(correct)), correct.shape)
    return (float(grid[low]), float(grid[high])), float(correct[low, high] / scores.shape[0])


# ---------------------------------------------------------------- scalar scores and AUC

def score_grid(scores: np.ndarray, size: int = 201) -> np.ndarray:
    """A sorted grid for an unbounded score: its quantiles (plus a value below the minimum)."""
    quantiles = np.quantile(scores, np.linspace(0.0, 1.0, size))
    return np.unique(np.concatenate([[scores.min() - 1.0], quantiles]))


def scalar_threshold(scores, labels, metric: str = "accuracy") -> tuple[float, float, int]:
    """Best single cut of a scalar score for 0/1 labels: (threshold, metric value, sign).

    sign is +1 when high scores mean class 1 and -1 when the score is flipped (the better direction
    is chosen, as a sentiment neuron may be negatively aligned); the threshold is on the score as
    given, with `score * sign > threshold * sign` predicting class 1."""
    scores = as_matrix(scores, "scores")[:, :1]  # (N, 1)
    labels = label_matrix(labels, same_rows_as=("scores", scores))[:, :1]  # (N, 1)
    metric = canonical_metric(metric)
    grid = score_grid(scores[:, 0])
    up = best_on_grid(SortedColumns(scores, labels), 0, grid, metric)
    down = best_on_grid(SortedColumns(-scores, labels), 0, np.sort(-grid), metric)
    if down[1] > up[1]:
        return -down[0], down[1], -1
    return up[0], up[1], 1


def roc_auc(probs, labels) -> list[float]:
    """ROC AUC per class; NaN-free: a class with only one label value gets 0.5 (no information)."""
    from sklearn.metrics import roc_auc_score  # sklearn loads on first use, after the inputs are checked
    probs, labels = check_probs_labels(probs, labels)
    aucs = []
    for j in range(probs.shape[1]):
        if labels[:, j].min() == labels[:, j].max():
            aucs.append(0.5)
        else:
            aucs.append(float(roc_auc_score(labels[:, j], probs[:, j])))
    return aucs
