"""Metrics of tp/fp/fn/tn counts, element-wise over arrays of counts.

scikit-learn's metrics take label arrays; the threshold searches (threshold_search.py) score hundreds of
candidate thresholds per class at once from counts, and sklearn has no per-label accuracy or MCC of
multi-label data (metrics.py reads those from its confusion counts): these formulas serve both. They
agree with sklearn.metrics (tests/test_metrics.py, tests/test_evaluation_parity.py); a metric whose
denominator is zero is 0 (zero_division=0), never NaN.
"""
from __future__ import annotations

import numpy as np

from .names import canonical_metric


def safe_divide(numerator, denominator) -> np.ndarray:
    """numerator / denominator with 0 wherever the denominator is 0."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.zeros(np.broadcast(numerator, denominator).shape)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def scores_from_counts(tp, fp, fn, tn) -> dict[str, np.ndarray]:
    """All six metrics from counts, element-wise (e.g. per class, or per candidate threshold)."""
    tp, fp, fn, tn = (np.asarray(v, dtype=np.float64) for v in (tp, fp, fn, tn))
    margins = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)  # MCC is 0 when any margin is empty
    return {
        "accuracy": safe_divide(tp + tn, tp + fp + fn + tn),
        "precision": safe_divide(tp, tp + fp),
        "recall": safe_divide(tp, tp + fn),
        "f1": safe_divide(2 * tp, 2 * tp + fp + fn),
        "jaccard": safe_divide(tp, tp + fp + fn),
        "mcc": safe_divide(tp * tn - fp * fn, np.sqrt(margins)),
    }


def metric_from_counts(name: str, tp, fp, fn, tn) -> np.ndarray:
    """One metric (full name or alias) from counts, element-wise."""
    return scores_from_counts(tp, fp, fn, tn)[canonical_metric(name)]


def averaged_metric(counts: dict, metric: str, micro: bool) -> float:
    """Micro (metric of the summed counts) or macro (mean of the per-class metrics) of per-class counts."""
    if micro:
        return float(metric_from_counts(metric, **{key: np.sum(value) for key, value in counts.items()}))
    return float(np.mean(metric_from_counts(metric, **counts)))
