"""Figures for transfer and training results, written as PNG files (matplotlib, "Agg" backend).

- `neuron_histogram`: one neuron's values split by label (negative vs positive), overlaid histograms, as
  the original's transfer step drew for the sentiment neuron.
- `weights_plot`: the L1 logistic-regression weight of every neuron, the top ones marked.
- `loss_curve` / `metric_curves`: training and validation numbers against the step, from the JSON-lines
  rows the trainers append (`{"step": .., "loss": ..}`, `{"step": .., "val_loss": ..}`, ...).
- `confusion_matrix_plot`: a seaborn heatmap of a confusion matrix with the counts written in.

Each function writes one PNG, closes its figure and returns the path.
"""
from __future__ import annotations

import json
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from ..errors import UserError

DPI = 120
NEGATIVE_COLOR, POSITIVE_COLOR = "#d7301f", "#1a9850"
STEP_KEYS = ("step", "iteration", "iter")
NON_METRIC_KEYS = STEP_KEYS + ("epoch",)


def save_figure(fig, path: str) -> str:
    """Write the figure as PNG (creating the folder) and close it."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


# ---------------------------------------------------------------- neurons and weights

def neuron_histogram(values, labels, neuron: int, path: str, label_names=("negative", "positive"),
                     bins: int = 50) -> str:
    """Overlaid histograms of one neuron's values for label 0 and label 1.

    values: (N,) the neuron's values, or (N, F) features from which column `neuron` is taken."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 2:
        if not 0 <= neuron < values.shape[1]:
            raise UserError(f"neuron {neuron} is outside the {values.shape[1]} features")
        values = values[:, neuron]
    labels = np.asarray(labels).ravel()
    if values.ndim != 1 or values.shape[0] != labels.shape[0]:
        raise UserError(f"{values.shape[0]} neuron values but {labels.shape[0]} labels")
    if not np.isin(labels, (0, 1)).all():
        raise UserError("neuron_histogram needs binary 0/1 labels")
    edges = np.histogram_bin_edges(values, bins=bins)
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, color in ((0, NEGATIVE_COLOR), (1, POSITIVE_COLOR)):
        subset = values[labels == label]
        ax.hist(subset, bins=edges, alpha=0.55, color=color, label=f"{label_names[label]} (n={subset.size})")
    ax.set_xlabel(f"neuron {neuron} value")
    ax.set_ylabel("count")
    ax.set_title(f"Neuron {neuron} by label")
    ax.legend()
    return save_figure(fig, path)


def weights_plot(weights, path: str, top: int = 5, title: str | None = None) -> str:
    """Weight of every neuron (index on x); the `top` largest by magnitude marked and labelled.

    weights: (F,) or (C, F) (one row per label; each row drawn in its own colour)."""
    weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))  # (C, F)
    if weights.ndim != 2 or weights.shape[1] == 0:
        raise UserError(f"weights must be (F,) or (C, F), got shape {np.shape(weights)}")
    top = max(0, min(int(top), weights.shape[1]))
    fig, ax = plt.subplots(figsize=(10, 4))
    index = np.arange(weights.shape[1])
    for row_number, row in enumerate(weights):
        ax.plot(index, row, linewidth=0.7, label=f"label {row_number}" if weights.shape[0] > 1 else None)
        for neuron in np.argsort(-np.abs(row), kind="stable")[:top]:
            ax.scatter([neuron], [row[neuron]], color="black", s=18, zorder=3)
            ax.annotate(str(neuron), (neuron, row[neuron]), textcoords="offset points", xytext=(3, 4),
                        fontsize=8)
    ax.axhline(0.0, color="grey", linewidth=0.5)
    ax.set_xlabel("neuron")
    ax.set_ylabel("weight")
    nonzero = int(np.count_nonzero(weights))
    ax.set_title(title or f"Logistic-regression weights ({nonzero} non-zero of {weights.size})")
    if weights.shape[0] > 1:
        ax.legend(fontsize=8)
    return save_figure(fig, path)


# ---------------------------------------------------------------- curves

def read_rows(rows) -> list[dict]:
    """Rows as a list of dicts: given directly, or read from a JSON-lines file path."""
    if isinstance(rows, (str, os.PathLike)):
        try:
            with open(rows, encoding="utf-8") as handle:
                return [json.loads(line) for line in handle if line.strip()]
        except FileNotFoundError:
            raise UserError(f"metrics file not found: {rows}") from None
        except json.JSONDecodeError as err:
            raise UserError(f"metrics file {rows} has a line that is not JSON: {err.msg}") from None
    rows = list(rows)
    if not all(isinstance(row, dict) for row in rows):
        raise UserError("metric rows must be dicts (one JSON object per line)")
    return rows


def step_of(row: dict, position: int) -> float:
    """The x value of a row: its step (or iteration), else its position."""
    for key in STEP_KEYS:
        if isinstance(row.get(key), (int, float)):
            return float(row[key])
    return float(position)


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def series(rows: list[dict], keys) -> dict[str, tuple[list[float], list[float]]]:
    """key -> (steps, values) over the rows that have a finite number under that key."""
    found = {}
    for position, row in enumerate(rows):
        for key in keys:
            if is_number(row.get(key)):
                steps, values = found.setdefault(key, ([], []))
                steps.append(step_of(row, position))
                values.append(float(row[key]))
    return found


def loss_keys(rows: list[dict]) -> list[str]:
    """Keys that hold a loss: "loss" or anything ending in "_loss", in first-seen order."""
    keys = []
    for row in rows:
        for key, value in row.items():
            if (key == "loss" or key.endswith("_loss")) and is_number(value) and key not in keys:
                keys.append(key)
    return keys


def loss_curve(metrics_rows, path: str, title: str = "Loss") -> str:
    """Train/validation (and any other *_loss) loss against the step; one line per loss key."""
    rows = read_rows(metrics_rows)
    keys = loss_keys(rows)
    if not keys:
        raise UserError("no loss values in the metric rows (expected a 'loss' or '*_loss' key)")
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for key, (steps, values) in series(rows, keys).items():
        name = "train loss" if key == "loss" else key.replace("_", " ")
        marker = "o" if len(values) < 30 else None
        ax.plot(steps, values, marker=marker, markersize=4, linewidth=1.2, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, path)


def metric_keys(rows: list[dict]) -> list[str]:
    """Every numeric key other than the step/epoch counters, in first-seen order."""
    keys = []
    for row in rows:
        for key, value in row.items():
            if key not in NON_METRIC_KEYS and is_number(value) and key not in keys:
                keys.append(key)
    return keys


def metric_curves(rows, path: str, keys=None, columns: int = 2) -> str:
    """One small panel per metric (default: every numeric key) against the step."""
    rows = read_rows(rows)
    keys = list(keys) if keys is not None else metric_keys(rows)
    found = series(rows, keys)
    missing = [key for key in keys if key not in found]
    if missing or not keys:
        available = ", ".join(metric_keys(rows)) or "none"
        raise UserError(f"no values for metric(s) {', '.join(missing) or '(none asked)'} "
                        f"in the rows; numeric keys present: {available}")
    columns = max(1, min(columns, len(keys)))
    n_rows = math.ceil(len(keys) / columns)
    fig, axes = plt.subplots(n_rows, columns, figsize=(5 * columns, 3 * n_rows), squeeze=False)
    for ax, key in zip(axes.ravel(), keys):
        steps, values = found[key]
        ax.plot(steps, values, marker="o" if len(values) < 30 else None, markersize=3, linewidth=1.1)
        ax.set_title(key, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(keys):]:
        ax.axis("off")
    fig.tight_layout()
    return save_figure(fig, path)


# ---------------------------------------------------------------- confusion matrix

def confusion_matrix_plot(cm, label_names, path: str, title: str = "Confusion matrix",
                          normalize: bool = False) -> str:
    """Seaborn heatmap of a (K, K) confusion matrix (rows true, columns predicted) with counts.

    normalize=True colours by row fraction (recall) but still writes the counts."""
    import seaborn as sns

    cm = np.asarray(cm)
    label_names = [str(name) for name in label_names]
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise UserError(f"a confusion matrix must be square, got shape {cm.shape}")
    if len(label_names) != cm.shape[0]:
        raise UserError(f"{len(label_names)} label names for a {cm.shape[0]}-class confusion matrix")
    colours = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    size = 1.2 + 0.9 * cm.shape[0]
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    sns.heatmap(colours, annot=cm, fmt="d", cmap="Blues", xticklabels=label_names,
                yticklabels=label_names, cbar=True, square=True, ax=ax, linewidths=0.5)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return save_figure(fig, path)
