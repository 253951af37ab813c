"""finetune_classifier.py driven in-process on a tiny random-init char mLSTM (hidden 32): a multi-label set
and a 5-class set it must learn well past the majority baseline; the outputs beside --save; the saved
classifier loads and reproduces its test scores in run_classifier.py, tuned thresholds included."""
import json
import os
import random

import numpy as np
import pandas as pd
import pytest
import torch

import finetune_classifier
import run_classifier
from sentiment_discovery.data.tokenizers.builtin import CharTokenizer
from sentiment_discovery.models.language_model import recurrent_config
from sentiment_discovery.models.kinds import build_language_model
from sentiment_discovery.checkpoint import load_checkpoint, save_checkpoint
from sentiment_discovery.training.metrics_log import read_metrics

FILLER = ["the", "a", "movie", "plot", "was", "is", "and", "it", "so", "very", "quite"]
MARKS = ["!", "?", "#"]                                # multi-label: label j is on when MARKS[j] occurs
CLASS_WORDS = ["awful", "bad", "okay", "good", "great"]  # 5-class: the class is the text's last word
CONTRACT_KEYS = {"format", "format_version", "kind", "classifier_config", "model_state", "tokenizer", "labels",
                 "thresholds", "neurons", "source", "class_names", "process_fn"}


@pytest.fixture(autouse=True)
def keep_torch_threads():
    """--num-workers 1 sets torch's thread count; give the next tests back the count they had."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def write_tiny_lm(path, seed=0):
    torch.manual_seed(seed)
    config = recurrent_config(nhid=32, emsize=8)
    model = build_language_model(config)
    save_checkpoint(path, {"kind": "lm", "model_config": config, "model_state": model.state_dict(),
                           "tokenizer": CharTokenizer().to_dict(), "process_fn": "process_str"})
    return str(path)


def multilabel_rows(n, seed):
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        on = [rng.random() < 0.35 for _ in MARKS]
        words = [rng.choice(FILLER) for _ in range(rng.randint(2, 5))]
        for mark, wanted in zip(MARKS, on):
            if wanted:
                words.insert(rng.randint(0, len(words)), mark)
        rows.append({"sentence": " ".join(words), **{f"l{j}": int(v) for j, v in enumerate(on)}})
    return pd.DataFrame(rows)


def five_class_rows(n, seed):
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.randrange(5)
        words = [rng.choice(FILLER) for _ in range(rng.randint(1, 4))]
        rows.append({"label": label, "sentence": " ".join(words + [CLASS_WORDS[label]])})
    return pd.DataFrame(rows)


def write_splits(folder, make_rows, sizes=(320, 100, 100)):
    paths = {}
    for (name, n), seed in zip(zip(("train", "val", "test"), sizes), (1, 2, 3)):
        paths[name] = str(folder / f"{name}.csv")
        make_rows(n, seed).to_csv(paths[name], index=False)
    return paths


def finetune_argv(lm, files, save, *extra):
    return ["--load", lm, "--data", files["train"], "--valid", files["val"], "--test", files["test"],
            "--batch-size", "16", "--lr", "1e-2", "--save", str(save), "--num-workers", "1", "--seed", "3", *extra]


@pytest.fixture(scope="module")
def multilabel_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("finetune_multilabel")
    files = write_splits(folder, multilabel_rows)
    save = folder / "out" / "clf.pt"
    threads = torch.get_num_threads()
    summary = finetune_classifier.main(finetune_argv(
        write_tiny_lm(folder / "lm.pt"), files, save, "--non-binary-cols", "l0", "l1", "l2", "--epochs", "4",
        "--automatic-thresholding", "--heads-per-class", "2", "--aux-head-variance-loss-weight", "0.1",
        "--aux-lm-loss", "--classifier-hidden-layers", "16", "3", "--classifier-dropout", "0.0",
        "--log-interval", "10"))
    torch.set_num_threads(threads)
    return files, save, summary


def test_multilabel_beats_the_majority_baseline(multilabel_run):
    files, _, summary = multilabel_run
    truth = pd.read_csv(files["test"])[["l0", "l1", "l2"]].to_numpy()
    majority_label_accuracy = np.mean(np.maximum(truth.mean(0), 1 - truth.mean(0)))
    test = summary["test"]
    assert summary["outcome"] == "done" and summary["epochs_run"] == 4
    assert test["micro"]["f1"] > 0.6                      # the majority (all-negative) prediction has F1 0
    assert test["micro"]["accuracy"] > majority_label_accuracy + 0.08


def test_outputs_beside_save(multilabel_run):
    _, save, summary = multilabel_run
    stem = str(save)[:-3]
    for suffix in (".metrics.jsonl", "_report.txt", "_report.json", "_curves.png", "_last.pt"):
        assert os.path.getsize(stem + suffix) > 0, suffix
    assert not os.path.exists(stem + "_confusion.png")    # multi-label: no confusion matrix
    rows = [row for row in read_metrics(stem + ".metrics.jsonl") if "val_loss" in row]
    assert [row["epoch"] for row in rows] == [1, 2, 3, 4]
    expected = {"train_loss", "train_lm_loss", "train_head_variance", "val_loss", "val_f1_macro", "thresholds"}
    assert expected <= set(rows[0])
    with open(stem + "_report.json") as handle:
        report = json.load(handle)
    assert report["best_epoch"] == summary["best_epoch"] and report["test"]["label_names"] == ["l0", "l1", "l2"]
    with open(stem + "_report.txt") as handle:
        text = handle.read()
    assert "micro avg" in text and "macro avg" in text and "test" in text
    ckpt = load_checkpoint(str(save), expect_kind="classifier")
    assert set(ckpt) == CONTRACT_KEYS and ckpt["source"] == "finetune" and ckpt["labels"] == ["l0", "l1", "l2"]
    assert ckpt["process_fn"] == "process_str"  # a fresh model: the original's default, recorded
    assert ckpt["classifier_config"]["heads_per_class"] == 2 and ckpt["thresholds"] == summary["thresholds"]


def test_log_interval_writes_training_loss_lines(multilabel_run):
    _, save, _ = multilabel_run
    rows = [row for row in read_metrics(str(save)[:-3] + ".metrics.jsonl") if "val_loss" not in row]
    assert [row["step"] for row in rows] == list(range(10, 81, 10))     # 20 steps an epoch, 4 epochs
    assert all(row["train_loss"] > 0 and row["lr"] > 0 and "train_lm_loss" in row for row in rows)


def test_run_classifier_reproduces_the_test_scores(multilabel_run, tmp_path):
    files, save, summary = multilabel_run
    thresholds = load_checkpoint(str(save))["thresholds"]
    assert any(t != 0.5 for t in thresholds)               # tuned thresholds travel in the checkpoint
    result = run_classifier.main(["--load", str(save), "--data", files["test"], "--non-binary-cols", "l0", "l1",
                                  "l2", "--save-probs", str(tmp_path / "p.npy"), "--num-workers", "1"])
    assert result["scores"]["micro"]["f1"] == pytest.approx(summary["test"]["micro"]["f1"], abs=1e-6)
    probs = np.load(tmp_path / "p.npy.prob.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), (probs > np.array(thresholds)).astype(np.int8))
    assert np.load(tmp_path / "p.npy.std.npy").shape == (100, 3)


def test_five_classes_beat_the_majority_baseline(tmp_path):
    files = write_splits(tmp_path, five_class_rows)
    save = tmp_path / "five.pt"
    summary = finetune_classifier.main(finetune_argv(
        write_tiny_lm(tmp_path / "lm.pt"), files, save, "--use-softmax", "--epochs", "2", "--stratified-batches",
        "--class-weights", "balanced", "--report-metric", "acc", "--all-metrics"))
    truth = pd.read_csv(files["test"])["label"].to_numpy()
    majority = np.bincount(truth).max() / truth.size
    assert summary["task"] == "multiclass" and summary["labels"] == [f"label={k}" for k in range(5)]
    assert summary["test"]["accuracy"] > majority + 0.3
    assert np.asarray(summary["test"]["confusion_matrix"]).shape == (5, 5)
    assert os.path.getsize(tmp_path / "five_confusion.png") > 0
