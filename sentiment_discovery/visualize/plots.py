"""Figures for transfer and training results, written as PNG files (matplotlib, "Agg" backend): one
neuron's values by true label and the regression's weights (transfer), loss and metric curves from the
metrics log's rows (pretraining, finetuning), and a confusion matrix (seaborn). Each function writes one
PNG, closes its figure and returns the path.
"""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colors as mcolors
from matplotlib.patches import Patch

from ..atomic import atomic_path
from ..errors import UserError

DPI = 120
NEGATIVE_COLOR, POSITIVE_COLOR = "#d7301f", "#1a9850"
HIST_ALPHA = 0.55
LN2 = math.log(2.0)
MANY_POINTS = 30  # a series with this many points is drawn as a plain line
# per split (the key's first word): markers that stay apart when a validation and a test point coincide
SERIES_STYLE = {"val": {"marker": "o", "markersize": 9, "markerfacecolor": "none", "markeredgewidth": 1.5},
                "test": {"marker": "D", "markersize": 5},
                "train": {"marker": "s", "markersize": 4}, "loss": {"marker": ".", "markersize": 5}}
NON_METRIC_KEYS = ("step", "epoch")


def save_figure(fig, path: str) -> str:
    """Write the figure as PNG (atomically, creating the folder) and close it."""
    with atomic_path(path) as temp:
        fig.savefig(temp, dpi=DPI, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


# ---------------------------------------------------------------- neurons and weights

def overlap_color(first: str, second: str, alpha: float):
    """The colour where two translucent bars overlap on white: `second` drawn over `first`."""
    under = alpha * np.asarray(mcolors.to_rgb(first)) + (1 - alpha)  # first over white
    return tuple(alpha * np.asarray(mcolors.to_rgb(second)) + (1 - alpha) * under)


def neuron_histogram(values, labels, neuron: int, path: str, label_names=("negative", "positive"),
                     bins: int = 50, split: str = "training", percent: float = 0.5) -> str:
    """Overlaid histograms of one neuron's values on `split` for true label 0 and label 1, drawn between
    the `percent` and 100 - `percent` percentiles (the values outside are counted in the title); the
    overlap of the two has its own legend entry. values: (N,) the neuron's values."""
    values, labels = np.asarray(values, dtype=np.float64), np.asarray(labels).ravel()
    if values.ndim != 1 or values.shape[0] != labels.shape[0]:
        raise UserError(f"{values.shape[0]} neuron values but {labels.shape[0]} labels")
    if not np.isin(labels, (0, 1)).all():
        raise UserError("neuron_histogram needs binary 0/1 labels")
    low, high = np.percentile(values, [percent, 100.0 - percent])  # outliers would squeeze the bars
    if high <= low:
        low, high = values.min(), values.max()
    edges = np.linspace(low, high, bins + 1)
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, color in ((0, NEGATIVE_COLOR), (1, POSITIVE_COLOR)):
        subset = values[labels == label]
        ax.hist(subset, bins=edges, alpha=HIST_ALPHA, color=color, label=f"{label_names[label]} (n={subset.size})")
    overlap = overlap_color(NEGATIVE_COLOR, POSITIVE_COLOR, HIST_ALPHA)
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=handles + [Patch(color=overlap, label="both (bars overlap)")], title="true label")
    ax.set_xlim(low, high)
    ax.set_xlabel(f"neuron {neuron} value")
    ax.set_ylabel("texts")
    below, above = int((values < low).sum()), int((values > high).sum())
    ax.set_title(f"Neuron {neuron} on the {split} split ({values.size} texts), by true label\n"
                 f"x axis clipped to the {percent:g}-{100 - percent:g} percentiles: {below} values below {low:.3g} "
                 f"and {above} above {high:.3g} not shown", fontsize=10)
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

def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def series(rows: list[dict], keys) -> dict[str, tuple[list[float], list[float]]]:
    """key -> (steps, values) over the rows that have a finite number under that key."""
    found = {}
    for position, row in enumerate(rows):
        for key in keys:
            if is_number(row.get(key)):
                steps, values = found.setdefault(key, ([], []))
                steps.append(float(row["step"] if is_number(row.get("step")) else position))
                values.append(float(row[key]))
    return found


def is_loss(key: str) -> bool:
    return key == "loss" or key.endswith("_loss")


def loss_keys(rows: list[dict]) -> list[str]:
    """Keys that hold a loss ("loss" or "*_loss"), in first-seen order."""
    return [key for key in metric_keys(rows) if is_loss(key)]


def series_name(key: str) -> str:
    """How a metric key reads in a legend or panel title: "val_loss" -> "validation loss"."""
    words = key.replace("_", " ").split(" ")
    words[0] = {"loss": "training loss", "train": "training", "val": "validation"}.get(words[0], words[0])
    return " ".join(words)


def draw_series(ax, steps, values, key: str, label: str | None = None):
    """One series on `ax`: a line for many points, markers (distinct per split) for a few; a point that
    stands alone has its value and step in its legend entry."""
    style = dict(SERIES_STYLE.get(key.split("_")[0], {}))
    label = label or series_name(key)
    if len(values) >= MANY_POINTS:
        style["marker"] = None
    elif len(values) == 1:
        style["linestyle"] = "none"
        label += f": {values[0]:.4g} at step {steps[0]:g}"
    ax.plot(steps, values, linewidth=1.2, label=label, **style)


def loss_curve(rows: list[dict], path: str, title: str = "Loss", unit: str = "bits/char") -> str:
    """Train/validation (and any other *_loss) loss against the step on one panel (`draw_panel`). The
    loss is in nats per token; the right axis reads it in bits (loss / ln 2) per `unit`."""
    keys = loss_keys(rows)
    if not keys:
        raise UserError("no loss values in the metric rows (expected a 'loss' or '*_loss' key)")
    fig, ax = plt.subplots(figsize=(8, 4.5))
    draw_panel(ax, keys, rows)
    ax.set_ylabel("loss (nats/token)")
    bits = ax.secondary_yaxis("right", functions=(lambda nats: nats / LN2, lambda bits: bits * LN2))
    bits.set_ylabel(f"loss ({unit})")
    ax.set_title(title)
    return save_figure(fig, path)


def metric_keys(rows: list[dict]) -> list[str]:
    """Every numeric key other than the step/epoch counters, in first-seen order."""
    keys = []
    for row in rows:
        for key, value in row.items():
            if key not in NON_METRIC_KEYS and is_number(value) and key not in keys:
                keys.append(key)
    return keys


def panels_of(keys) -> list[list[str]]:
    """The panels of `metric_curves`: the losses together first, then one panel per other key."""
    losses = [key for key in keys if is_loss(key)]
    return ([losses] if losses else []) + [[key] for key in keys if key not in losses]


def draw_panel(ax, keys, rows):
    """The series of `keys` on one panel: rows without an "epoch" (logged every few steps) as lines, rows
    with one (an epoch's summary and its evaluation) as markers; training numbers of an epoch row are the
    epoch's mean, and say so."""
    step_rows, epoch_rows = [row for row in rows if "epoch" not in row], [row for row in rows if "epoch" in row]
    for key in keys:
        by_step, by_epoch = series(step_rows, [key]).get(key), series(epoch_rows, [key]).get(key)
        if by_step:
            draw_series(ax, *by_step, key, series_name(key) + (" (logged steps)" if by_epoch else ""))
        if by_epoch:
            mean = key == "loss" or key.startswith("train")  # training numbers of an epoch row: its mean
            draw_series(ax, *by_epoch, key, series_name(key) + (" (epoch mean)" if mean else ""))
    ax.set_title("loss" if len(keys) > 1 else series_name(keys[0]), fontsize=10)
    ax.set_xlabel("optimizer step", fontsize=8)
    ax.tick_params(labelbottom=True)  # every panel its own step numbers, though they share the x axis
    ax.grid(alpha=0.3)
    if len(ax.lines) > 1 or any(len(line.get_xdata()) == 1 for line in ax.lines):  # a lone point: its value
        ax.legend(fontsize=7)


def metric_curves(rows: list[dict], path: str, keys=None, columns: int = 2) -> str:
    """One panel per metric (default: every numeric key) against the step, the losses sharing the first
    (`draw_panel`); every panel spans step 0 to the last step, so a single evaluation shows where it lies."""
    keys = list(keys) if keys is not None else metric_keys(rows)
    found = series(rows, keys)
    missing = [key for key in keys if key not in found]
    if missing or not keys:
        available = ", ".join(metric_keys(rows)) or "none"
        raise UserError(f"no values for metric(s) {', '.join(missing) or '(none asked)'} "
                        f"in the rows; numeric keys present: {available}")
    panels = panels_of(keys)
    columns = max(1, min(columns, len(panels)))
    n_rows = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(n_rows, columns, figsize=(5 * columns, 3 * n_rows), squeeze=False, sharex=True)
    for ax, panel in zip(axes.ravel(), panels):
        draw_panel(ax, panel, rows)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    last = max(max(steps) for steps, _ in found.values())
    margin = 0.04 * last if last > 0 else 1.0
    axes[0, 0].set_xlim(min(0.0, min(min(steps) for steps, _ in found.values())) - margin, last + margin)
    fig.tight_layout()
    return save_figure(fig, path)


# ---------------------------------------------------------------- confusion matrix

def confusion_matrix_plot(cm, label_names, path: str, title: str = "Confusion matrix") -> str:
    """Seaborn heatmap of a (K, K) confusion matrix (rows true, columns predicted) with counts."""
    import seaborn as sns

    cm = np.asarray(cm)
    label_names = [str(name) for name in label_names]
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise UserError(f"a confusion matrix must be square, got shape {cm.shape}")
    if len(label_names) != cm.shape[0]:
        raise UserError(f"{len(label_names)} label names for a {cm.shape[0]}-class confusion matrix")
    size = 1.2 + 0.9 * cm.shape[0]
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    sns.heatmap(cm, annot=cm, fmt="d", cmap="Blues", xticklabels=label_names,
                yticklabels=label_names, cbar=True, square=True, ax=ax, linewidths=0.5)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return save_figure(fig, path)
