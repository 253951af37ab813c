"""Threshold search speed on N x L sigmoid predictions: per-class grid search, the --double-thresh second
pass, 1000 global tweaks, finetuning's whole tune_thresholds and the metrics report; one JSON line each.

    python bench/bench_thresholds.py [--rows 10000] [--labels 8] [--repeat 3]

Run it from two checkouts in one shell command (e.g. before and after a change, `cd` into each) and
compare the seconds of the same step: the ratio survives a noisy machine, the seconds do not.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.getcwd())
from sentiment_discovery.evaluation.metrics import metrics_report  # noqa: E402
from sentiment_discovery.evaluation.threshold_search import best_thresholds, global_tweaks, second_pass  # noqa: E402
from sentiment_discovery.finetune.validation import ThresholdOptions, tune_thresholds  # noqa: E402


def data(rows, labels, seed=0):
    rng = np.random.default_rng(seed)
    probs = rng.random((rows, labels))  # (N, L)
    truth = (rng.random((rows, labels)) < 0.2 + 0.6 * probs).astype(np.int64)  # (N, L)
    return probs, truth


def timed(step, repeat):
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - started)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--labels", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    probs, truth = data(args.rows, args.labels)
    start = best_thresholds(probs, truth, "f1").thresholds
    steps = {
        "best_thresholds": lambda: best_thresholds(probs, truth, "f1"),
        "second_pass": lambda: second_pass(probs, truth, start, "f1", True),
        "global_tweaks_1000": lambda: global_tweaks(probs, truth, start, n=1000, metric="f1", micro=True),
        "tune_thresholds": lambda: tune_thresholds(probs, truth, ThresholdOptions(True, "f1", True, True, 1000)),
        "evaluate_multilabel": lambda: metrics_report(truth, (probs > start).astype(np.int64)),
    }
    for name, step in steps.items():
        print(json.dumps({"tree": os.getcwd(), "step": name, "rows": args.rows, "labels": args.labels,
                          "seconds": round(timed(step, args.repeat), 5)}))


if __name__ == "__main__":
    main()
