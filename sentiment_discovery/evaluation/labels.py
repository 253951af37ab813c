"""Label arrays: the one label validator (`check_labels`), the task labels imply (`infer_task`) and the one
way probabilities become predicted labels (`predict_labels`).

Label forms by task: "binary" (N,) 0/1, "multiclass" (N,) class ids 0..K-1, "multilabel" (N, L) 0/1.
"""
from __future__ import annotations

import numpy as np

from ..errors import UserError

TASKS = ("binary", "multiclass", "multilabel")


def infer_task(labels) -> str:
    """'multilabel' for a 2-D array, 'binary' for 1-D 0/1 labels, else 'multiclass'."""
    labels = np.asarray(labels)
    if labels.ndim == 2:
        return "multilabel"
    return "binary" if np.isin(labels, (0, 1)).all() else "multiclass"


def check_labels(labels, what: str = "labels", task: str | None = None, n_classes: int | None = None,
                 same_shape_as: tuple | None = None, same_rows_as: tuple | None = None,
                 classes_from: str | None = None) -> np.ndarray:
    """`labels` as an int64 array, or a one-line UserError naming `what` and its first problem.

    Checked: a numeric (N,) or (N, L) array with at least one row; no NaN or infinity; the shape of
    `same_shape_as` or the rows of `same_rows_as`, each a (name, array) pair; the values of `task` (when
    None, the task the labels imply): 0/1 for "binary" (N,) and "multilabel" (N, L); integer class ids
    >= 0, and below `n_classes` when given, for "multiclass" (N,) (`classes_from` names where the class
    set comes from, e.g. "training")."""
    array = _numeric_rows(labels, what)
    if same_shape_as is not None and array.shape != np.shape(same_shape_as[1]):
        raise UserError(f"{what} has shape {array.shape} but {same_shape_as[0]} has shape "
                        f"{np.shape(same_shape_as[1])}")
    if same_rows_as is not None and array.shape[0] != len(same_rows_as[1]):
        raise UserError(f"{what} has {array.shape[0]} rows but {same_rows_as[0]} has {len(same_rows_as[1])}")
    task = task or infer_task(array)
    if task not in TASKS:
        raise UserError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}")
    if task == "multilabel" and array.ndim != 2:
        raise UserError(f"task 'multilabel' needs (N, L) 0/1 {what}, got shape {array.shape}")
    if task != "multilabel" and array.ndim != 1:
        raise UserError(f"task {task!r} needs 1-D {what}, got shape {array.shape}")
    if task == "multiclass":
        return _class_ids(array, what, n_classes, f"the {classes_from} classes " if classes_from else "")
    return _zeros_and_ones(array, what)


def _numeric_rows(labels, what: str) -> np.ndarray:
    """A numeric, finite (N,) or (N, L) array with at least one row."""
    array = np.asarray(labels)
    if array.dtype.kind not in "biuf":
        raise UserError(f"{what} must be numeric labels, got dtype {array.dtype}")
    if array.ndim not in (1, 2):
        raise UserError(f"{what} must be 1-D (class ids) or 2-D (multi-label 0/1), got shape {array.shape}")
    if array.shape[0] == 0:
        raise UserError(f"{what} has no rows to score (empty label array)")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        row = int(np.argwhere(~np.isfinite(array))[0][0])
        raise UserError(f"{what} contains {'NaN' if np.isnan(array[row]).any() else 'infinity'} at row {row}")
    return array


def _zeros_and_ones(array: np.ndarray, what: str) -> np.ndarray:
    bad = ~np.isin(array, (0, 1))
    if bad.any():
        raise UserError(f"{what} must hold only 0/1 values, found {array[bad].flat[0].item()!r}")
    return array.astype(np.int64)


def _class_ids(array: np.ndarray, what: str, n_classes: int | None, class_set: str) -> np.ndarray:
    if array.dtype.kind == "f" and not np.all(array == np.round(array)):
        raise UserError(f"{what} must hold integer class ids, found {array[array != np.round(array)][0].item()!r}")
    ids = array.astype(np.int64)
    bad = (ids < 0) | (ids >= (n_classes if n_classes is not None else np.inf))
    if bad.any():
        allowed = f"outside {class_set}0..{n_classes - 1}" if n_classes is not None else "below 0"
        raise UserError(f"{what} holds class id {ids[bad][0]}, {allowed}")
    return ids


def predict_labels(probs, task: str, thresholds=0.5) -> np.ndarray:
    """Predicted labels (int64) in `task`'s label form, from probabilities:
    - "binary": (N,) or (N, 1) -> (N,) 0/1, `prob > threshold`;
    - "multilabel": (N, L) -> (N, L) 0/1, `probs > thresholds`, a scalar or one threshold per column
      (any per-column thresholding, e.g. run_classifier's clf_results.npy);
    - "multiclass": (N, K) -> (N,) class ids, the most probable class (`thresholds` unused)."""
    probs = np.asarray(probs, dtype=np.float64)
    if task not in TASKS:
        raise UserError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}")
    if task == "multiclass":
        return np.argmax(probs, axis=1).astype(np.int64)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if probs.ndim == 2 and thresholds.ndim == 1 and thresholds.shape[0] != probs.shape[1]:
        raise UserError(f"{thresholds.shape[0]} thresholds given for {probs.shape[1]} classes")
    predicted = (probs > thresholds).astype(np.int64)
    return predicted[:, 0] if task == "binary" and predicted.ndim == 2 else predicted
