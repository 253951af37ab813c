"""Labels given as words are read as class names: sorted, said in one log line, shared with the
validation / test files, and refused when a validation name was not in the training data."""
import logging
import os
import random

import numpy as np
import pandas as pd
import pytest
import torch

import finetune_classifier
import run_classifier
import transfer
from sentiment_discovery.cli import run_cli
from sentiment_discovery.data.formats.readers import read_dataset
from sentiment_discovery.errors import UserError
from sentiment_discovery.checkpoint import load_checkpoint
from test_transfer_cli import WORDS, make_task, transfer_argv

THREE = "label,sentence\npositive,good\nnegative,bad\nneutral,meh\npositive,great\n"


def test_words_become_sorted_class_names(write_file, caplog):
    with caplog.at_level(logging.INFO, logger="sentiment_discovery"):
        ds = read_dataset(write_file("w.csv", THREE))
    assert ds.class_names == ["negative", "neutral", "positive"]
    assert ds.labels.dtype == np.int64 and ds.labels.tolist() == [2, 0, 1, 2] and ds.task == "multiclass"
    assert "labels read as class names: negative=0, neutral=1, positive=2" in caplog.text


def test_two_words_make_a_binary_task(write_file):
    ds = read_dataset(write_file("b.csv", "label,sentence\n pos ,a\nneg,b\n"), lazy=True)
    assert ds.class_names == ["neg", "pos"] and ds.task == "binary" and ds.labels.tolist() == [1.0, 0.0]


def test_names_are_sorted_over_every_file(write_file):
    first = write_file("a.csv", "label,sentence\nzebra,a\n")
    second = write_file("b.csv", "label,sentence\napple,b\nmango,c\n")
    ds = read_dataset([first, second])
    assert ds.class_names == ["apple", "mango", "zebra"] and ds.labels.tolist() == [2, 0, 1]


def test_known_names_give_validation_the_training_ids(write_file):
    ds = read_dataset(write_file("v.csv", "label,sentence\nneutral,a\nnegative,b\n"),
                      known_class_names=["negative", "neutral", "positive"])
    assert ds.labels.dtype == np.int64 and ds.labels.tolist() == [1, 0]  # still 3 classes, not binary 0/1
    assert ds.class_names == ["negative", "neutral", "positive"]


def test_unseen_name_in_validation_is_an_error(write_file):
    with pytest.raises(UserError, match=r"v.csv: label 'label' has 'mixed' in row 2, a class not seen in the "
                                        r"training data \(negative, neutral, positive\)"):
        read_dataset(write_file("v.csv", "label,sentence\nneutral,a\nmixed,b\n"),
                     known_class_names=["negative", "neutral", "positive"])


def test_class_names_flag_keeps_its_order(write_file):
    ds = read_dataset(write_file("w.csv", THREE), class_names=["positive", "negative", "neutral"])
    assert ds.class_names == ["positive", "negative", "neutral"] and ds.labels.tolist() == [0, 1, 2, 0]


def test_words_refused_where_they_cannot_apply(write_file):
    words, numbers = write_file("w.csv", THREE), write_file("n.csv", "label,sentence\n1,a\n")
    with pytest.raises(UserError, match="some files give their labels as words and some as numbers"):
        read_dataset([words, numbers])
    with pytest.raises(UserError, match="--binarize-sent needs numeric ratings"):
        read_dataset(words, binarize_sent=3)
    multi = write_file("m.csv", "a,b,sentence\nyes,0,x\n")
    with pytest.raises(UserError, match="multi-label columns .* must be 0/1"):
        read_dataset(multi, non_binary_cols=["a", "b"])


# ----- through the scripts: transfer.py / finetune_classifier.py -> classifier.pt -> run_classifier.py

NAMES = {0: "negative", 1: "positive"}


def word_task(folder):
    """The synthetic '!' / '.' task of test_transfer_cli with its labels written as words."""
    task = make_task(folder)
    for split in ("train", "valid", "test"):
        frame = pd.read_csv(task[split])
        frame["label"] = frame["label"].map(NAMES)
        frame.to_csv(task[split], index=False)
    return task


@pytest.fixture(scope="module")
def words(tmp_path_factory):
    return word_task(tmp_path_factory.mktemp("word_labels"))


@pytest.fixture(autouse=True)
def keep_torch_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def classify_rows(classifier, data, folder):
    rows_path = str(folder / "rows.csv")
    summary = run_classifier.main(["--load", classifier, "--data", data, "--save-probs", str(folder / "p.npy"),
                                   "--write-results", rows_path, "--num-workers", "1"])
    return summary, pd.read_csv(rows_path)


@pytest.mark.slow
def test_transfer_reads_words_and_run_classifier_writes_them(words, tmp_path, caplog):
    rows_path = str(tmp_path / "transfer_rows.csv")
    with caplog.at_level(logging.INFO, logger="sentiment_discovery"):
        results = transfer.main(transfer_argv(words, "--write-results", rows_path,
                                              "--save-results", str(tmp_path / "out")))
    assert "labels read as class names: negative=0, positive=1" in caplog.text
    assert results["class_names"] == ["negative", "positive"]
    assert results["fits"]["all"]["scores"]["test"]["accuracy"] > 0.9
    transfer_rows = pd.read_csv(rows_path)
    predicted = transfer_rows["predicted label with all neurons"]
    assert set(transfer_rows["true label"]) == set(predicted) == {"negative", "positive"}
    assert "P(label=positive) with all neurons" in transfer_rows.columns
    classifier = os.path.join(results["results_dir"], "classifier.pt")
    assert load_checkpoint(classifier)["class_names"] == ["negative", "positive"]
    summary, rows = classify_rows(classifier, words["test"], tmp_path)
    assert list(rows.columns) == ["label pred", "label prob", "predicted class", "sentence"]
    assert (rows["predicted class"] == rows["label pred"].map(NAMES)).all()
    truth = pd.read_csv(words["test"])["label"]
    assert summary["scores"]["accuracy"] == pytest.approx((rows["predicted class"] == truth).mean())


def test_unseen_validation_name_message(words, tmp_path, capsys):
    frame = pd.read_csv(words["valid"])
    frame.loc[4, "label"] = "mixed"
    frame.to_csv(tmp_path / "val.csv", index=False)
    argv = transfer_argv(dict(words, valid=str(tmp_path / "val.csv")), "--save-results", str(tmp_path / "out"))
    with pytest.raises(SystemExit) as stop:
        run_cli(transfer.main, argv)
    assert stop.value.code != 0
    err = capsys.readouterr().err
    assert "'mixed' in row 5, a class not seen in the training data (negative, positive)" in err
    assert "Traceback" not in err


def three_class_rows(n, seed):
    rng = random.Random(seed)
    marks = {"negative": ".", "neutral": "?", "positive": "!"}
    rows = []
    for _ in range(n):
        name = rng.choice(sorted(marks))
        rows.append({"label": name, "sentence": f"{rng.choice(WORDS)} {rng.choice(WORDS)}{marks[name]}"})
    return pd.DataFrame(rows)


@pytest.mark.slow
def test_finetune_reads_words_and_run_classifier_writes_them(words, tmp_path, caplog):
    files = {}
    for name, n, seed in (("train", 96, 1), ("val", 30, 2), ("test", 30, 3)):
        files[name] = str(tmp_path / f"{name}.csv")
        three_class_rows(n, seed).to_csv(files[name], index=False)
    save = tmp_path / "clf.pt"
    with caplog.at_level(logging.INFO, logger="sentiment_discovery"):
        summary = finetune_classifier.main([
            "--load", words["lm"], "--data", files["train"], "--valid", files["val"], "--test", files["test"],
            "--use-softmax", "--epochs", "1", "--batch-size", "16", "--save", str(save), "--num-workers", "1"])
    assert "labels read as class names: negative=0, neutral=1, positive=2" in caplog.text
    assert summary["labels"] == ["negative", "neutral", "positive"]
    assert load_checkpoint(str(save))["class_names"] == ["negative", "neutral", "positive"]
    _, rows = classify_rows(str(save), files["test"], tmp_path)
    assert set(rows["predicted class"]) <= {"negative", "neutral", "positive"}
    assert {"negative pred", "neutral prob", "positive prob"} <= set(rows.columns)


@pytest.mark.slow
def test_class_names_flag_unchanged(words, tmp_path):
    """--class-names still maps names in the order given (here the reverse of sorted)."""
    results = transfer.main(transfer_argv(words, "--class-names", "positive", "negative",
                                          "--save-results", str(tmp_path / "out")))
    assert results["class_names"] == ["positive", "negative"]
    assert np.load(os.path.join(results["results_dir"], "trY.npy")).tolist() == [
        0.0 if name == "positive" else 1.0 for name in pd.read_csv(words["train"])["label"]]


@pytest.mark.slow
def test_binary_finetune_summary_names_its_metric_and_classes(words, tmp_path, capsys):
    save = tmp_path / "bin.pt"
    summary = finetune_classifier.main([
        "--load", words["lm"], "--data", words["train"], "--valid", words["valid"], "--test", words["test"],
        "--epochs", "1", "--batch-size", "32", "--save", str(save), "--num-workers", "1", "--report-metric", "f1"])
    out = capsys.readouterr().out
    assert summary["selected_on"] == "F1 of class 1 (positive)"
    assert (f"best epoch 1: validation F1 of class 1 (positive) {summary['selection_value']:.4f} "
            "(the --report-metric that picked the best epoch)") in out
    assert summary["test"]["label_names"] == ["negative", "positive"]  # report rows, not label=0 / label=1
    assert load_checkpoint(str(save))["class_names"] == ["negative", "positive"]
