"""Evaluating a finetuned classifier on a split: probabilities (every rank classifies its share of the rows,
then all ranks gather the whole (N, C) array), thresholds, predictions and the metrics report.

The model-selection number (`selection_value`) for `--report-metric m`:
- accuracy: the headline accuracy (exact match for multi-label);
- otherwise: the positive class's m for a binary task (scikit-learn's average="binary"), the micro
  (`--micro`) or macro average of m for multi-class and multi-label tasks.
"""
import warnings

import numpy as np
import torch

from ..training.collective import all_gather_objects
from ..inference import empty_text_outputs, progress_bar, run_length_ordered
from ..evaluation.labels import predict_labels
from ..evaluation.metrics import METRIC_NAMES, canonical_metric, evaluate

EPSILON = 1e-7


def mean_probabilities(model, tokens, lengths):
    """tokens (B, T), lengths (B,) -> probabilities (B, C) averaged over heads."""
    logits = model(tokens, lengths)
    if isinstance(logits, tuple):
        logits = logits[0]
    return model.probabilities(logits.float())[0]


def predict_split(model, token_lists, batch_size, device, context, env, desc="evaluate"):
    """(N, C) float32 probabilities of every text; row i is text i. Call on every rank."""
    n_rows, n_outputs = len(token_lists), model.n_outputs
    mine = np.array_split(np.arange(n_rows), env.world_size)[env.rank]
    out = np.zeros((mine.size, n_outputs), dtype=np.float32)  # (n_mine, C)
    was_training = model.training
    model.eval()
    try:
        with progress_bar(n_rows, desc, enabled=env.rank == 0) as bar:
            run_length_ordered([token_lists[i] for i in mine], lambda t, l: mean_probabilities(model, t, l), out,
                               batch_size, device, context, bar,
                               empty_rows=lambda n: empty_text_outputs(model, n)[..., 0])
    finally:
        model.train(was_training)
    return np.concatenate(all_gather_objects(out), axis=0)


def log_loss(probs, truth, kind):
    """Mean negative log-likelihood (sklearn.metrics.log_loss) of the head-averaged probabilities, clipped to
    [EPSILON, 1 - EPSILON]: per output for sigmoid outputs, of the true class for softmax."""
    from sklearn.metrics import log_loss as mean_log_loss
    probs = np.clip(np.asarray(probs, dtype=np.float64), EPSILON, 1.0 - EPSILON)
    with warnings.catch_warnings():  # clipped softmax rows sum to 1 only within K * EPSILON, as intended
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", FutureWarning)  # sklearn 1.9-1.10 rename the probabilities argument
        if kind == "multiclass":
            return float(mean_log_loss(truth, probs, labels=np.arange(probs.shape[1])))
        return float(mean_log_loss(np.asarray(truth).reshape(probs.shape).ravel(), probs.ravel(), labels=[0, 1]))


def score_split(probs, truth, spec, thresholds):
    """The metrics report (evaluation.metrics.evaluate) of thresholded / argmax predictions."""
    predicted = predict_labels(probs, spec.kind, thresholds)
    return evaluate(truth, predicted, task=spec.kind, n_classes=spec.n_outputs if spec.kind == "multiclass" else None)


def selection_value(report, metric, micro):
    """The number that picks the best epoch (see the module docstring)."""
    metric = canonical_metric(metric)
    if metric == "accuracy":
        return report["accuracy"]
    if report["task"] == "binary":
        return report["positive"][metric]
    return report["micro" if micro else "macro"][metric]


def flat_metrics(report, prefix):
    """The report as flat JSON-line fields: <prefix>_accuracy, <prefix>_<metric>_micro/_macro, per-class
    lists under <prefix>_per_class, and the binary positive class's scores as <prefix>_<metric>."""
    row = {f"{prefix}_accuracy": report["accuracy"]}
    for name in METRIC_NAMES:
        row[f"{prefix}_{name}_micro"] = report["micro"][name]
        row[f"{prefix}_{name}_macro"] = report["macro"][name]
        if "positive" in report:
            row[f"{prefix}_{name}"] = report["positive"][name]
    if "mcc" in report:
        row[f"{prefix}_mcc"] = report["mcc"]
    row[f"{prefix}_per_class"] = report["per_class"]
    return row


@torch.no_grad()
def split_outputs(model, token_lists, truth, spec, thresholds_fn, batch_size, device, context, env, desc):
    """Probabilities, thresholds (from `thresholds_fn(probs)`, or given), report and log loss of a split."""
    probs = predict_split(model, token_lists, batch_size, device, context, env, desc)
    thresholds, info = thresholds_fn(probs)
    report = score_split(probs, truth, spec, thresholds)
    return {"probs": probs, "thresholds": thresholds, "info": info, "report": report,
            "loss": log_loss(probs, truth, spec.kind)}
