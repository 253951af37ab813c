"""Classification metrics on numpy arrays: accuracy, precision, recall, F1, Jaccard and MCC.

Covers binary labels (0/1), multi-class labels (class ids 0..K-1) and multi-label targets (N, L) 0/1
matrices, each per class, micro-averaged (metric of the summed counts) and macro-averaged (mean of the
per-class metrics), as the original's `metric_utils` counted them (tp/fp/fn/tn per class). A metric whose
denominator is zero (a class with no positives and no predictions) is 0, never NaN.

Conventions: rows of a confusion matrix are true classes, columns predicted classes (as scikit-learn).
For multi-label data the headline `accuracy` is exact-match (subset) accuracy; the per-label accuracy is
in `per_class` and its mean in `micro`/`macro` (equal to 1 - Hamming loss).
"""
from __future__ import annotations

import numpy as np

from ..errors import UserError

METRIC_NAMES = ("accuracy", "precision", "recall", "f1", "jaccard", "mcc")
METRIC_ALIASES = {"acc": "accuracy", "jacc": "jaccard", "prec": "precision", "rec": "recall"}
TASKS = ("binary", "multiclass", "multilabel")


def canonical_metric(name: str) -> str:
    """Map a metric name or the original's short alias (acc, jacc) to its full name."""
    full = METRIC_ALIASES.get(str(name).lower(), str(name).lower())
    if full not in METRIC_NAMES:
        known = ", ".join(METRIC_NAMES + tuple(METRIC_ALIASES))
        raise UserError(f"unknown metric {name!r}; choose one of: {known}")
    return full


# ---------------------------------------------------------------- checking input

def as_label_array(values, what: str) -> np.ndarray:
    """Turn labels into a numpy array, refusing NaN and non-numeric entries with a UserError."""
    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        raise UserError(f"{what} must be numeric labels, got dtype {array.dtype}")
    if array.dtype.kind == "f" and np.isnan(array).any():
        raise UserError(f"{what} contains NaN at row {int(np.argwhere(np.isnan(array))[0][0])}")
    if array.ndim not in (1, 2):
        raise UserError(f"{what} must be 1-D (class ids) or 2-D (multi-label 0/1), got shape {array.shape}")
    return array


def check_pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    """Validate that truth and predictions are label arrays of the same shape."""
    y_true = as_label_array(y_true, "y_true")
    y_pred = as_label_array(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise UserError(f"y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}")
    if y_true.shape[0] == 0:
        raise UserError("no rows to score (empty label arrays)")
    return y_true, y_pred


def check_binary_values(array: np.ndarray, what: str) -> np.ndarray:
    """Refuse anything other than 0/1 in a binary or multi-label array."""
    bad = ~np.isin(array, (0, 1))
    if bad.any():
        value = array[bad].flat[0]
        raise UserError(f"{what} must hold only 0/1 values, found {value!r}")
    return array.astype(np.int64)


def check_class_ids(array: np.ndarray, n_classes: int, what: str) -> np.ndarray:
    """Refuse non-integer, negative or too large class ids."""
    if array.dtype.kind == "f" and not np.all(array == np.round(array)):
        raise UserError(f"{what} must hold integer class ids, found {array[array != np.round(array)][0]!r}")
    ids = array.astype(np.int64)
    if ids.min() < 0 or ids.max() >= n_classes:
        bad = ids[(ids < 0) | (ids >= n_classes)][0]
        raise UserError(f"{what} holds class id {bad}, outside 0..{n_classes - 1}")
    return ids


def infer_task(y_true) -> str:
    """'multilabel' for a 2-D array, 'binary' for 1-D 0/1 labels, else 'multiclass'."""
    y_true = as_label_array(y_true, "y_true")
    if y_true.ndim == 2:
        return "multilabel"
    return "binary" if np.isin(y_true, (0, 1)).all() else "multiclass"


def infer_n_classes(y_true: np.ndarray, y_pred: np.ndarray) -> int:
    """Number of classes implied by the largest id in either array (at least 2)."""
    return max(2, int(max(y_true.max(), y_pred.max())) + 1)


# ---------------------------------------------------------------- counting

def one_hot(ids, n_classes: int) -> np.ndarray:
    """Class ids (N,) -> indicator matrix (N, K) int64."""
    ids = np.asarray(ids, dtype=np.int64)
    matrix = np.zeros((ids.shape[0], n_classes), dtype=np.int64)  # (N, K)
    matrix[np.arange(ids.shape[0]), ids] = 1
    return matrix


def binary_counts(y_true, y_pred) -> dict[str, np.ndarray]:
    """tp, fp, fn, tn of 0/1 arrays; per column for 2-D input ((L,) arrays), scalars for 1-D."""
    t = np.asarray(y_true).astype(bool)
    p = np.asarray(y_pred).astype(bool)
    return {
        "tp": np.sum(t & p, axis=0),
        "fp": np.sum(~t & p, axis=0),
        "fn": np.sum(t & ~p, axis=0),
        "tn": np.sum(~t & ~p, axis=0),
    }


def safe_divide(numerator, denominator) -> np.ndarray:
    """numerator / denominator with 0 wherever the denominator is 0."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.zeros(np.broadcast(numerator, denominator).shape)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def mcc_from_counts(tp, fp, fn, tn) -> np.ndarray:
    """Matthews correlation of binary counts (0 when any margin is empty)."""
    tp, fp, fn, tn = (np.asarray(v, dtype=np.float64) for v in (tp, fp, fn, tn))
    numerator = tp * tn - fp * fn
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return safe_divide(numerator, denominator)


def scores_from_counts(tp, fp, fn, tn) -> dict[str, np.ndarray]:
    """All six metrics from counts; works element-wise on arrays (e.g. per class or per threshold)."""
    tp, fp, fn, tn = (np.asarray(v, dtype=np.float64) for v in (tp, fp, fn, tn))
    return {
        "accuracy": safe_divide(tp + tn, tp + fp + fn + tn),
        "precision": safe_divide(tp, tp + fp),
        "recall": safe_divide(tp, tp + fn),
        "f1": safe_divide(2 * tp, 2 * tp + fp + fn),
        "jaccard": safe_divide(tp, tp + fp + fn),
        "mcc": mcc_from_counts(tp, fp, fn, tn),
    }


def metric_from_counts(name: str, tp, fp, fn, tn) -> np.ndarray:
    """One metric (full name or alias) from counts, element-wise."""
    return scores_from_counts(tp, fp, fn, tn)[canonical_metric(name)]


def averaged_scores(counts: dict[str, np.ndarray]) -> dict[str, dict]:
    """per_class lists, micro (metric of summed counts) and macro (mean of per-class metrics)."""
    per_class = scores_from_counts(**counts)
    summed = {key: np.sum(value) for key, value in counts.items()}
    micro = scores_from_counts(**summed)
    return {
        "per_class": {name: [float(v) for v in values] for name, values in per_class.items()},
        "micro": {name: float(value) for name, value in micro.items()},
        "macro": {name: float(np.mean(values)) for name, values in per_class.items()},
    }


# ---------------------------------------------------------------- confusion matrices

def confusion_matrix(y_true, y_pred, n_classes: int | None = None) -> np.ndarray:
    """(K, K) int64 counts; rows are true class ids, columns predicted ids."""
    y_true, y_pred = check_pair(y_true, y_pred)
    if y_true.ndim != 1:
        raise UserError("confusion_matrix needs 1-D class ids; use multilabel_confusion for (N, L) targets")
    n_classes = n_classes or infer_n_classes(y_true, y_pred)
    t = check_class_ids(y_true, n_classes, "y_true")
    p = check_class_ids(y_pred, n_classes, "y_pred")
    flat = np.bincount(t * n_classes + p, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes)


def multilabel_confusion(y_true, y_pred) -> np.ndarray:
    """(L, 2, 2) per-label [[tn, fp], [fn, tp]] counts, like scikit-learn's multilabel_confusion_matrix."""
    y_true, y_pred = check_pair(y_true, y_pred)
    counts = binary_counts(check_binary_values(y_true, "y_true"), check_binary_values(y_pred, "y_pred"))
    return np.stack([np.stack([counts["tn"], counts["fp"]], -1),
                     np.stack([counts["fn"], counts["tp"]], -1)], 1)  # (L, 2, 2)


def counts_from_confusion(cm: np.ndarray) -> dict[str, np.ndarray]:
    """One-vs-rest tp/fp/fn/tn per class (K,) from a (K, K) confusion matrix."""
    tp = np.diag(cm)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    tn = cm.sum() - tp - fp - fn
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn}


def multiclass_mcc(cm: np.ndarray) -> float:
    """Gorodkin's K-class Matthews correlation (R_K) from a confusion matrix; 0 when undefined."""
    cm = np.asarray(cm, dtype=np.float64)
    true_totals, pred_totals = cm.sum(axis=1), cm.sum(axis=0)
    n, correct = cm.sum(), np.trace(cm)
    numerator = correct * n - pred_totals @ true_totals
    denominator = np.sqrt((n * n - pred_totals @ pred_totals) * (n * n - true_totals @ true_totals))
    return float(safe_divide(numerator, denominator))


# ---------------------------------------------------------------- evaluation

def evaluate(y_true, y_pred, task: str | None = None, n_classes: int | None = None) -> dict:
    """All metrics for one prediction set, as plain data.

    Returns {"task", "n", "accuracy", "per_class": {metric: [K or L values]}, "micro": {...},
    "macro": {...}} plus, for binary, "positive" (the scores of class 1, scikit-learn's
    average="binary") and "mcc"; for multi-class, "mcc" (R_K) and "confusion_matrix"."""
    y_true, y_pred = check_pair(y_true, y_pred)
    task = task or infer_task(y_true)
    if task not in TASKS:
        raise UserError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}")
    if task == "multilabel":
        return evaluate_multilabel(y_true, y_pred)
    if y_true.ndim != 1:
        raise UserError(f"task {task!r} needs 1-D labels, got shape {y_true.shape}")
    if task == "binary":
        return evaluate_binary(y_true, y_pred)
    return evaluate_multiclass(y_true, y_pred, n_classes)


def evaluate_binary(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """Binary 0/1 labels: both classes per class, plus the positive class's scores."""
    t = check_binary_values(y_true, "y_true")
    p = check_binary_values(y_pred, "y_pred")
    report = evaluate_multiclass(t, p, 2)
    positive = scores_from_counts(**binary_counts(t, p))
    report["task"] = "binary"
    report["positive"] = {name: float(value) for name, value in positive.items()}
    report["mcc"] = report["positive"]["mcc"]
    return report


def evaluate_multiclass(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int | None) -> dict:
    """Class ids: one-vs-rest counts per class from the confusion matrix."""
    cm = confusion_matrix(y_true, y_pred, n_classes)
    report = {"task": "multiclass", "n": int(y_true.shape[0]),
              "accuracy": float(np.trace(cm) / cm.sum())}
    report.update(averaged_scores(counts_from_confusion(cm)))
    report["mcc"] = multiclass_mcc(cm)
    report["confusion_matrix"] = cm.tolist()
    return report


def evaluate_multilabel(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """(N, L) 0/1 matrices: per-label counts; headline accuracy is exact match."""
    if y_true.ndim != 2:
        raise UserError(f"multilabel task needs (N, L) 0/1 labels, got shape {y_true.shape}")
    t = check_binary_values(y_true, "y_true")
    p = check_binary_values(y_pred, "y_pred")
    report = {"task": "multilabel", "n": int(t.shape[0]),
              "accuracy": float(np.mean(np.all(t == p, axis=1)))}
    report.update(averaged_scores(binary_counts(t, p)))
    return report


def score(name: str, y_true, y_pred, average: str | None = "macro", task: str | None = None):
    """One metric: average None -> per-class list, "micro", "macro", or "binary" (class 1 only)."""
    name = canonical_metric(name)
    report = evaluate(y_true, y_pred, task=task)
    if average is None:
        return report["per_class"][name]
    if average == "binary":
        if report["task"] != "binary":
            raise UserError(f"average='binary' needs 0/1 labels, but the task is {report['task']}")
        return report["positive"][name]
    if average not in ("micro", "macro"):
        raise UserError(f"unknown average {average!r}; choose None, 'binary', 'micro' or 'macro'")
    return report[average][name]


def accuracy(y_true, y_pred) -> float:
    """Fraction of rows predicted exactly right (exact match for multi-label)."""
    return evaluate(y_true, y_pred)["accuracy"]


# ---------------------------------------------------------------- reports

def classification_report(y_true, y_pred, label_names=None, task: str | None = None) -> tuple[dict, str]:
    """Per-class and averaged metrics as a plain dict and as a text table (one row per class)."""
    report = evaluate(y_true, y_pred, task=task)
    n_rows = len(report["per_class"]["f1"])
    label_names = list(label_names) if label_names is not None else [str(i) for i in range(n_rows)]
    if len(label_names) != n_rows:
        raise UserError(f"{len(label_names)} label names given ({', '.join(map(str, label_names))}) "
                        f"but the labels have {n_rows} classes")
    report["label_names"] = [str(name) for name in label_names]
    report["support"] = support_per_class(np.asarray(y_true), report["task"], n_rows)
    return report, format_report(report)


def support_per_class(y_true: np.ndarray, task: str, n_rows: int) -> list[int]:
    """How many true examples each class (or label) has."""
    if task == "multilabel":
        return [int(v) for v in y_true.astype(np.int64).sum(axis=0)]
    return [int(v) for v in np.bincount(y_true.astype(np.int64), minlength=n_rows)]


def format_report(report: dict) -> str:
    """Render a classification_report dict as a fixed-width text table."""
    columns = ("precision", "recall", "f1", "jaccard", "mcc", "accuracy")
    width = max([len(name) for name in report["label_names"]] + [9])
    header = f"{'':<{width}} " + " ".join(f"{c:>9}" for c in columns) + f" {'support':>8}"
    lines = [header]
    for i, name in enumerate(report["label_names"]):
        values = " ".join(f"{report['per_class'][c][i]:9.4f}" for c in columns)
        lines.append(f"{name:<{width}} {values} {report['support'][i]:8d}")
    total = sum(report["support"]) if report["task"] == "multilabel" else report["n"]
    for average in ("micro", "macro"):
        values = " ".join(f"{report[average][c]:9.4f}" for c in columns)
        lines.append(f"{average + ' avg':<{width}} {values} {total:8d}")
    extra = f"accuracy {report['accuracy']:.4f}" + (" (exact match)" if report["task"] == "multilabel" else "")
    if "mcc" in report:
        extra += f"  mcc {report['mcc']:.4f}"
    lines.append(extra + f"  n {report['n']}")
    return "\n".join(lines)
