"""threshold.py driven in-process on prediction/label files built so that the answers are known: tuned
thresholds beat 0.5, AUC per column, the neutral and dual 3-way splits, a negatively aligned scalar score,
and one-line errors for mismatched files."""
import json

import numpy as np
import pandas as pd
import pytest

import threshold
from sentiment_discovery.cli import run_cli


@pytest.fixture
def skewed(tmp_path):
    """Two columns whose positives score 0.3-0.45 and negatives 0-0.28 (at 0.5 nothing is positive)."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=(120, 2))
    probs = np.where(labels == 1, rng.uniform(0.3, 0.45, labels.shape), rng.uniform(0.0, 0.28, labels.shape))
    np.save(tmp_path / "probs.npy", probs)
    pd.DataFrame({"text": ["t"] * 120, "a": labels[:, 0], "b": labels[:, 1]}).to_csv(tmp_path / "labels.csv",
                                                                                    index=False)
    return str(tmp_path / "probs.npy"), str(tmp_path / "labels.csv"), probs, labels


def test_binary_thresholds_beat_one_half(skewed, tmp_path, capsys):
    preds, labels_file, _, _ = skewed
    save = tmp_path / "out.json"
    results = threshold.main(["--task", "binary", "--preds-file", preds, "--labels-file", labels_file,
                              "--non-binary-cols", "a", "b", "--micro", "--global-tweaks", "20", "--save", str(save)])
    assert results["micro_at_0.5"] == 0.0 and results["micro_at_thresholds"] == 1.0
    assert all(0.28 <= t < 0.3 for t in results["thresholds"])
    assert results["per_class"] == [1.0, 1.0]             # the metric at the final (tweaked) thresholds
    assert json.loads(save.read_text())["thresholds"] == results["thresholds"]
    out = capsys.readouterr().out
    assert "micro_at_thresholds: 1.0000" in out and "task binary" in out


def test_auc_per_column_from_run_classifier_csv(skewed, tmp_path):
    _, labels_file, probs, _ = skewed
    frame = pd.DataFrame({"a pred": 0, "a prob": probs[:, 0], "b pred": 0, "b prob": 1 - probs[:, 1],
                          "sentence": "x"})
    frame.to_csv(tmp_path / "results.csv", index=False)
    results = threshold.main(["--task", "auc", "--preds-file", str(tmp_path / "results.csv"),
                              "--labels-file", labels_file, "--non-binary-cols", "a", "b"])
    assert results["columns"] == ["a", "b"] and results["auc"] == pytest.approx([1.0, 0.0])


def test_scalar_finds_a_negatively_aligned_score(tmp_path):
    labels = np.array([0, 0, 0, 1, 1, 1])
    np.save(tmp_path / "scores.npy", np.array([5.0, 4.0, 3.5, -1.0, -2.0, -3.0]))
    np.save(tmp_path / "labels.npy", labels)
    results = threshold.main(["--task", "scalar", "--preds-file", str(tmp_path / "scores.npy"),
                              "--labels-file", str(tmp_path / "labels.npy"), "--metric", "acc"])
    assert results["signs"] == [-1] and results["values"] == [1.0]
    assert -1.0 < results["thresholds"][0] <= 3.5  # class 1 is score < threshold


def test_neutral_split_of_one_score_and_of_a_pair(tmp_path):
    scores = np.array([0.05, 0.1, 0.45, 0.5, 0.55, 0.9, 0.95])
    np.save(tmp_path / "score.npy", scores)
    pd.DataFrame({"label": [0, 0, 1, 1, 1, 2, 2]}).to_csv(tmp_path / "three.csv", index=False)
    one = threshold.main(["--task", "neutral", "--preds-file", str(tmp_path / "score.npy"),
                          "--labels-file", str(tmp_path / "three.csv")])
    assert one["accuracy"] == 1.0 and 0.1 <= one["low"] < 0.45 and 0.55 <= one["high"] < 0.9
    pair = np.array([[0.9, 0.1], [0.2, 0.8], [0.1, 0.1], [0.7, 0.2]])
    np.save(tmp_path / "pair.npy", pair)
    np.save(tmp_path / "pair_labels.npy", np.array([[1, 0], [0, 1], [0, 0], [1, 0]]))
    two = threshold.main(["--task", "neutral", "--preds-file", str(tmp_path / "pair.npy"),
                          "--labels-file", str(tmp_path / "pair_labels.npy")])
    assert two["accuracy"] == 1.0 and len(two["thresholds"]) == 2


def error_line(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(threshold.main, argv)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    return lines[0]


def test_bad_files_give_one_line(skewed, tmp_path, capsys):
    preds, labels_file, _, _ = skewed
    assert "has no label column 'c'" in error_line(capsys, ["--preds-file", preds, "--labels-file", labels_file,
                                                            "--non-binary-cols", "a", "c"])
    assert "one label column per prediction column" in error_line(
        capsys, ["--preds-file", preds, "--labels-file", labels_file, "--non-binary-cols", "a"])
    np.save(tmp_path / "short.npy", np.zeros((5, 2)))
    assert "5 rows but --labels-file has 120" in error_line(
        capsys, ["--preds-file", str(tmp_path / "short.npy"), "--labels-file", labels_file,
                 "--non-binary-cols", "a", "b"])
    assert "not found" in error_line(capsys, ["--preds-file", str(tmp_path / "nope.npy"),
                                              "--labels-file", labels_file])


def test_thresholds_tuned_on_validation_are_applied_to_test(skewed, tmp_path, capsys):
    """--apply scores other predictions at the saved thresholds: nothing is tuned on the test labels."""
    valid_preds, valid_labels, _, _ = skewed
    tuned = tmp_path / "thresholds.json"
    threshold.main(["--task", "binary", "--preds-file", valid_preds, "--labels-file", valid_labels,
                    "--non-binary-cols", "a", "b", "--metric", "acc", "--save", str(tuned)])
    saved = json.loads(tuned.read_text())
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, size=(50, 2))
    probs = np.where(labels == 1, rng.uniform(0.31, 0.45, labels.shape), rng.uniform(0.0, 0.27, labels.shape))
    np.save(tmp_path / "test_probs.npy", probs)
    np.save(tmp_path / "test_labels.npy", labels)
    capsys.readouterr()
    applied = threshold.main(["--apply", str(tuned), "--preds-file", str(tmp_path / "test_probs.npy"),
                              "--labels-file", str(tmp_path / "test_labels.npy"), "--save", str(tmp_path / "t.json")])
    assert applied["thresholds"] == saved["thresholds"] and applied["thresholds_from"] == str(tuned)
    assert applied["metric"] == "accuracy" and applied["per_class"] == [1.0, 1.0]
    assert applied["macro_at_thresholds"] == 1.0 and applied["macro_at_0.5"] < 0.7
    assert "macro_at_thresholds: 1.0000" in capsys.readouterr().out
    assert json.loads((tmp_path / "t.json").read_text()) == applied
    np.save(tmp_path / "one_column.npy", probs[:, :1])
    assert "has 2 threshold(s) but --preds-file has 1 column(s)" in error_line(
        capsys, ["--apply", str(tuned), "--preds-file", str(tmp_path / "one_column.npy"),
                 "--labels-file", str(tmp_path / "test_labels.npy")])
    threshold.main(["--task", "auc", "--preds-file", valid_preds, "--labels-file", valid_labels,
                    "--non-binary-cols", "a", "b", "--save", str(tmp_path / "auc.json")])
    assert "holds no thresholds" in error_line(
        capsys, ["--apply", str(tmp_path / "auc.json"), "--preds-file", str(tmp_path / "test_probs.npy"),
                 "--labels-file", str(tmp_path / "test_labels.npy")])
