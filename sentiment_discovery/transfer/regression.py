"""L1-penalised logistic regression on frozen language-model features, and sentiment-neuron selection.

Follows the transfer step of Radford et al., "Learning to Generate Reviews and Discovering Sentiment"
(arXiv 1704.01444), as the original sentiment-discovery repository ran it: for each C in a grid
(default 2**-8 .. 2**0) an L1 logistic regression is fitted on the training features and scored on the
validation features; the model of the best C is fitted **on the training set only** (the original
refitted it on train and did not fold validation data into the final fit; neither does this: the
sweep's own fit at that C is kept, being the same deterministic fit) and reported with its number of
non-zero weights. The largest weights (by magnitude) name the "sentiment neuron(s)"; `fit_on_neurons`
refits on only those features and `drop_neurons` on all the others.

Targets: binary 0/1 labels (N,), multi-class ids (N,) (one-vs-rest, one binary model per class,
prediction by the largest probability) or multi-label 0/1 matrices (N, L) (one model per label, one C
shared by all labels and chosen on the mean per-label validation score, as the original did).

The solver is liblinear's L1 (faster than saga on these features and converged where saga stopped
early: analysis/measurements.md). Features are converted to C-contiguous float64 once, as liblinear
works in float64. Standardisation (sklearn's StandardScaler, fitted on train) is optional and off by default; the
original did not standardise.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from ..errors import UserError
from ..evaluation.labels import check_labels, infer_task, predict_labels
from ..evaluation.metrics import metrics_report, one_hot
from ..evaluation.names import canonical_metric

DEFAULT_CS = 2.0 ** np.arange(-8, 1)
MAX_ITER = 100


# ---------------------------------------------------------------- result

@dataclass
class SweepResult:
    """The outcome of a C sweep: the model(s) at the best C and the numbers to report."""
    task: str                      # "binary" | "multiclass" | "multilabel"
    metric: str                    # metric used to choose C (full name, e.g. "accuracy")
    cs: list[float]
    val_scores: list[float]        # per C: validation metric (mean over labels for multilabel)
    best_c: float
    models: list[LogisticRegression]   # one binary model per target column
    weights: np.ndarray            # (F,) binary, (L, F) multilabel / (K, F) multiclass (one-vs-rest)
    intercepts: np.ndarray         # (1,) or (L,) / (K,)
    n_nonzero: int                 # non-zero weights (summed over columns)
    train_score: float
    val_score: float
    val_per_label: list[float]     # validation metric per target column at the best C
    n_input_features: int          # width of the features the caller passes in
    feature_index: np.ndarray | None = None   # columns used (fit_on_neurons / drop_neurons)
    scaler: StandardScaler | None = None      # fitted on the train features when standardised
    n_not_converged: int = 0       # fits that hit max_iter during the sweep
    fit_seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Plain data for a JSON results file (no models, no large arrays except the neuron list)."""
        summary = {
            "task": self.task, "metric": self.metric, "cs": [float(c) for c in self.cs],
            "val_scores": [float(s) for s in self.val_scores], "best_c": float(self.best_c),
            "n_nonzero": int(self.n_nonzero), "train_score": float(self.train_score),
            "val_score": float(self.val_score), "val_per_label": [float(s) for s in self.val_per_label],
            "n_features": int(self.weights.shape[-1]), "n_input_features": int(self.n_input_features),
            "standardized": self.scaler is not None, "n_not_converged": int(self.n_not_converged),
            "fit_seconds": round(float(self.fit_seconds), 3),
        }
        if self.feature_index is not None:
            summary["feature_index"] = [int(i) for i in self.feature_index]
        summary.update(self.extra)
        return summary


# ---------------------------------------------------------------- input checks

def as_features(x, what: str) -> np.ndarray:
    """Features as a finite, C-contiguous (N, F) float64 array (converted once, reused by every fit)."""
    array = np.asarray(x)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise UserError(f"{what} must be a non-empty (N, F) array, got shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise UserError(f"{what} must be numeric, got dtype {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.float64)
    if not np.isfinite(array).all():
        row = int(np.argwhere(~np.isfinite(array))[0][0])
        raise UserError(f"{what} contains NaN or infinity at row {row}")
    return array


def target_columns(y: np.ndarray, task: str, n_classes: int | None) -> np.ndarray:
    """Checked labels as (N, C) 0/1 columns: one for binary, K one-hot for multiclass, L for multilabel."""
    return one_hot(y, n_classes) if task == "multiclass" else y.reshape(y.shape[0], -1)


def check_train_columns(columns: np.ndarray, task: str) -> None:
    """Every binary problem needs both classes in the training data."""
    for j in range(columns.shape[1]):
        values = np.unique(columns[:, j])
        if values.size == 2:
            continue
        if task == "multiclass":
            state = "no training examples" if values[0] == 0 else "every training example"
            raise UserError(f"class id {j} has {state}; one-vs-rest needs each class id 0..K-1 present "
                            "and at least two classes")
        name = "the labels" if task == "binary" else f"label column {j}"
        raise UserError(f"training data for {name} has only value {int(values[0])}; "
                        "logistic regression needs both 0 and 1")


# ---------------------------------------------------------------- fitting

def fit_binary(x: np.ndarray, y: np.ndarray, c: float, seed: int):
    """One L1 logistic regression; returns (model, converged)."""
    model = LogisticRegression(C=float(c), l1_ratio=1.0, solver="liblinear", max_iter=MAX_ITER, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, y)
    converged = bool(np.all(np.asarray(model.n_iter_) < MAX_ITER))
    return model, converged


def fit_grid(x, columns, cs, seed) -> list[tuple[list, int]]:
    """One model per (C, target column); returns per C (models, number not converged)."""
    per_c = []
    for c in cs:
        fitted = [fit_binary(x, columns[:, j], c, seed) for j in range(columns.shape[1])]
        per_c.append(([model for model, _ in fitted], sum(not ok for _, ok in fitted)))
    return per_c


def column_probabilities(models, x: np.ndarray) -> np.ndarray:
    """P(column = 1) for each model: (N, C)."""
    return np.stack([model.predict_proba(x)[:, 1] for model in models], axis=1)


def headline_score(report: dict, metric: str) -> tuple[float, list[float]]:
    """(headline score, per-column scores) of an `evaluate` report: multilabel is the mean over labels;
    binary the positive class's metric; multiclass is accuracy, R_K for mcc, else the macro average."""
    if report["task"] == "multilabel":
        per_label = report["per_class"][metric]
        return float(np.mean(per_label)), per_label
    if report["task"] == "binary":
        headline = report["accuracy"] if metric == "accuracy" else report["positive"][metric]
        return float(headline), [float(headline)]
    headline = report["accuracy"] if metric == "accuracy" else (
        report["mcc"] if metric == "mcc" else report["macro"][metric])
    return float(headline), report["per_class"][metric]


def fit_score(models, x, y, task: str, metric: str, n_classes: int | None) -> tuple[float, list[float]]:
    """headline_score of the models' predictions of x against checked labels y."""
    predicted = predict_labels(column_probabilities(models, x), task)
    return headline_score(metrics_report(y, predicted, task=task, n_classes=n_classes), metric)


def sweep_logistic_regression(train_x, train_y, val_x, val_y, cs=DEFAULT_CS, metric: str = "accuracy",
                              seed: int = 42, standardize: bool = False, feature_index=None) -> SweepResult:
    """Fit L1 logistic regression for every C on train, score on val, keep the best C's train fit.

    metric: "accuracy" ("acc") or "mcc" (any name of `evaluation.names.METRIC_NAMES` works).
    feature_index: optional columns of the features to use (the caller passes full-width features).
    Ties between Cs go to the smaller C (sparser model), as the first best in the grid order, except that a
    fit with some non-zero weight beats a tied all-zero one (a constant predictor says nothing about the
    features: with one weak neuron, every C can tie at the majority-class score)."""
    started = time.perf_counter()
    metric = canonical_metric(metric)
    cs = np.sort(np.asarray(cs, dtype=np.float64).ravel())
    if cs.size == 0 or (cs <= 0).any():
        raise UserError("C values must be a non-empty list of positive numbers")
    train_x, val_x = as_features(train_x, "train features"), as_features(val_x, "validation features")
    n_input_features = train_x.shape[1]
    if val_x.shape[1] != n_input_features:
        raise UserError(f"validation features have {val_x.shape[1]} columns but train features have "
                        f"{n_input_features}")
    if feature_index is not None:
        feature_index = checked_feature_index(feature_index, n_input_features)
        train_x, val_x = train_x[:, feature_index], val_x[:, feature_index]
    train_y = check_labels(train_y, "train labels", same_rows_as=("train features", train_x))
    task = infer_task(train_y)
    n_classes = int(train_y.max()) + 1 if task == "multiclass" else None
    val_y = check_labels(val_y, "validation labels", task, n_classes, same_rows_as=("validation features", val_x),
                         classes_from="training")
    if train_y.shape[1:] != val_y.shape[1:]:
        raise UserError(f"train labels have shape {train_y.shape} but validation labels {val_y.shape}")
    train_columns = target_columns(train_y, task, n_classes)
    check_train_columns(train_columns, task)

    scaler = StandardScaler().fit(train_x) if standardize else None
    if scaler is not None:
        train_x, val_x = scaler.transform(train_x), scaler.transform(val_x)

    val_scores, not_converged, best_models, best_key, best_c = [], 0, None, None, None
    for c, (models, failures) in zip(cs, fit_grid(train_x, train_columns, cs, seed)):
        not_converged += failures
        val_scores.append(fit_score(models, val_x, val_y, task, metric, n_classes)[0])
        key = (val_scores[-1], any(np.any(model.coef_ != 0) for model in models))
        if best_key is None or key > best_key:
            best_models, best_key, best_c = models, key, float(c)
    # The "refit on train at the best C" of the original is the sweep's own fit at that C (same data,
    # same seed, deterministic solver), so it is kept rather than fitted a second time.
    models = best_models
    weights = np.stack([model.coef_[0] for model in models])  # (C, F)
    intercepts = np.array([model.intercept_[0] for model in models])  # (C,)
    train_score = fit_score(models, train_x, train_y, task, metric, n_classes)[0]
    val_score, val_per_label = fit_score(models, val_x, val_y, task, metric, n_classes)
    return SweepResult(
        task=task, metric=metric, cs=[float(c) for c in cs], val_scores=[float(s) for s in val_scores],
        best_c=best_c, models=models, weights=weights[0] if task == "binary" else weights,
        intercepts=intercepts, n_nonzero=int(np.count_nonzero(weights)), train_score=train_score,
        val_score=val_score, val_per_label=[float(s) for s in val_per_label],
        n_input_features=n_input_features, feature_index=feature_index, scaler=scaler,
        n_not_converged=not_converged,
        fit_seconds=time.perf_counter() - started)


# ---------------------------------------------------------------- using a result

def prepared_features(result: SweepResult, x) -> np.ndarray:
    """Select the result's feature columns and apply its standardisation."""
    x = as_features(x, "features")
    if result.feature_index is not None and x.shape[1] == result.n_input_features:
        x = x[:, result.feature_index]
    expected = result.weights.shape[-1]
    if x.shape[1] != expected:
        raise UserError(f"features have {x.shape[1]} columns but the model was fitted on "
                        f"{result.n_input_features} (using {expected})")
    if result.scaler is not None:
        x = result.scaler.transform(x)
    return x


def probabilities(result: SweepResult, x) -> np.ndarray:
    """Class-1 probabilities: (N,) binary, (N, L) multilabel, (N, K) multiclass (rows sum to 1)."""
    probs = column_probabilities(result.models, prepared_features(result, x))  # (N, C)
    if result.task == "binary":
        return probs[:, 0]
    if result.task == "multiclass":
        return probs / probs.sum(axis=1, keepdims=True)
    return probs


def score(result: SweepResult, x, y) -> dict:
    """Headline score in the result's metric, accuracy and per-column scores on (x, y) (e.g. test)."""
    predicted = predict_labels(probabilities(result, x), result.task)
    n_classes = result.weights.shape[0] if result.task == "multiclass" else None
    y = check_labels(y, "labels", result.task, n_classes, same_rows_as=("the features", predicted),
                     classes_from="training")
    report = metrics_report(y, predicted, task=result.task, n_classes=n_classes)
    headline, per_label = headline_score(report, result.metric)
    return {"metric": result.metric, "score": headline, "accuracy": report["accuracy"],
            "per_label": [float(s) for s in per_label]}


# ---------------------------------------------------------------- neurons

def top_neurons(weights, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (k,) of the features with the largest |weight|, descending, and their signs (k,).

    For a (C, F) weight matrix (multilabel / one-vs-rest) a feature ranks by its largest |weight|
    over the columns and takes the sign of that weight."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim == 2 and weights.shape[0] == 1:
        weights = weights[0]
    if weights.ndim == 2:
        strongest = np.argmax(np.abs(weights), axis=0)  # (F,)
        weights = weights[strongest, np.arange(weights.shape[1])]
    if weights.ndim != 1:
        raise UserError(f"weights must be (F,) or (C, F), got shape {weights.shape}")
    if not 1 <= k <= weights.shape[0]:
        raise UserError(f"asked for {k} neurons but there are {weights.shape[0]} features")
    order = np.argsort(-np.abs(weights), kind="stable")[:k]
    return order, np.sign(weights[order]).astype(np.int64)


def checked_feature_index(neurons, n_features: int) -> np.ndarray:
    """Distinct neuron indices inside the feature width."""
    index = np.asarray(neurons, dtype=np.int64).ravel()
    if index.size == 0:
        raise UserError("no neurons given")
    if index.min() < 0 or index.max() >= n_features:
        raise UserError(f"neuron index {int(index[(index < 0) | (index >= n_features)][0])} is outside "
                        f"the {n_features} features")
    if np.unique(index).size != index.size:
        raise UserError("neuron indices repeat")
    return index


def fit_on_neurons(train_x, train_y, val_x, val_y, neurons, **sweep_options) -> SweepResult:
    """The same C sweep using only the given neuron columns (e.g. `top_neurons(weights, k)[0]`)."""
    result = sweep_logistic_regression(train_x, train_y, val_x, val_y, feature_index=neurons, **sweep_options)
    result.extra["neurons"] = "only"
    return result


def drop_neurons(train_x, train_y, val_x, val_y, neurons, **sweep_options) -> SweepResult:
    """The same C sweep using every feature except the given neurons."""
    n_features = as_features(train_x, "train features").shape[1]
    dropped = checked_feature_index(neurons, n_features)
    keep = np.setdiff1d(np.arange(n_features), dropped)
    if keep.size == 0:
        raise UserError("dropping these neurons leaves no features")
    result = sweep_logistic_regression(train_x, train_y, val_x, val_y, feature_index=keep, **sweep_options)
    result.extra["neurons"] = "dropped"
    result.extra["dropped_neurons"] = [int(i) for i in dropped]
    return result
