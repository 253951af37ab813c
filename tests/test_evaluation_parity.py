"""evaluation/ against hand-computed cases: sklearn-backed metrics, the count formulas of the threshold
searches, single-column multi-label data (which sklearn reads as binary) and zero denominators."""
import numpy as np
import pytest

from sentiment_discovery.evaluation import counts as C
from sentiment_discovery.evaluation import metrics as M
from sentiment_discovery.evaluation import thresholds as T

# truth [1, 1, 0, 0, 1], pred [1, 0, 0, 1, 1]: tp 2, fp 1, fn 1, tn 1
TRUTH, PRED = np.array([1, 1, 0, 0, 1]), np.array([1, 0, 0, 1, 1])
HAND = {"accuracy": 3 / 5, "precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "jaccard": 2 / 4,
        "mcc": (2 * 1 - 1 * 1) / np.sqrt(3 * 3 * 2 * 2)}


def test_binary_by_hand():
    report = M.evaluate(TRUTH, PRED)
    assert report["positive"] == pytest.approx(HAND)
    # class 0: tp 1, fp 1, fn 1, tn 2
    assert report["per_class"]["f1"] == pytest.approx([1 / 2, 2 / 3])
    assert report["per_class"]["jaccard"] == pytest.approx([1 / 3, 1 / 2])
    assert report["macro"]["precision"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert report["micro"]["f1"] == pytest.approx(3 / 5)  # micro of one-vs-rest = accuracy


def test_counts_by_hand_and_zero_denominators():
    scores = C.scores_from_counts(tp=2, fp=1, fn=1, tn=1)
    assert {name: float(value) for name, value in scores.items()} == pytest.approx(HAND)
    empty = C.scores_from_counts(tp=0, fp=0, fn=0, tn=5)
    assert all(float(value) == 0.0 for name, value in empty.items() if name != "accuracy")
    assert C.metric_from_counts("jacc", [2, 0], [1, 0], [1, 0], [1, 5]).tolist() == [0.5, 0.0]
    per_class = {"tp": np.array([2, 0]), "fp": np.array([1, 1]), "fn": np.array([1, 0]), "tn": np.array([1, 4])}
    assert C.averaged_metric(per_class, "f1", micro=True) == pytest.approx(4 / 7)
    assert C.averaged_metric(per_class, "f1", micro=False) == pytest.approx(1 / 3)


def test_single_label_column_is_scored_per_label():
    report = M.evaluate(TRUTH[:, None], PRED[:, None], task="multilabel")
    assert report["per_class"]["f1"] == pytest.approx([2 / 3])
    assert report["macro"] == pytest.approx(report["micro"]) and report["macro"] == pytest.approx(HAND)


def test_multiclass_by_hand_with_an_absent_class():
    truth, pred = np.array([0, 1, 2, 2, 1]), np.array([0, 2, 2, 1, 1])
    report = M.evaluate(truth, pred, task="multiclass", n_classes=4)
    assert report["confusion_matrix"] == [[1, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]]
    assert report["per_class"]["f1"] == pytest.approx([1.0, 0.5, 0.5, 0.0])
    assert report["macro"]["recall"] == pytest.approx(2 / 4)
    assert report["micro"]["jaccard"] == pytest.approx(3 / 7)  # tp 3, fp 2, fn 2
    assert report["accuracy"] == pytest.approx(3 / 5)


def test_multilabel_by_hand():
    truth = np.array([[1, 0], [1, 1], [0, 0]])
    pred = np.array([[1, 0], [0, 1], [0, 1]])  # label 0: tp 1 fn 1; label 1: tp 1 fp 1
    report = M.evaluate(truth, pred)
    assert report["accuracy"] == pytest.approx(1 / 3)  # exact match
    assert report["per_class"]["precision"] == pytest.approx([1.0, 0.5])
    assert report["per_class"]["recall"] == pytest.approx([0.5, 1.0])
    assert report["micro"]["f1"] == pytest.approx(4 / 6)
    assert report["micro"]["accuracy"] == pytest.approx(4 / 6)


def test_threshold_counts_and_tweaks_match_a_recount():
    rng = np.random.default_rng(9)
    probs, labels = rng.random((400, 3)), (rng.random((400, 3)) < 0.4).astype(int)
    thresholds = np.array([0.3, 0.5, 0.7])
    counts = T.SortedColumns(probs, labels).counts_at(thresholds)
    predicted = probs > thresholds
    assert counts["tp"].tolist() == np.sum(predicted & (labels == 1), 0).tolist()
    assert counts["tn"].tolist() == np.sum(~predicted & (labels == 0), 0).tolist()
    columns = T.SortedColumns(probs, labels)
    assert columns.counts(1, 0.5) == {key: int(value[1]) for key, value in counts.items()}
    for micro in (True, False):
        tweaked, value = T.global_tweaks(probs, labels, thresholds, n=200, metric="mcc", micro=micro)
        assert value == pytest.approx(T.evaluate_thresholds(probs, labels, tweaked, "mcc", micro=micro))
