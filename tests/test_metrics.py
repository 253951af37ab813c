"""Metrics module checked against scikit-learn on random binary, multi-class and multi-label data."""
import numpy as np
import pytest
from sklearn import metrics as skm

from sentiment_discovery.errors import UserError
from sentiment_discovery.evaluation import metrics as M
from sentiment_discovery.evaluation.names import canonical_metric

SK_FUNCTIONS = {"precision": skm.precision_score, "recall": skm.recall_score,
                "f1": skm.f1_score, "jaccard": skm.jaccard_score}


def random_multiclass(seed, n=300, k=4):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    pred = np.where(rng.random(n) < 0.6, truth, rng.integers(0, k, n))
    return truth, pred


def score(name, truth, pred, average):
    """One metric of metrics_report: a per-class list (average None), or the micro / macro average."""
    report = M.metrics_report(truth, pred)
    return report["per_class"][name] if average is None else report[average][name]


def random_multilabel(seed, n=200, labels=5):
    rng = np.random.default_rng(seed)
    truth = (rng.random((n, labels)) < 0.3).astype(int)
    pred = np.where(rng.random((n, labels)) < 0.7, truth, 1 - truth)
    return truth, pred


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", list(SK_FUNCTIONS))
def test_multiclass_averages_match_sklearn(seed, name):
    truth, pred = random_multiclass(seed)
    sk = SK_FUNCTIONS[name]
    for average in ("micro", "macro"):
        expected = sk(truth, pred, average=average, zero_division=0)
        assert score(name, truth, pred, average) == pytest.approx(expected)
    expected = sk(truth, pred, average=None, zero_division=0)
    assert np.allclose(score(name, truth, pred, None), expected)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", list(SK_FUNCTIONS))
def test_multilabel_averages_match_sklearn(seed, name):
    truth, pred = random_multilabel(seed)
    sk = SK_FUNCTIONS[name]
    for average in ("micro", "macro", None):
        expected = sk(truth, pred, average=average, zero_division=0)
        assert np.allclose(score(name, truth, pred, average), expected)


def test_binary_positive_class_matches_sklearn():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 2, 500)
    pred = np.where(rng.random(500) < 0.8, truth, 1 - truth)
    report = M.metrics_report(truth, pred)
    assert report["task"] == "binary"
    assert report["accuracy"] == pytest.approx(skm.accuracy_score(truth, pred))
    for name, sk in SK_FUNCTIONS.items():
        assert report["positive"][name] == pytest.approx(sk(truth, pred, zero_division=0))
    assert report["mcc"] == pytest.approx(skm.matthews_corrcoef(truth, pred))


def test_mcc_multiclass_and_micro_match_sklearn():
    truth, pred = random_multiclass(4, k=5)
    report = M.metrics_report(truth, pred)
    assert report["mcc"] == pytest.approx(skm.matthews_corrcoef(truth, pred))
    per_class = [skm.matthews_corrcoef(truth == c, pred == c) for c in range(5)]
    assert np.allclose(report["per_class"]["mcc"], per_class)
    micro = skm.matthews_corrcoef(M.one_hot(truth, 5).ravel(), M.one_hot(pred, 5).ravel())
    assert report["micro"]["mcc"] == pytest.approx(micro)


def test_multilabel_accuracy_is_exact_match_and_labelwise_mean():
    truth, pred = random_multilabel(5)
    report = M.metrics_report(truth, pred)
    assert report["accuracy"] == pytest.approx(skm.accuracy_score(truth, pred))
    assert report["micro"]["accuracy"] == pytest.approx(1 - skm.hamming_loss(truth, pred))


def test_confusion_matrix_matches_sklearn():
    truth, pred = random_multiclass(6, k=3)
    assert np.array_equal(M.metrics_report(truth, pred)["confusion_matrix"], skm.confusion_matrix(truth, pred))


def test_class_without_positives_or_predictions_scores_zero():
    truth = np.array([0, 0, 1, 1, 0])
    pred = np.array([0, 0, 1, 0, 0])
    report = M.metrics_report(truth, pred, task="multiclass", n_classes=3)  # class 2 never appears
    for name in ("precision", "recall", "f1", "jaccard", "mcc"):
        assert report["per_class"][name][2] == 0.0
    all_negative = M.metrics_report(np.zeros(4, int), np.zeros(4, int))
    assert all_negative["positive"]["f1"] == 0.0 and all_negative["mcc"] == 0.0
    assert not np.isnan(list(all_negative["macro"].values())).any()


def test_report_text_table():
    truth, pred = random_multiclass(7, k=3)
    report = dict(M.metrics_report(truth, pred), label_names=["neg", "neutral", "pos"],
                  support=M.support_per_class(truth, "multiclass", 3))
    assert report["support"] == np.bincount(truth).tolist()
    text = M.format_report(report)
    lines = text.splitlines()
    assert lines[1].startswith("neg") and "macro avg" in text
    assert f"{report['per_class']['f1'][1]:.4f}" in lines[2]


def test_bad_inputs_raise_user_errors():
    with pytest.raises(UserError, match="shape"):
        M.metrics_report([0, 1, 1], [0, 1])
    with pytest.raises(UserError, match="NaN"):
        M.metrics_report(np.array([0.0, np.nan]), np.array([0.0, 1.0]))
    with pytest.raises(UserError, match="0/1"):
        M.metrics_report(np.array([[0, 2]]), np.array([[0, 1]]))
    with pytest.raises(UserError, match="unknown metric"):
        canonical_metric("auc")
    with pytest.raises(UserError, match="outside"):
        M.metrics_report([0, 1, 3], [0, 1, 1], task="multiclass", n_classes=3)
