"""Decision thresholds tuned on validation data, as the original's automatic thresholding and its
offline `threshold.py` tool did it. scikit-learn scores labels, not candidate thresholds, so the
searches count tp/fp/fn/tn for a whole grid at once (sorted scores, `searchsorted`) and score the
counts with counts.py; ROC AUC comes from sklearn.metrics.

- `best_thresholds`: per class, the threshold in a grid that maximises one metric (f1, jaccard, mcc,
  accuracy, precision, recall) of `prob > threshold` against the 0/1 labels.
- `second_pass` (the finetuning --double-thresh): output by output, each threshold re-chosen on the
  grid for the averaged (micro or macro) metric with the other outputs' thresholds held.
- `global_tweaks`: random +-0.04 nudges of one class's threshold at a time, kept when the micro (or
  macro) metric over all classes rises (the original's `global_tweaks`, default 1000 tries).
- `dual_thresholds`: the original's `--dual-thresh` ("for 2 columns positive and negative, thresholds
  classes s.t. positive, negative, neutral labels are available"): a (positive, negative) probability
  pair each gets its own threshold; exactly one side above its threshold gives that side, both or
  neither gives neutral; the pair is chosen on a grid to maximise 3-way accuracy against (positive,
  negative) 0/1 label columns, where a row with both columns equal is neutral.
- `neutral_thresholds`: two thresholds low <= high splitting one scalar score into negative (<= low),
  neutral, positive (> high), chosen to maximise accuracy on 3-class labels (0 neg, 1 neutral, 2 pos).
- `scalar_threshold`: the best single cut of an unbounded scalar score (e.g. one neuron's value) and
  the metric reached there; `roc_auc` per class.

A prediction is positive when `prob > threshold` (strict), as in the original.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from .counts import averaged_metric, metric_from_counts
from .metrics import canonical_metric, check_binary_values

DEFAULT_GRID = np.linspace(0.0, 1.0, 201)
TWEAK_STEP = 0.08  # the original's tweak width: threshold + 0.08 * (u - 0.5)
NEGATIVE, NEUTRAL, POSITIVE = 0, 1, 2


@dataclass
class ThresholdResult:
    """Per-class thresholds (L,) and the validation metric they reach."""
    thresholds: np.ndarray
    per_class: np.ndarray
    micro: float
    macro: float
    metric: str

    def to_dict(self) -> dict:
        """Plain data for a JSON results file."""
        return {"metric": self.metric, "thresholds": [float(t) for t in self.thresholds],
                "per_class": [float(s) for s in self.per_class],
                "micro": float(self.micro), "macro": float(self.macro)}


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


def check_probs_labels(probs, labels) -> tuple[np.ndarray, np.ndarray]:
    """probs and 0/1 labels as (N, L) arrays of the same shape."""
    probs = as_matrix(probs, "probabilities")
    labels = check_binary_values(as_matrix(labels, "labels"), "labels")
    if probs.shape != labels.shape:
        raise UserError(f"probabilities have shape {probs.shape} but labels have shape {labels.shape}")
    return probs, labels


def as_grid(grid) -> np.ndarray:
    """A sorted 1-D grid of candidate thresholds."""
    grid = np.sort(np.asarray(grid if grid is not None else DEFAULT_GRID, dtype=np.float64).ravel())
    if grid.size == 0:
        raise UserError("the threshold grid is empty")
    return grid


# ---------------------------------------------------------------- applying thresholds

def apply_thresholds(probs, thresholds) -> np.ndarray:
    """0/1 predictions `probs > thresholds`; thresholds a scalar or one per column."""
    probs_array = np.asarray(probs, dtype=np.float64)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if probs_array.ndim == 2 and thresholds.ndim == 1 and thresholds.shape[0] != probs_array.shape[1]:
        raise UserError(f"{thresholds.shape[0]} thresholds given for {probs_array.shape[1]} classes")
    return (probs_array > thresholds).astype(np.int64)


# ---------------------------------------------------------------- per-class search

def counts_over_grid(scores: np.ndarray, labels: np.ndarray, grid: np.ndarray) -> dict[str, np.ndarray]:
    """tp/fp/fn/tn of `scores > t` for every t in the grid, each (G,); one column, O(N log N)."""
    positive_scores = np.sort(scores[labels == 1])  # (P,)
    negative_scores = np.sort(scores[labels == 0])  # (Q,)
    tp = positive_scores.size - np.searchsorted(positive_scores, grid, side="right")  # (G,)
    fp = negative_scores.size - np.searchsorted(negative_scores, grid, side="right")  # (G,)
    return {"tp": tp, "fp": fp, "fn": positive_scores.size - tp, "tn": negative_scores.size - fp}


def best_on_grid(scores: np.ndarray, labels: np.ndarray, grid: np.ndarray, metric: str):
    """(threshold, metric value, counts at it) maximising the metric; the first best on ties."""
    counts = counts_over_grid(scores, labels, grid)
    values = metric_from_counts(metric, **counts)  # (G,)
    best = int(np.argmax(values))
    return float(grid[best]), float(values[best]), {k: int(v[best]) for k, v in counts.items()}


def best_thresholds(probs, labels, metric: str = "f1", grid=None) -> ThresholdResult:
    """Per class, the grid threshold maximising `metric` on (N, L) validation probs and 0/1 labels."""
    probs, labels = check_probs_labels(probs, labels)
    metric, grid = canonical_metric(metric), as_grid(grid)
    found = [best_on_grid(probs[:, j], labels[:, j], grid, metric) for j in range(probs.shape[1])]
    thresholds = np.array([threshold for threshold, _, _ in found])
    per_class = np.array([value for _, value, _ in found])
    summed = {key: sum(counts[key] for _, _, counts in found) for key in ("tp", "fp", "fn", "tn")}
    micro = float(metric_from_counts(metric, **summed))
    return ThresholdResult(thresholds, per_class, micro, float(per_class.mean()), metric)


def thresholded_counts(probs: np.ndarray, labels: np.ndarray, thresholds: np.ndarray) -> dict:
    """Per-class counts (L,) of `probs > thresholds` (sklearn's multilabel_confusion_matrix, without its
    input checks, which cost more than the count inside a search)."""
    predicted = probs > thresholds  # (N, L)
    truth = labels.astype(bool)
    return {"tp": np.sum(truth & predicted, 0), "fp": np.sum(~truth & predicted, 0),
            "fn": np.sum(truth & ~predicted, 0), "tn": np.sum(~truth & ~predicted, 0)}


def evaluate_thresholds(probs, labels, thresholds, metric: str = "f1", micro: bool = True) -> float:
    """The averaged metric reached by given thresholds."""
    probs, labels = check_probs_labels(probs, labels)
    counts = thresholded_counts(probs, labels, np.broadcast_to(np.asarray(thresholds, float), probs.shape[1:]))
    return averaged_metric(counts, canonical_metric(metric), micro)


def second_pass(probs, labels, thresholds, metric, micro, grid=DEFAULT_GRID) -> np.ndarray:
    """Coordinate ascent: each output's threshold re-chosen for the averaged metric, the others fixed."""
    thresholds = np.array(thresholds, dtype=np.float64)
    counts = thresholded_counts(probs, labels, thresholds)  # each (L,)
    for column in range(probs.shape[1]):
        grid_counts = counts_over_grid(probs[:, column], labels[:, column], grid)  # each (G,)
        if micro:
            summed = {key: grid_counts[key] + counts[key].sum() - counts[key][column] for key in counts}
            values = metric_from_counts(metric, **summed)  # (G,)
        else:
            values = metric_from_counts(metric, **grid_counts)
        current = _value_at(metric, counts, column, micro)
        best = int(np.argmax(values))
        if values[best] > current + 1e-12:
            thresholds[column] = grid[best]
            for key in counts:
                counts[key][column] = grid_counts[key][best]
    return thresholds


def _value_at(metric, counts, column, micro) -> float:
    """The averaged metric (micro) or one output's metric (macro) of the current counts."""
    if micro:
        return float(metric_from_counts(metric, **{key: value.sum() for key, value in counts.items()}))
    return float(metric_from_counts(metric, **{key: value[column] for key, value in counts.items()}))


class SortedColumns:
    """Each column's positive and negative scores, sorted, to count `score > t` in O(log N) per try."""

    def __init__(self, probs: np.ndarray, labels: np.ndarray):
        self.positive = [np.sort(probs[labels[:, j] == 1, j]) for j in range(probs.shape[1])]
        self.negative = [np.sort(probs[labels[:, j] == 0, j]) for j in range(probs.shape[1])]

    def counts(self, column: int, threshold: float) -> dict[str, int]:
        """tp/fp/fn/tn of `probs[:, column] > threshold`."""
        positive, negative = self.positive[column], self.negative[column]
        tp = positive.size - int(np.searchsorted(positive, threshold, side="right"))
        fp = negative.size - int(np.searchsorted(negative, threshold, side="right"))
        return {"tp": tp, "fp": fp, "fn": positive.size - tp, "tn": negative.size - fp}


def global_tweaks(probs, labels, thresholds, n: int = 1000, metric: str = "f1", micro: bool = True,
                  seed: int = 0, step: float = TWEAK_STEP) -> tuple[np.ndarray, float]:
    """Randomly nudge one class's threshold at a time; keep a nudge when the averaged metric rises.

    Returns the new thresholds (L,) and the metric they reach (never below the starting value)."""
    probs, labels = check_probs_labels(probs, labels)
    metric = canonical_metric(metric)
    thresholds = np.array(np.broadcast_to(np.asarray(thresholds, float), probs.shape[1:]), dtype=np.float64)
    counts = {key: value.astype(np.int64) for key, value in thresholded_counts(probs, labels, thresholds).items()}
    best = averaged_metric(counts, metric, micro)
    columns = SortedColumns(probs, labels)
    rng = np.random.default_rng(seed)
    for _ in range(n if probs.shape[1] > 1 else 0):
        column = int(rng.integers(probs.shape[1]))
        candidate = round(float(thresholds[column] + step * (rng.random() - 0.5)), 6)
        trial = {key: value.copy() for key, value in counts.items()}
        for key, value in columns.counts(column, candidate).items():
            trial[key][column] = value
        value = averaged_metric(trial, metric, micro)
        if value > best:
            best, counts, thresholds[column] = value, trial, candidate
    return thresholds, best


# ---------------------------------------------------------------- three-way splits

def dual_predictions(probs, thresholds) -> np.ndarray:
    """(positive, negative) probability pairs (N, 2) -> class ids 0 neg, 1 neutral, 2 pos."""
    probs = as_matrix(probs, "probabilities")
    if probs.shape[1] != 2:
        raise UserError(f"dual thresholds need 2 columns (positive, negative), got {probs.shape[1]}")
    positive = probs[:, 0] > thresholds[0]
    negative = probs[:, 1] > thresholds[1]
    ids = np.full(probs.shape[0], NEUTRAL, dtype=np.int64)
    ids[positive & ~negative] = POSITIVE
    ids[negative & ~positive] = NEGATIVE
    return ids


def dual_labels(labels) -> np.ndarray:
    """(positive, negative) 0/1 label columns (N, 2) -> ids; equal columns mean neutral."""
    labels = check_binary_values(as_matrix(labels, "labels"), "labels")
    if labels.shape[1] != 2:
        raise UserError(f"dual-threshold labels need 2 columns (positive, negative), got {labels.shape[1]}")
    return dual_predictions(labels, (0.5, 0.5))


def dual_thresholds(probs, labels, grid=None) -> tuple[tuple[float, float], float]:
    """The (t_positive, t_negative) pair on the grid maximising 3-way accuracy, and that accuracy."""
    probs = as_matrix(probs, "probabilities")
    if probs.shape[1] != 2:
        raise UserError(f"dual thresholds need 2 columns (positive, negative), got {probs.shape[1]}")
    truth = dual_labels(labels)
    if probs.shape[0] != truth.shape[0]:
        raise UserError(f"{probs.shape[0]} probability rows but {truth.shape[0]} label rows")
    grid = as_grid(grid)
    above_positive = probs[:, 0][None, :] > grid[:, None]  # (G, N)
    above_negative = probs[:, 1][None, :] > grid[:, None]  # (G, N)
    best_pair, best_accuracy = (float(grid[0]), float(grid[0])), -1.0
    for i, positive in enumerate(above_positive):
        predicted = np.full(above_negative.shape, NEUTRAL)  # (G, N) over t_negative
        predicted[positive[None, :] & ~above_negative] = POSITIVE
        predicted[above_negative & ~positive[None, :]] = NEGATIVE
        accuracies = np.mean(predicted == truth[None, :], axis=1)  # (G,)
        j = int(np.argmax(accuracies))
        if accuracies[j] > best_accuracy:
            best_pair, best_accuracy = (float(grid[i]), float(grid[j])), float(accuracies[j])
    return best_pair, best_accuracy


def neutral_predictions(scores, low: float, high: float) -> np.ndarray:
    """Scalar scores -> 0 neg (<= low), 1 neutral, 2 pos (> high)."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    ids = np.full(scores.shape[0], NEUTRAL, dtype=np.int64)
    ids[scores <= low] = NEGATIVE
    ids[scores > high] = POSITIVE
    return ids


def neutral_thresholds(scores, labels, grid=None) -> tuple[tuple[float, float], float]:
    """(low, high) with low <= high maximising accuracy of the 3-way split on labels 0/1/2."""
    scores = as_matrix(scores, "scores")
    if scores.shape[1] != 1:
        raise UserError(f"neutral thresholds need one score per row, got {scores.shape[1]} columns")
    scores = scores[:, 0]
    labels = np.asarray(labels).ravel()
    if labels.shape[0] != scores.shape[0] or not np.isin(labels, (0, 1, 2)).all():
        raise UserError("neutral thresholds need one label per score, each 0 (neg), 1 (neutral) or 2 (pos)")
    grid = as_grid(grid if grid is not None else score_grid(scores))
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
    """A grid for an unbounded score: its quantiles (plus a value below the minimum)."""
    quantiles = np.quantile(scores, np.linspace(0.0, 1.0, size))
    return np.unique(np.concatenate([[scores.min() - 1.0], quantiles]))


def scalar_threshold(scores, labels, metric: str = "accuracy", grid=None) -> tuple[float, float, int]:
    """Best single cut of a scalar score for 0/1 labels: (threshold, metric value, sign).

    sign is +1 when high scores mean class 1 and -1 when the score is flipped (the better direction
    is chosen, as a sentiment neuron may be negatively aligned); the threshold is on the score as
    given, with `score * sign > threshold * sign` predicting class 1."""
    scores = as_matrix(scores, "scores")[:, 0]
    labels = check_binary_values(as_matrix(labels, "labels")[:, 0], "labels")
    if labels.shape[0] != scores.shape[0]:
        raise UserError(f"{scores.shape[0]} scores but {labels.shape[0]} labels")
    metric = canonical_metric(metric)
    grid = as_grid(grid if grid is not None else score_grid(scores))
    up = best_on_grid(scores, labels, grid, metric)
    down = best_on_grid(-scores, labels, np.sort(-grid), metric)
    if down[1] > up[1]:
        return -down[0], down[1], -1
    return up[0], up[1], 1


def roc_auc(probs, labels) -> list[float]:
    """ROC AUC per class; NaN-free: a class with only one label value gets 0.5 (no information)."""
    from sklearn.metrics import roc_auc_score  # sklearn loads only when AUC is asked for
    probs, labels = check_probs_labels(probs, labels)
    aucs = []
    for j in range(probs.shape[1]):
        if labels[:, j].min() == labels[:, j].max():
            aucs.append(0.5)
        else:
            aucs.append(float(roc_auc_score(labels[:, j], probs[:, j])))
    return aucs
