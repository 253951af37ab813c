"""The numbers a finetuning run leaves behind: one JSON line per epoch, the final report (a per-class table
with micro and macro averages, as text and JSON) for the validation split at the best epoch and for the
test split, plots (training loss per logged step and per epoch, validation metrics per epoch; for
multi-class the confusion matrix) and a short summary that names the number the best epoch was picked
on (`selection_words`: for a binary task the F1 of class 1, say, not an accuracy).
"""
import json
import logging
import os

import numpy as np

from ..atomic import atomic_open
from ..evaluation.metrics import format_report, support_per_class
from ..evaluation.names import canonical_metric
from ..training.metrics_log import read_metrics

log = logging.getLogger(__name__)


def labelled_report(report, truth, spec):
    """A metrics report with row names and support, and its text table."""
    report = dict(report, label_names=spec.report_names())
    report["support"] = support_per_class(np.asarray(truth), report["task"], len(report["label_names"]))
    return report, format_report(report)


def write_report(paths, summary, sections):
    """`<stem>_report.json` (the summary, which holds each split's report) and `<stem>_report.txt` (the
    summary's plain fields, then one table per section)."""
    header = "\n".join(f"{key}: {value}" for key, value in summary.items() if not isinstance(value, dict))
    tables = "\n\n".join(f"{title}\n{table}" for title, (_, table) in sections.items())
    with atomic_open(paths["report_txt"], "w", encoding="utf-8") as handle:
        handle.write(header + "\n\n" + tables + "\n")
    with atomic_open(paths["report_json"], "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)


def curve_keys(rows, report_metric, kind):
    """The per-epoch numbers worth a panel: losses and the validation report metric."""
    metric = canonical_metric(report_metric)
    wanted = ["train_loss", "val_loss", "val_accuracy"]
    if kind == "binary" and metric != "accuracy":
        wanted.append(f"val_{metric}")
    elif metric != "accuracy":
        wanted += [f"val_{metric}_micro", f"val_{metric}_macro"]
    return [key for key in wanted if any(isinstance(row.get(key), (int, float)) for row in rows)]


def draw_plots(paths, rows, report_metric, kind, confusion=None, label_names=None, split="validation"):
    """Curves of the per-epoch `rows` and of the per-step training rows in the metrics log (rows without
    an "epoch") and, for multi-class, the confusion matrix; returns the paths drawn."""
    from ..visualize.plots import confusion_matrix_plot, metric_curves  # matplotlib: loaded only to draw
    drawn = []
    keys = curve_keys(rows, report_metric, kind)
    if keys:
        logged = read_metrics(paths["metrics"]) if os.path.exists(paths["metrics"]) else []
        drawn.append(metric_curves([row for row in logged if "epoch" not in row] + list(rows), paths["curves"],
                                   keys=keys))
    if confusion is not None:
        drawn.append(confusion_matrix_plot(confusion, label_names, paths["confusion"],
                                           title=f"Confusion matrix ({split})"))
    return drawn


METRIC_WORDS = {"f1": "F1", "mcc": "MCC", "jaccard": "Jaccard"}


def selection_words(kind, report_metric, micro, report_names):
    """What the number that picks the best epoch is, e.g. "F1 of class 1 (positive)" for a binary task,
    "macro F1" for several outputs, "accuracy"."""
    metric = canonical_metric(report_metric)
    word = METRIC_WORDS.get(metric, metric)
    if metric == "accuracy":
        return word
    if kind == "binary":
        return f"{word} of class 1 ({report_names[1]})"
    return f"{'micro' if micro else 'macro'} {word}"


def print_summary(summary, sections, written):
    """The run's short report on stdout."""
    what = summary.get("selected_on")
    if what:
        chosen = (f"best epoch {summary['best_epoch']}: validation {what} {summary['selection_value']:.4f} "
                  "(the --report-metric that picked the best epoch)")
    else:
        chosen = f"no validation data: the last epoch ({summary['best_epoch']}) is kept"
    print(f"finetuned {summary['outputs']} output(s) ({summary['task']}) for {summary['epochs_run']} epoch(s); "
          f"{chosen}")
    for title, (_, table) in sections.items():
        print(f"{title}\n{table}")
    for path in written:
        if path and os.path.exists(path):
            print(f"wrote {path}")
