"""The run behind threshold.py, the original's offline threshold tool, on saved predictions and labels.

Predictions: a `.npy` array (N,) or (N, L) (e.g. run_classifier's `clf_results.npy.prob.npy`) or a
CSV/TSV whose `<label> prob` columns (run_classifier's --write-results) or, without such columns, every
column is a prediction column. Labels: a `.npy` array, or a data file (.csv/.tsv/.json) whose
`--label-key` column or `--non-binary-cols` columns hold them. Row i of both is the same text.

Tasks (`--task`):
- auc: ROC AUC per column, and their mean;
- binary: per column, the threshold maximising `--metric` (then `--global-tweaks` for the `--micro` or
  macro average), with the metric at 0.5 for comparison;
- neutral: with two prediction columns (positive, negative) the pair of thresholds maximising 3-way
  accuracy against two 0/1 label columns (equal columns = neutral); with one column, the (low, high)
  split of the score into negative / neutral / positive maximising accuracy against labels 0/1/2;
- scalar: per column, the best single cut of an unbounded score (e.g. a neuron's value), either direction.
`--apply FILE` (a `--task binary --save` file) scores the predictions at its thresholds instead of tuning:
tune on validation predictions, then apply to test ones.
"""
import json
import os

import numpy as np
import pandas as pd

from ..atomic import atomic_open
from ..data.formats.label_columns import parse_label_column
from ..data.files.tables import file_format, read_frame
from ..errors import UserError
from ..output_paths import check_outputs, reported_write
from ..evaluation.names import canonical_metric
from ..evaluation.threshold_search import (
    as_matrix,
    best_thresholds,
    check_probs_labels,
    dual_thresholds,
    evaluate_thresholds,
    global_tweaks,
    neutral_thresholds,
    roc_auc,
    scalar_threshold,
    SortedColumns,
)
from ..evaluation.counts import metric_from_counts

PROB_SUFFIX = " prob"


def read_npy(path, what):
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise UserError(f"{what} {path} is not a readable .npy array ({str(err).splitlines()[0]})") from None
    return as_matrix(array, f"{what} {path}")


def _check_file(path, what):
    if not os.path.isfile(path):
        raise UserError(f"{what} not found: {path}")


def read_predictions(path):
    """(N, L) float64 predictions and their column names."""
    _check_file(path, "--preds-file")
    if path.lower().endswith(".npy"):
        array = read_npy(path, "--preds-file")
        return array, [str(j) for j in range(array.shape[1])]
    frame = read_frame(path, file_format(path))
    columns = [c for c in frame.columns if str(c).endswith(PROB_SUFFIX)] or list(frame.columns)
    values = frame[columns].apply(lambda column: column.astype(str).str.strip())
    numbers = values.apply(lambda column: pd.to_numeric(column, errors="coerce")).to_numpy(np.float64)  # (N, L)
    bad = np.isnan(numbers)
    if bad.any():
        column = int(np.flatnonzero(bad.any(axis=0))[0])
        row = int(np.flatnonzero(bad[:, column])[0])
        raise UserError(f"--preds-file {path}: column {columns[column]!r} has the non-numeric value "
                        f"{values.iloc[row, column]!r} in row {row + 1}")
    names = [str(c).removesuffix(PROB_SUFFIX) for c in columns]
    return as_matrix(numbers, f"--preds-file {path}"), names


def read_labels(path, label_key="label", non_binary_cols=None, loose_json=False):
    """(N, L) float64 labels from a .npy array or a data file's label column(s)."""
    _check_file(path, "--labels-file")
    if path.lower().endswith(".npy"):
        return read_npy(path, "--labels-file")
    frame = read_frame(path, file_format(path, loose_json))
    columns = list(non_binary_cols) if non_binary_cols else [label_key]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UserError(f"--labels-file {path} has no label column {missing[0]!r}; its columns are: "
                        f"{', '.join(map(str, frame.columns))}")
    return np.stack([parse_label_column(frame[c].tolist(), c, path) for c in columns], axis=1)


def check_columns(preds, labels, task):
    if preds.shape[1] != labels.shape[1]:
        raise UserError(f"--task {task} needs one label column per prediction column: --preds-file has "
                        f"{preds.shape[1]}, --labels-file {labels.shape[1]}")


def auc_task(preds, labels, names):
    check_columns(preds, labels, "auc")
    aucs = roc_auc(preds, labels)
    return {"task": "auc", "columns": names, "auc": aucs, "mean_auc": float(np.mean(aucs))}


def binary_results(probs, labels, names, thresholds, metric, micro):
    """The results of `--task binary` (and `--apply`): thresholds, per-class metric, average at them and at 0.5."""
    average = "micro" if micro else "macro"
    per_class = metric_from_counts(metric, **SortedColumns(probs, labels).counts_at(thresholds))  # (L,)
    return {"task": "binary", "metric": canonical_metric(metric), "average": average, "columns": names,
            "thresholds": [float(t) for t in thresholds], "per_class": [float(v) for v in per_class],
            f"{average}_at_thresholds": evaluate_thresholds(probs, labels, thresholds, metric, micro),
            f"{average}_at_0.5": evaluate_thresholds(probs, labels, 0.5, metric, micro)}


def binary_task(preds, labels, names, metric, micro, tweaks, seed):
    check_columns(preds, labels, "binary")
    probs, labels = check_probs_labels(preds, labels)
    thresholds = best_thresholds(probs, labels, metric).thresholds
    if tweaks > 0:
        thresholds, _ = global_tweaks(probs, labels, thresholds, n=tweaks, metric=metric, micro=micro, seed=seed)
    return binary_results(probs, labels, names, thresholds, metric, micro)


def neutral_task(preds, labels, names):
    if preds.shape[1] == 2:
        (positive, negative), accuracy = dual_thresholds(preds, labels)
        return {"task": "neutral", "columns": names, "thresholds": [positive, negative], "accuracy": accuracy}
    if preds.shape[1] == 1:
        (low, high), accuracy = neutral_thresholds(preds[:, 0], labels[:, 0])
        return {"task": "neutral", "columns": names, "low": low, "high": high, "accuracy": accuracy}
    raise UserError(f"--task neutral needs one score column or a (positive, negative) pair, got {preds.shape[1]} "
                    "columns")


def scalar_task(preds, labels, names, metric):
    check_columns(preds, labels, "scalar")
    cuts = [scalar_threshold(preds[:, j], labels[:, j], metric) for j in range(preds.shape[1])]
    return {"task": "scalar", "metric": canonical_metric(metric), "columns": names,
            "thresholds": [c[0] for c in cuts], "values": [c[1] for c in cuts], "signs": [c[2] for c in cuts]}


def applied_task(preds, labels, names, path):
    """`binary_task`'s numbers at the thresholds a `--task binary --save` run wrote to `path` (tuned on
    other predictions, e.g. validation), with its metric and average."""
    try:
        with open(path, encoding="utf-8") as handle:
            saved = json.load(handle)
        thresholds = np.asarray(saved["thresholds"], dtype=np.float64).ravel()
        metric, micro = saved["metric"], saved["average"] == "micro"
    except (ValueError, KeyError, TypeError):
        raise UserError(f"--apply {path} holds no thresholds: give a file written by threshold.py --task binary "
                        "--save") from None
    if thresholds.size != preds.shape[1]:
        raise UserError(f"--apply {path} has {thresholds.size} threshold(s) but --preds-file has {preds.shape[1]} "
                        "column(s)")
    check_columns(preds, labels, "binary")
    probs, labels = check_probs_labels(preds, labels)
    return dict(binary_results(probs, labels, names, thresholds, metric, micro), thresholds_from=path)


def run_threshold(task, preds_file, labels_file, metric="f1", micro=False, label_key="label",
                  non_binary_cols=None, loose_json=False, global_tweaks_n=0, seed=1234, apply=None):
    """The results dict of one `--task` on the files, or with `apply` (a `--task binary --save` file) the
    numbers of its thresholds on these files."""
    if apply:
        _check_file(apply, "--apply")
    preds, names = read_predictions(preds_file)
    labels = read_labels(labels_file, label_key, non_binary_cols, loose_json)
    if preds.shape[0] != labels.shape[0]:
        raise UserError(f"--preds-file has {preds.shape[0]} rows but --labels-file has {labels.shape[0]}")
    if apply:
        return applied_task(preds, labels, names, apply)
    if task == "auc":
        return auc_task(preds, labels, names)
    if task == "binary":
        return binary_task(preds, labels, names, metric, micro, global_tweaks_n, seed)
    if task == "neutral":
        return neutral_task(preds, labels, names)
    if task == "scalar":
        return scalar_task(preds, labels, names, metric)
    raise UserError(f"unknown --task {task!r}; choose auc, binary, neutral or scalar")


def format_results(results):
    """Human-readable lines of a results dict."""
    lines = [f"task {results['task']}"]
    per_column = [key for key in ("auc", "thresholds", "per_class", "values", "signs")
                  if isinstance(results.get(key), list) and len(results[key]) == len(results["columns"])]
    if per_column:
        lines.append("column".ljust(14) + "".join(key.rjust(12) for key in per_column))
        for j, name in enumerate(results["columns"]):
            lines.append(str(name)[:14].ljust(14) + "".join(f"{results[key][j]:12.4f}" for key in per_column))
    for key, value in results.items():
        if key in per_column or key in ("task", "columns"):
            continue
        lines.append(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")
    return "\n".join(lines)


def run(config):
    """threshold.py's `config.ThresholdConfig` -> results printed (and saved as JSON with --save)."""
    check_outputs([("--save", config.save)], [("--preds-file", config.preds_file),
                                              ("--labels-file", config.labels_file), ("--apply", config.apply)])
    results = run_threshold(config.task, config.preds_file, config.labels_file, config.metric, config.micro,
                            config.label_key, config.non_binary_cols, config.loose_json, config.global_tweaks,
                            config.seed, config.apply)
    print(format_results(results))
    if config.save:
        with reported_write(config.save, "--save"), atomic_open(config.save, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
        print(f"wrote {config.save}")
    return results
