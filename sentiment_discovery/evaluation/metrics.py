"""Classification metrics on numpy arrays, computed by scikit-learn: accuracy, precision, recall, F1,
Jaccard and MCC, per class, micro- and macro-averaged, plus confusion matrices and a text report.

Covers binary labels (0/1), multi-class labels (class ids 0..K-1) and multi-label targets (N, L) 0/1
matrices. Per-class and averaged scores are those of the one-vs-rest indicator matrix (N, K) (for
multi-label, the targets themselves): micro = metric of the summed counts, macro = mean of the
per-class metrics, as the original's `metric_utils` counted them. A metric whose denominator is zero
(a class with no positives and no predictions) is 0, never NaN (sklearn's zero_division=0).

Conventions: rows of a confusion matrix are true classes, columns predicted classes (as scikit-learn).
For multi-label data the headline `accuracy` is exact-match (subset) accuracy; the per-label accuracy is
in `per_class` and its mean in `micro`/`macro` (equal to 1 - Hamming loss). Input checks raise
UserError with one line naming the problem.
"""
from __future__ import annotations

import contextlib
import warnings

import numpy as np

from .counts import scores_from_counts
from .labels import check_labels, infer_task
from .names import METRIC_NAMES


def _sklearn_metrics():
    """sklearn.metrics, imported on first use: a run with a bad input fails before sklearn loads."""
    from sklearn import metrics
    return metrics


@contextlib.contextmanager
def quiet():
    """sklearn warns about one-valued columns (MCC is then 0, as wanted); keep the logs clean."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


# ---------------------------------------------------------------- checking input

def checked_pair(y_true, y_pred, task: str | None = None, n_classes: int | None = None):
    """(y_true, y_pred, task, n_classes) after `labels.check_labels`: the task is y_true's unless given; a
    multi-class count not given is the largest id in either array + 1 (at least 2)."""
    y_true = check_labels(y_true, "y_true", task, n_classes)
    task = task or infer_task(y_true)
    y_pred = check_labels(y_pred, "y_pred", task, n_classes, same_shape_as=("y_true", y_true))
    if task == "multiclass" and n_classes is None:
        n_classes = max(2, int(max(y_true.max(), y_pred.max())) + 1)
    return y_true, y_pred, task, n_classes


def one_hot(ids, n_classes: int) -> np.ndarray:
    """Class ids (N,) -> indicator matrix (N, K) int64."""
    ids = np.asarray(ids, dtype=np.int64)
    matrix = np.zeros((ids.shape[0], n_classes), dtype=np.int64)  # (N, K)
    matrix[np.arange(ids.shape[0]), ids] = 1
    return matrix


# ---------------------------------------------------------------- scores of indicator matrices

def label_scores(truth: np.ndarray, predicted: np.ndarray, average) -> dict:
    """sklearn's precision, recall, F1 and Jaccard of (N, L) 0/1 matrices for one `average`.

    A single column (L = 1) is scored as the binary problem it is (sklearn reads an (N, 1) matrix as
    binary labels, not as one label of a multi-label task)."""
    if truth.shape[1] == 1:
        scores = label_scores_binary(truth[:, 0], predicted[:, 0])
        return {name: np.array([value]) for name, value in scores.items()} if average is None else scores
    precision, recall, f1, _ = _sklearn_metrics().precision_recall_fscore_support(
        truth, predicted, average=average, zero_division=0)
    return {"precision": precision, "recall": recall, "f1": f1,
            "jaccard": _sklearn_metrics().jaccard_score(truth, predicted, average=average, zero_division=0)}


def label_scores_binary(truth: np.ndarray, predicted: np.ndarray) -> dict:
    """Class 1's precision, recall, F1 and Jaccard of 1-D 0/1 arrays (sklearn's average="binary")."""
    precision, recall, f1, _ = _sklearn_metrics().precision_recall_fscore_support(
        truth, predicted, average="binary", labels=[0, 1], pos_label=1, zero_division=0)
    return {"precision": precision, "recall": recall, "f1": f1,
            "jaccard": _sklearn_metrics().jaccard_score(truth, predicted, average="binary", labels=[0, 1],
                                                        zero_division=0)}


def confusion_per_label(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """(L, 2, 2) counts of (N, L) 0/1 matrices; one column is scored as class 1 of a binary problem."""
    if truth.shape[1] == 1:
        return _sklearn_metrics().multilabel_confusion_matrix(truth[:, 0], predicted[:, 0], labels=[1])
    return _sklearn_metrics().multilabel_confusion_matrix(truth, predicted)


def averaged_scores(truth: np.ndarray, predicted: np.ndarray) -> dict[str, dict]:
    """per_class lists, micro and macro dicts of the six metrics of (N, L) 0/1 indicator matrices.

    Precision, recall, F1 and Jaccard come from sklearn; macro is the mean of the per-class values (as
    sklearn's average="macro"). sklearn has no per-label or averaged accuracy and MCC of indicator
    matrices, so those come from its multilabel confusion counts (counts.py)."""
    with quiet():
        per_class = label_scores(truth, predicted, None)
        micro = label_scores(truth, predicted, "micro")
        matrix = confusion_per_label(truth, predicted)  # (L, 2, 2) [[tn, fp], [fn, tp]]
    counts = {"tp": matrix[:, 1, 1], "fp": matrix[:, 0, 1], "fn": matrix[:, 1, 0], "tn": matrix[:, 0, 0]}
    from_counts = scores_from_counts(**counts)  # each (L,)
    summed = scores_from_counts(**{key: value.sum() for key, value in counts.items()})
    for name in ("accuracy", "mcc"):
        per_class[name], micro[name] = from_counts[name], summed[name]
    return {
        "per_class": {name: [float(v) for v in per_class[name]] for name in METRIC_NAMES},
        "micro": {name: float(micro[name]) for name in METRIC_NAMES},
        "macro": {name: float(np.mean(per_class[name])) for name in METRIC_NAMES},
    }


# ---------------------------------------------------------------- evaluation

def metrics_report(y_true, y_pred, task: str | None = None, n_classes: int | None = None) -> dict:
    """All metrics for one prediction set, as plain data.

    Returns {"task", "n", "accuracy", "per_class": {metric: [K or L values]}, "micro": {...},
    "macro": {...}} plus, for binary, "positive" (the scores of class 1, scikit-learn's
    average="binary") and "mcc"; for multi-class, "mcc" (R_K) and "confusion_matrix"."""
    y_true, y_pred, task, n_classes = checked_pair(y_true, y_pred, task, n_classes)
    if task == "multilabel":
        return multilabel_report(y_true, y_pred)
    if task == "binary":
        return binary_report(y_true, y_pred)
    return multiclass_report(y_true, y_pred, n_classes)


def binary_report(t: np.ndarray, p: np.ndarray) -> dict:
    """Checked 0/1 labels: both classes per class, plus the positive class's scores."""
    report = multiclass_report(t, p, 2)
    report["task"] = "binary"
    report["positive"] = averaged_scores(t[:, None], p[:, None])["micro"]  # one column: class 1's own scores
    return report


def multiclass_report(t: np.ndarray, p: np.ndarray, n_classes: int) -> dict:
    """Checked class ids: one-vs-rest scores per class of the (N, K) indicator matrices; K-class MCC."""
    report = {"task": "multiclass", "n": int(t.shape[0]), "accuracy": float(_sklearn_metrics().accuracy_score(t, p))}
    report.update(averaged_scores(one_hot(t, n_classes), one_hot(p, n_classes)))
    with quiet():
        report["mcc"] = float(_sklearn_metrics().matthews_corrcoef(t, p))
    report["confusion_matrix"] = _sklearn_metrics().confusion_matrix(t, p, labels=np.arange(n_classes)).tolist()
    return report


def multilabel_report(t: np.ndarray, p: np.ndarray) -> dict:
    """Checked (N, L) 0/1 matrices: per-label scores; headline accuracy is exact match."""
    report = {"task": "multilabel", "n": int(t.shape[0]), "accuracy": float(_sklearn_metrics().accuracy_score(t, p))}
    report.update(averaged_scores(t, p))
    return report


# ---------------------------------------------------------------- reports

def support_per_class(y_true: np.ndarray, task: str, n_rows: int) -> list[int]:
    """How many true examples each class (or label) has."""
    if task == "multilabel":
        return [int(v) for v in y_true.astype(np.int64).sum(axis=0)]
    return [int(v) for v in np.bincount(y_true.astype(np.int64), minlength=n_rows)]


def format_report(report: dict) -> str:
    """Render a classification_report dict as a fixed-width text table (sklearn's has no Jaccard/MCC)."""
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
