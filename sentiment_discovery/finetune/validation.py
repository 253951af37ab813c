"""Validating a finetuned classifier on a split: probabilities (every rank classifies its share of the batches,
then all ranks sum the whole (N, C) array), decision thresholds tuned on them, predictions and the
metrics report.

The model-selection number (`selection_value`) for `--report-metric m`:
- accuracy: the headline accuracy (exact match for multi-label);
- otherwise: the positive class's m for a binary task (scikit-learn's average="binary"), the micro
  (`--micro`) or macro average of m for multi-class and multi-label tasks.

`tune_thresholds(probs, labels, options)` for sigmoid outputs (binary, multi-label):
1. without `automatic`, 0.5 for every output;
2. `automatic`: per output, the grid threshold maximising `metric` (evaluation.threshold_search.best_thresholds);
3. `double` (--double-thresh): a second pass, output by output, re-tunes each threshold on the grid for
   the *averaged* metric (micro with `micro`, else macro) with the other outputs' thresholds held at
   their current values (evaluation.threshold_search.second_pass); the macro average is already optimal
   per output, the micro one is not;
4. `global_tweaks` > 0: random nudges of single thresholds kept when the averaged metric rises;
5. `dual` (--dual-thresh): the first two outputs are a (positive, negative) pair; their thresholds are
   replaced by the pair maximising 3-way positive/neutral/negative accuracy (evaluation.threshold_search).
Softmax outputs have no thresholds (the prediction is the most probable class, evaluation.labels.
predict_labels): 0.5 is stored for each, as run_classifier expects one per label.
"""
import os
import tempfile
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from ..training.distributed import sum_over_ranks
from ..inference import classify_batch, empty_text_outputs, progress_bar, run_length_ordered
from ..evaluation.labels import predict_labels
from ..evaluation.metrics import metrics_report
from ..evaluation.names import METRIC_NAMES, canonical_metric
from ..evaluation.threshold_search import (best_thresholds, dual_thresholds, evaluate_thresholds, global_tweaks,
                                          second_pass)

EPSILON = 1e-7


def predict_split(model, token_lists, batch_size, device, context, env, desc="evaluate"):
    """(N, C) float32 probabilities (mean over heads) of every text; row i is text i. Call on every rank: each
    computes its share of the length-ordered batches, and the sum over ranks is one process's numbers."""
    out = np.zeros((len(token_lists), model.n_outputs), dtype=np.float32)  # (N, C)
    was_training = model.training
    model.eval()
    try:
        with progress_bar(len(token_lists), desc, enabled=env.rank == 0) as bar:
            run_length_ordered(token_lists, lambda tokens, lengths: classify_batch(model, tokens, lengths)[..., 0], out,
                               batch_size, device, context, bar,
                               empty_rows=lambda n: empty_text_outputs(model, n)[..., 0],
                               share=(env.rank, env.world_size))
    finally:
        model.train(was_training)
    return sum_over_ranks(out)


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
    report = metrics_report(truth, predict_labels(probs, spec.kind, thresholds), task=spec.kind,
                            n_classes=spec.n_outputs if spec.kind == "multiclass" else None)
    return {"probs": probs, "thresholds": thresholds, "info": info, "report": report,
            "loss": log_loss(probs, truth, spec.kind)}


DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class ThresholdOptions:
    automatic: bool = False
    metric: str = "f1"
    micro: bool = False
    double: bool = False
    global_tweaks: int = 0
    dual: bool = False
    seed: int = 0


def tune_thresholds(probs, labels, options: ThresholdOptions):
    """(thresholds (L,), info dict) for sigmoid probabilities (N, L) and 0/1 labels (N, L)."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels).reshape(probs.shape).astype(np.int64)
    thresholds = np.full(probs.shape[1], DEFAULT_THRESHOLD)
    info = {}
    if not options.automatic:
        return thresholds, info
    metric = canonical_metric(options.metric)
    thresholds = best_thresholds(probs, labels, metric).thresholds
    if options.double:
        thresholds = second_pass(probs, labels, thresholds, metric, options.micro)
    if options.global_tweaks > 0:
        thresholds, _ = global_tweaks(probs, labels, thresholds, n=options.global_tweaks, metric=metric,
                                      micro=options.micro, seed=options.seed)
    if options.dual:
        pair, accuracy = dual_thresholds(probs[:, :2], labels[:, :2])
        thresholds[:2] = pair
        info["dual_accuracy"] = accuracy
    info["averaged_metric"] = evaluate_thresholds(probs, labels, thresholds, metric, options.micro)
    return thresholds, info


def epoch_row(epoch, iteration, train_parts, lr, val, thresholds):
    """The JSON line of one finished epoch: training losses, learning rate, validation metrics."""
    row = {"epoch": epoch, "step": iteration, "lr": lr}
    row.update({f"train_{key}": value for key, value in train_parts.items()})
    if val is not None:
        row["val_loss"] = val["loss"]
        row.update(flat_metrics(val["report"], "val"))
        row["thresholds"] = [float(t) for t in thresholds]
        row.update({f"val_{key}": value for key, value in val["info"].items()})
    return row


def epoch_message(row, report_metric, micro, all_metrics, kind):
    """One log line for an epoch: the losses and the report metric (or every metric)."""
    parts = [f"epoch {row['epoch']}", f"train loss {row['train_loss']:.4f}"]
    if "val_loss" not in row:
        return ", ".join(parts)
    parts.append(f"val loss {row['val_loss']:.4f}")
    metrics = ("accuracy", "precision", "recall", "f1", "jaccard", "mcc") if all_metrics else (report_metric,)
    average = "micro" if micro else "macro"
    for metric in map(canonical_metric, metrics):
        if metric == "accuracy":
            parts.append(f"val accuracy {row['val_accuracy']:.4f}")
        elif kind == "binary":
            parts.append(f"val {metric} {row[f'val_{metric}']:.4f}")
        else:
            parts.append(f"val {average} {metric} {row[f'val_{metric}_{average}']:.4f}")
    return ", ".join(parts)


def mirror_confusion(metrics, report, label_names, step, split):
    """A multi-class report's confusion matrix as an image in the metrics log's TensorBoard mirror, if any."""
    if metrics.mirror is None or "confusion_matrix" not in report:
        return
    from ..visualize.plots import confusion_matrix_plot
    with tempfile.TemporaryDirectory() as folder:
        path = confusion_matrix_plot(report["confusion_matrix"], label_names, os.path.join(folder, "confusion.png"),
                                     title=f"Confusion matrix ({split}, step {step})")
        metrics.image(f"confusion_matrix/{split}", path, step)
