"""TF-IDF (unigram + bigram) + logistic-regression baselines on the bundled tasks, C chosen on val.

The yardstick a pretrained language model's transfer features have to beat. Prints one JSON line per
task, each with a majority-class figure measured in the same run as the floor:

  --task sst      data/binary_sst: test accuracy
  --task tweets3  data/tweets3 (label, confidence, text): test macro-F1, accuracy, per-class recall
  --task semeval  data/semeval plutchik-8 (anger anticipation disgust fear joy sadness surprise trust),
                  one-vs-rest, one C for all 8 labels: per-class F1 on **val** at threshold 0.5, micro
                  and macro, and again with per-class thresholds tuned on that same val split
                  (optimistic: C and thresholds are tuned and scored on the same data; the test split
                  has no labels)

Example: python bench/tfidf_baseline.py --task all
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from sentiment_discovery.cli import run_cli
from sentiment_discovery.errors import UserError
from sentiment_discovery.evaluation.metrics import metrics_report
from sentiment_discovery.visualize.plots import confusion_matrix_plot
from sentiment_discovery.evaluation.labels import predict_labels
from sentiment_discovery.evaluation.threshold_search import best_thresholds, global_tweaks

PLUTCHIK_8 = ["anger", "anticipation", "disgust", "fear", "joy", "sadness", "surprise", "trust"]
TWEETS3_CLASSES = ["negative", "neutral", "positive"]
DEFAULT_CS = [1, 4, 16, 64]  # short by default; widen with --cs


def read_csv(path: str, columns: list[str]) -> pd.DataFrame:
    """A CSV with the named columns present; text NaN read as empty strings."""
    if not os.path.exists(path):
        raise UserError(f"data file not found: {path}")
    frame = pd.read_csv(path, keep_default_na=False)  # empty text stays ""; empty labels are caught later
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UserError(f"{path} has no column(s) {', '.join(missing)}; columns: {', '.join(frame.columns)}")
    return frame


def vectorize(train_texts, *other_texts, max_features=None):
    """Fit TF-IDF uni+bigrams (sublinear tf) on train; transform every split."""
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, max_features=max_features)
    train = vectorizer.fit_transform(train_texts)
    return [train] + [vectorizer.transform(texts) for texts in other_texts]


def choose_c(train_x, train_y, val_x, score_fn, cs, seed):
    """Fit every C on train, keep the best val score (no refit: the model fitted at that C is kept).

    Returns (best C, val scores per C, the model fitted at the best C); ties go to the smaller C.
    (Warm-starting lbfgs from the previous C was tried: it stops at once under the default tolerance,
    so every larger C returned the previous model.)"""
    best_c, best_score, best_model, scores = None, -np.inf, None, []
    for c in sorted(cs):
        model = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(train_x, train_y)
        scores.append(score_fn(model, val_x))
        if scores[-1] > best_score:
            best_c, best_score, best_model = c, scores[-1], model
    return best_c, [round(s, 4) for s in scores], best_model


def labels_from(frame: pd.DataFrame, column: str, path: str) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce")
    if values.isna().any():
        raise UserError(f"{path}: column {column} has a missing or non-numeric value at row "
                        f"{int(np.flatnonzero(values.isna())[0])}")
    return values.to_numpy().astype(np.int64)


def run_sst(data_dir, cs, seed, max_features, out=None):
    """Binary SST: C by val accuracy, report test accuracy."""
    folder = os.path.join(data_dir, "binary_sst")
    splits = {name: read_csv(os.path.join(folder, f"{name}.csv"), ["label", "sentence"])
              for name in ("train", "val", "test")}
    ys = {name: labels_from(frame, "label", name) for name, frame in splits.items()}
    train_x, val_x, test_x = vectorize(*(splits[n]["sentence"].astype(str) for n in ("train", "val", "test")),
                                       max_features=max_features)
    def accuracy(model, x, y):
        return float(np.mean(model.predict(x) == y))
    c, val_scores, model = choose_c(train_x, ys["train"], val_x, lambda m, x: accuracy(m, x, ys["val"]), cs, seed)
    majority = np.bincount(ys["train"]).argmax()
    return {"task": "sst", "best_c": c, "val_accuracy_per_c": val_scores,
            "val_accuracy": accuracy(model, val_x, ys["val"]), "test_accuracy": accuracy(model, test_x, ys["test"]),
            "majority_test_accuracy": float(np.mean(ys["test"] == majority)),
            "n_train": len(ys["train"]), "n_features": int(train_x.shape[1])}


def tweets3_ids(frame: pd.DataFrame, path: str) -> np.ndarray:
    labels = frame["label"].astype(str).str.strip().str.lower()
    unknown = sorted(set(labels) - set(TWEETS3_CLASSES))
    if unknown:
        raise UserError(f"{path}: unknown label(s) {', '.join(unknown)}; expected {', '.join(TWEETS3_CLASSES)}")
    return labels.map({name: i for i, name in enumerate(TWEETS3_CLASSES)}).to_numpy()


def run_tweets3(data_dir, cs, seed, max_features, out=None):
    """3-class tweets: C by val macro-F1; report test macro-F1, accuracy, per-class recall and the confusion
    matrix (drawn to <out>/tweets3_tfidf_confusion.png when `out` is given)."""
    folder = os.path.join(data_dir, "tweets3")
    splits = {name: read_csv(os.path.join(folder, f"{name}.csv"), ["label", "confidence", "text"])
              for name in ("train", "val", "test")}
    ys = {name: tweets3_ids(frame, name) for name, frame in splits.items()}
    train_x, val_x, test_x = vectorize(*(splits[n]["text"].astype(str) for n in ("train", "val", "test")),
                                       max_features=max_features)
    def macro_f1(m, x, y):
        return metrics_report(y, m.predict(x), "multiclass", 3)["macro"]["f1"]
    c, val_scores, model = choose_c(train_x, ys["train"], val_x, lambda m, x: macro_f1(m, x, ys["val"]), cs, seed)
    report = metrics_report(ys["test"], model.predict(test_x), "multiclass", 3)
    majority = np.bincount(ys["train"]).argmax()
    majority_report = metrics_report(ys["test"], np.full_like(ys["test"], majority), "multiclass", 3)
    if out:
        confusion_matrix_plot(report["confusion_matrix"], TWEETS3_CLASSES,
                              os.path.join(out, "tweets3_tfidf_confusion.png"), title="TF-IDF LR, tweets3 test")
    return {"task": "tweets3", "best_c": c, "val_macro_f1_per_c": val_scores,
            "test_confusion_matrix": np.asarray(report["confusion_matrix"]).tolist(),
            "test_macro_f1": report["macro"]["f1"], "test_accuracy": report["accuracy"],
            "test_recall": dict(zip(TWEETS3_CLASSES, report["per_class"]["recall"])),
            "majority_test_accuracy": majority_report["accuracy"],
            "majority_test_macro_f1": majority_report["macro"]["f1"],
            "n_train": len(ys["train"]), "n_features": int(train_x.shape[1])}


def run_semeval(data_dir, cs, seed, max_features, out=None):
    """Plutchik-8 one-vs-rest: one C shared by the 8 labels, chosen by val macro-F1 at 0.5; report val F1
    at 0.5 and with thresholds tuned on val (C, thresholds and scores all from the one val split)."""
    folder = os.path.join(data_dir, "semeval")
    splits = {name: read_csv(os.path.join(folder, f"{name}.csv"), PLUTCHIK_8 + ["Tweet"])
              for name in ("train", "val")}
    ys = {name: np.stack([labels_from(frame, col, name) for col in PLUTCHIK_8], axis=1)
          for name, frame in splits.items()}  # (N, 8)
    train_x, val_x = vectorize(splits["train"]["Tweet"].astype(str), splits["val"]["Tweet"].astype(str),
                               max_features=max_features)
    best_c, best_score, val_probs, scores = None, -np.inf, None, {}
    for c in sorted(cs):
        probs = np.stack([LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(train_x, column)
                          .predict_proba(val_x)[:, 1] for column in ys["train"].T], axis=1)  # (N_val, 8)
        scores[c] = metrics_report(ys["val"], predict_labels(probs, "multilabel", 0.5), "multilabel")["macro"]["f1"]
        if scores[c] > best_score:
            best_c, best_score, val_probs = c, scores[c], probs
    at_half = metrics_report(ys["val"], predict_labels(val_probs, "multilabel", 0.5), "multilabel")
    tuned = best_thresholds(val_probs, ys["val"], metric="f1")
    tweaked, _ = global_tweaks(val_probs, ys["val"], tuned.thresholds, n=1000, metric="f1", seed=seed)
    at_tuned = metrics_report(ys["val"], predict_labels(val_probs, "multilabel", tweaked), "multilabel")
    return {"task": "semeval", "labels": PLUTCHIK_8, "best_c": best_c,
            "val_macro_f1_at_0.5_per_c": {str(c): v for c, v in scores.items()},
            "val_f1_at_0.5": dict(zip(PLUTCHIK_8, at_half["per_class"]["f1"])),
            "val_macro_f1_at_0.5": at_half["macro"]["f1"], "val_micro_f1_at_0.5": at_half["micro"]["f1"],
            "note": "C, thresholds and scores all come from the val split (test has no labels): optimistic",
            "tuned_thresholds": [round(float(t), 4) for t in tweaked],
            "val_f1_tuned": dict(zip(PLUTCHIK_8, at_tuned["per_class"]["f1"])),
            "val_macro_f1_tuned": at_tuned["macro"]["f1"], "val_micro_f1_tuned": at_tuned["micro"]["f1"],
            "all_positive_val_macro_f1":
                metrics_report(ys["val"], np.ones_like(ys["val"]), "multilabel")["macro"]["f1"],
            "n_train": len(ys["train"]), "n_features": int(train_x.shape[1])}


TASKS = {"sst": run_sst, "tweets3": run_tweets3, "semeval": run_semeval}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=list(TASKS) + ["all"], default="all")
    parser.add_argument("--data-dir", default=os.path.join(os.path.dirname(__file__), "..", "data"))
    parser.add_argument("--cs", type=float, nargs="+", default=DEFAULT_CS, help="C grid searched on val")
    parser.add_argument("--max-features", type=int, default=None, help="cap on the TF-IDF vocabulary")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="folder for plots (the tweets3 confusion matrix)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    for name in TASKS if args.task == "all" else [args.task]:
        started = time.perf_counter()
        if args.out:
            os.makedirs(args.out, exist_ok=True)
        result = TASKS[name](args.data_dir, list(args.cs), args.seed, args.max_features, out=args.out)
        result["seconds"] = round(time.perf_counter() - started, 1)
        print(json.dumps(rounded(result)), flush=True)


def rounded(value):
    """Floats to 4 decimals, recursively, for a readable JSON line."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
