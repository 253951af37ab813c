"""Threshold tuning: per-class grid search, global tweaks, dual / neutral splits, scalar cuts, AUC."""
import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from sentiment_discovery.errors import UserError
from sentiment_discovery.evaluation import threshold_search as T
from sentiment_discovery.evaluation.labels import predict_labels


def shifted_probabilities(seed=0, n=2000):
    """Two labels whose probabilities are mis-calibrated: the best cut is near 0.25 and 0.75, not 0.5."""
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, 2)) < 0.4).astype(int)
    centre = np.array([0.25, 0.75])
    noise = rng.normal(0, 0.08, (n, 2))
    probs = np.clip(centre + np.where(labels == 1, 0.12, -0.12) + noise, 0, 1)
    return probs, labels


def micro_f1(probs, labels, thresholds):
    return f1_score(labels, predict_labels(probs, "multilabel", thresholds), average="micro", zero_division=0)


def test_tuned_thresholds_beat_one_half():
    probs, labels = shifted_probabilities()
    result = T.best_thresholds(probs, labels, metric="f1")
    assert result.thresholds[0] == pytest.approx(0.25, abs=0.05)
    assert result.thresholds[1] == pytest.approx(0.75, abs=0.05)
    assert micro_f1(probs, labels, result.thresholds) > micro_f1(probs, labels, 0.5) + 0.1
    assert T.evaluate_thresholds(probs, labels, result.thresholds) == pytest.approx(
        micro_f1(probs, labels, result.thresholds))
    per_class = f1_score(labels, predict_labels(probs, "multilabel", result.thresholds), average=None)
    assert np.allclose(result.per_class, per_class)


def test_grid_search_matches_brute_force():
    rng = np.random.default_rng(1)
    probs, labels = rng.random((150, 1)), (rng.random((150, 1)) < 0.3).astype(int)
    grid = T.DEFAULT_GRID
    brute = [f1_score(labels[:, 0], probs[:, 0] > t, zero_division=0) for t in grid]
    result = T.best_thresholds(probs, labels, metric="f1")
    assert result.per_class[0] == pytest.approx(max(brute))
    assert result.thresholds[0] == pytest.approx(grid[int(np.argmax(brute))])


def test_global_tweaks_never_lower_the_micro_metric():
    probs, labels = shifted_probabilities(2, n=600)
    start = np.array([0.5, 0.5])
    before = T.evaluate_thresholds(probs, labels, start, "f1", micro=True)
    tweaked, after = T.global_tweaks(probs, labels, start, n=300, metric="f1", seed=0)
    assert after >= before
    assert after == pytest.approx(micro_f1(probs, labels, tweaked))
    assert after > before  # 0.5 is far from the optimum, random steps must find something better


def test_dual_thresholds_positive_negative_neutral():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 3, 400)  # 0 neg, 1 neutral, 2 pos
    labels = np.stack([truth == 2, truth == 0], axis=1).astype(int)  # (positive, negative)
    probs = np.stack([np.where(truth == 2, 0.7, 0.3), np.where(truth == 0, 0.35, 0.1)], axis=1)
    probs = probs + rng.normal(0, 0.03, probs.shape)
    (t_pos, t_neg), accuracy = T.dual_thresholds(probs, labels)
    assert accuracy > 0.97
    assert 0.35 < t_pos < 0.65 and 0.15 < t_neg < 0.3
    predicted = lambda t: T.three_way(probs[:, 0] > t[0], probs[:, 1] > t[1])  # noqa: E731
    assert np.mean(predicted((t_pos, t_neg)) == truth) == pytest.approx(accuracy)
    assert np.mean(predicted((0.5, 0.5)) == truth) < accuracy


def test_neutral_thresholds_split_a_scalar():
    rng = np.random.default_rng(4)
    truth = rng.integers(0, 3, 600)
    scores = np.array([-2.0, 0.3, 3.0])[truth] + rng.normal(0, 0.3, 600)
    (low, high), accuracy = T.neutral_thresholds(scores, truth)
    assert low <= high and -1.6 < low < 0.0 and 0.6 < high < 2.7
    assert accuracy == pytest.approx(np.mean(T.three_way(scores > high, scores <= low) == truth))
    assert accuracy > 0.95


def test_scalar_threshold_finds_negatively_aligned_neuron():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, 500)
    scores = np.where(labels == 1, -1.0, 1.0) + rng.normal(0, 0.4, 500)
    threshold, accuracy, sign = T.scalar_threshold(scores, labels, "acc")
    assert sign == -1 and abs(threshold) < 0.5
    assert accuracy == pytest.approx(np.mean((scores * sign > threshold * sign) == labels))
    assert accuracy > 0.95


def test_roc_auc_per_class_and_constant_column():
    probs, labels = shifted_probabilities(6, n=300)
    aucs = T.roc_auc(probs, labels)
    assert aucs[0] == pytest.approx(roc_auc_score(labels[:, 0], probs[:, 0]))
    assert T.roc_auc(probs[:, :1], np.zeros((300, 1), int)) == [0.5]


def test_bad_inputs_raise_user_errors():
    with pytest.raises(UserError, match="shape"):
        T.best_thresholds(np.zeros((5, 2)), np.zeros((5, 3), int))
    with pytest.raises(UserError, match="NaN"):
        T.best_thresholds(np.array([0.1, np.nan]), np.array([0, 1]))
    with pytest.raises(UserError, match="0/1"):
        T.best_thresholds(np.array([0.1, 0.2]), np.array([0, 2]))
    with pytest.raises(UserError, match="2 columns"):
        T.dual_thresholds(np.zeros((4, 3)), np.zeros((4, 2), int))
    with pytest.raises(UserError, match="thresholds given"):
        predict_labels(np.zeros((4, 3)), "multilabel", [0.5, 0.5])
