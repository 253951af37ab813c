"""Outputs that say what their numbers are: the finetune summary names the metric that picked the best
epoch; transfer's `regularization coef` / `NNZ` lines say what C and the count are; log lines start on
their own line, not at the end of a progress bar."""
import logging
import sys

import numpy as np
import pytest
from tqdm import tqdm

from sentiment_discovery.cli import run_cli
from sentiment_discovery.finetune.reports import print_summary, selection_words
from sentiment_discovery.drivers.transfer import fit_explained


@pytest.mark.parametrize("kind,metric,micro,names,words", [
    ("binary", "f1", False, ["label=0", "label=1"], "F1 of class 1 (label=1)"),
    ("binary", "acc", False, ["negative", "positive"], "accuracy"),
    ("binary", "mcc", False, ["negative", "positive"], "MCC of class 1 (positive)"),
    ("multiclass", "f1", False, ["a", "b", "c"], "macro F1"),
    ("multilabel", "jacc", True, ["a", "b"], "micro Jaccard"),
])
def test_selection_words(kind, metric, micro, names, words):
    assert selection_words(kind, metric, micro, names) == words


def summary(selected_on):
    return {"outputs": 1, "task": "binary", "epochs_run": 3, "best_epoch": 2, "report_metric": "f1",
            "selected_on": selected_on, "selection_value": 0.87}


def test_summary_line_names_the_selection_metric(capsys):
    print_summary(summary("F1 of class 1 (positive)"), {}, [])
    assert capsys.readouterr().out.splitlines()[0] == (
        "finetuned 1 output(s) (binary) for 3 epoch(s); best epoch 2: validation F1 of class 1 (positive) "
        "0.8700 (the --report-metric that picked the best epoch)")
    print_summary(summary(None), {}, [])
    assert "no validation data: the last epoch (2) is kept" in capsys.readouterr().out


class Result:
    def __init__(self, weights):
        self.weights, self.best_c, self.n_nonzero = weights, 0.25, int(np.count_nonzero(weights))


def test_regularisation_and_nnz_lines_say_what_they_are():
    binary = Result(np.r_[np.zeros(4084), np.ones(12)])  # (F,)
    assert fit_explained(binary, "accuracy") == [
        "regularization coef: 0.25 (C, the inverse L1 regularisation strength: smaller keeps fewer features; "
        "chosen on validation accuracy)",
        "NNZ: 12 (non-zero weights, of 4096 features)"]
    multiclass = Result(np.eye(3, 8))  # (K, F)
    assert fit_explained(multiclass, "mcc", "training")[1] == "NNZ: 3 (non-zero weights, of 8 features x 3 outputs)"
    assert "chosen on training mcc" in fit_explained(multiclass, "mcc", "training")[0]


def test_a_log_line_is_written_above_the_progress_bar_not_glued_to_it(capsys):
    def main(argv):
        with tqdm(total=3, desc="work", file=sys.stderr, mininterval=0) as bar:
            bar.update(1)
            logging.getLogger("sentiment_discovery").warning("epoch 1: validation loss 0.5")
            bar.update(2)

    run_cli(main, [])
    line = next(line for line in capsys.readouterr().err.split("\n") if "validation loss" in line)
    shown = line.split("\r")[-1]  # what a terminal shows: the text after the last carriage return
    assert shown.endswith("epoch 1: validation loss 0.5") and "work" not in shown
