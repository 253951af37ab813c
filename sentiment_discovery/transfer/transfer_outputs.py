"""What a transfer run leaves in its results directory besides the feature caches:

- `classifier.pt`: a classifier checkpoint (checkpoint.classifier_payload, `source: "transfer"`) whose
  linear head over all features carries the logistic regression's weights and intercepts, so that
  run_classifier.py reproduces the regression's probabilities: sigmoid(w . x + b) per output column
  (binary: one column; multi-label: one per label; multi-class: one one-vs-rest column per class — the
  regression normalises those to sum 1, the checkpoint keeps the plain sigmoids, same argmax);
  It records the process function the features were computed through (`process_fn`);
- `neuron_<i>_hist.png` per top neuron (its values on the training split by true label) and `weights.png`;
- `results.json` (every number of the run) and, with --write-results, a per-row CSV of the test split:
  the true label(s), the probabilities and predictions with all neurons and with the top neurons, each
  top neuron's value, and the input text verbatim (not the processed text) under the input's own column
  name, so it joins back to the input.
"""
from __future__ import annotations

import json
import logging
import os

import numpy as np
import torch

from ..atomic import atomic_open, atomic_path
from ..models.classifier import build_classifier, classifier_config
from ..checkpoint import classifier_payload

log = logging.getLogger(__name__)

CLASSIFIER_FILE = "classifier.pt"
RESULTS_FILE = "results.json"


def stored_class_names(task: str, class_names, n_columns: int) -> list[str] | None:
    """The class names a classifier checkpoint keeps for a single label column (binary: class 0 then
    class 1; multi-class: one per output), or None when the labels were numbers or several columns."""
    wanted = {"binary": 2, "multiclass": n_columns}.get(task)
    if class_names and len(class_names) == wanted:
        return [str(name) for name in class_names]
    return None


def regression_payload(encoder, tokenizer, weights, intercepts, labels, feature_options: dict,
                       neurons: dict | None, process_fn: str, class_names=None) -> dict:
    """The classifier checkpoint of a fitted regression: encoder + linear head (C outputs) over all F
    features, with weight = the regression's (C, F) weights and bias = its (C,) intercepts; it records
    the process function its features were computed through.
    class_names: `stored_class_names`, kept so that run_classifier can name its predictions."""
    weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))  # (C, F)
    config = classifier_config(encoder.config, n_outputs=weights.shape[0], head="linear", **feature_options)
    model = build_classifier(config, encoder=encoder)
    linear = model.head.linear
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(weights).to(linear.weight))
        linear.bias.copy_(torch.from_numpy(np.asarray(intercepts, dtype=np.float64)).to(linear.bias))
    state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    return classifier_payload(config, state, tokenizer, labels, [0.5] * weights.shape[0], process_fn, "transfer",
                              neurons, class_names)


def histogram_labels(task: str, labels, weights, neuron: int, names, class_names=None):
    """(0/1 labels to split a neuron's values by, their two names), or None when the task has no
    such split (multi-class). Multi-label: the label whose weight on the neuron is largest. Binary:
    the class names when the labels had them, else negative / positive."""
    if task == "binary":
        return labels, tuple(class_names) if class_names else ("negative", "positive")
    if task == "multilabel":
        column = int(np.argmax(np.abs(np.atleast_2d(weights)[:, neuron])))
        return labels[:, column], (f"not {names[column]}", names[column])
    return None


def write_plots(results_dir: str, task: str, train_x, train_y, weights, neurons, names,
                class_names=None) -> list[str]:
    """Histogram of each top neuron on the training split by label, and the weights of all neurons."""
    from ..visualize.plots import neuron_histogram, weights_plot  # matplotlib: loaded only to draw
    paths = []
    for neuron in neurons:
        split = histogram_labels(task, train_y, weights, int(neuron), names, class_names)
        if split is None:
            log.info("no neuron histograms for a multi-class task (they split values by a 0/1 label)")
            break
        path = os.path.join(results_dir, f"neuron_{int(neuron)}_hist.png")
        paths.append(neuron_histogram(train_x[:, int(neuron)], split[0], int(neuron), path, label_names=split[1],
                                      split="training"))
    paths.append(weights_plot(weights, os.path.join(results_dir, "weights.png"), top=max(1, len(neurons))))
    return paths


def as_labels(values, class_names=None):
    """Labels or predictions as written: class names when known, else integers."""
    values = np.asarray(values).astype(np.int64)
    return np.asarray(class_names, dtype=object)[values] if class_names else values


def fit_columns(task: str, label_names, probs, which: str, class_names=None) -> dict:
    """The probability and prediction columns of one fit, e.g. `P(label=1) with all neurons` and
    `predicted label with all neurons` (binary and multi-label: probability > 0.5, as classifier.pt
    thresholds it; multi-class: the most probable class)."""
    probs = np.asarray(probs)
    if task == "multilabel":
        columns = {f"P({name}=1) with {which}": probs[:, j] for j, name in enumerate(label_names)}
        return columns | {f"predicted {name} with {which}": (probs[:, j] > 0.5).astype(np.int64)
                          for j, name in enumerate(label_names)}
    label, classes = label_names[0], class_names or range(2 if probs.ndim == 1 else probs.shape[1])
    if task == "binary":
        return {f"P({label}={classes[1]}) with {which}": probs,
                f"predicted {label} with {which}": as_labels(probs > 0.5, class_names)}
    columns = {f"P({label}={name}) with {which}": probs[:, j] for j, name in enumerate(classes)}
    return columns | {f"predicted {label} with {which}": as_labels(probs.argmax(axis=1), class_names)}


def write_test_results(path: str, texts, text_key: str, labels, task: str, label_names, probs_all, probs_top,
                       k: int, test_x, neurons, class_names=None) -> str:
    """Per test row: `true <label>` (class names when the labels had them), the probabilities and
    predictions of the fit on all neurons and of the fit on the k top neurons (`fit_columns`), each top
    neuron's value (`neuron <i> value`), and the text under the input's own column name."""
    import pandas as pd
    columns = {}
    if labels is not None:
        labels = np.asarray(labels)
        if labels.ndim == 2:
            columns.update({f"true {name}": as_labels(labels[:, j]) for j, name in enumerate(label_names)})
        else:
            columns[f"true {label_names[0]}"] = as_labels(labels, class_names)
    columns.update(fit_columns(task, label_names, probs_all, "all neurons", class_names))
    if probs_top is not None:
        columns.update(fit_columns(task, label_names, probs_top, "top neuron" if k == 1 else f"top {k} neurons",
                                   class_names))
    for neuron in neurons:
        columns[f"neuron {int(neuron)} value"] = test_x[:, int(neuron)]
    columns[text_key] = list(texts)
    with atomic_path(path) as temp:
        pd.DataFrame(columns).to_csv(temp, index=False)
    return path


def write_results_json(results_dir: str, results: dict) -> str:
    path = os.path.join(results_dir, RESULTS_FILE)
    with atomic_open(path, "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=2)
    return path
