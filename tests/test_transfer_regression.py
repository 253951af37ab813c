"""L1 logistic-regression sweep and neuron selection on synthetic features with a planted neuron."""
import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from sentiment_discovery.errors import UserError
from sentiment_discovery.transfer import regression as R

CS = 2.0 ** np.arange(-6, 1, 2)


def planted(seed=0, n=400, features=32, neuron=7, sign=-1.0):
    """Feature `neuron` decides the label (through `sign`); the rest is noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, features)).astype(np.float32)
    y = (sign * x[:, neuron] + 0.1 * rng.normal(0, 1, n) > 0).astype(int)
    return x, y


def split(x, y, n_train):
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def test_sweep_finds_planted_neuron_and_its_sign():
    train_x, train_y, val_x, val_y = split(*planted(), 300)
    result = R.sweep_logistic_regression(train_x, train_y, val_x, val_y, cs=CS, metric="acc", seed=0)
    assert result.val_score > 0.95
    assert result.best_c in result.cs and len(result.val_scores) == len(CS)
    assert result.val_score == pytest.approx(max(result.val_scores))
    neurons, signs = R.top_neurons(result.weights, 1)
    assert neurons.tolist() == [7] and signs.tolist() == [-1]
    assert result.weights.shape == (32,) and 1 <= result.n_nonzero <= 32
    probs = R.probabilities(result, val_x)
    assert probs.shape == (100,) and np.all((probs >= 0) & (probs <= 1))
    assert R.score(result, val_x, val_y)["accuracy"] == pytest.approx(result.val_score)
    fresh = LogisticRegression(C=result.best_c, l1_ratio=1.0, solver="liblinear", random_state=0)
    fresh.fit(train_x.astype(np.float64), train_y)  # the kept model is the train-only fit at best C
    assert np.allclose(fresh.coef_[0], result.weights)
    summary = json.loads(json.dumps(result.to_dict()))
    assert summary["best_c"] == result.best_c and summary["n_features"] == 32


def test_fit_on_and_drop_neurons():
    train_x, train_y, val_x, val_y = split(*planted(1), 300)
    only = R.fit_on_neurons(train_x, train_y, val_x, val_y, [7], cs=CS)
    assert only.val_score > 0.95 and only.weights.shape == (1,)
    assert R.probabilities(only, val_x).shape == (100,)  # full-width features are sliced
    dropped = R.drop_neurons(train_x, train_y, val_x, val_y, [7], cs=CS)
    assert dropped.val_score < 0.75 and dropped.weights.shape == (31,)
    assert 7 not in dropped.feature_index


def test_mcc_metric_and_standardisation():
    train_x, train_y, val_x, val_y = split(*planted(2, sign=1.0), 300)
    result = R.sweep_logistic_regression(train_x * 50, train_y, val_x * 50, val_y, cs=CS, metric="mcc",
                                         standardize=True)
    assert result.metric == "mcc" and result.val_score > 0.9
    assert R.top_neurons(result.weights, 1)[1].tolist() == [1]


def test_multilabel_one_model_per_label():
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, (400, 16))
    y = np.stack([x[:, 2] > 0, x[:, 5] < 0, x[:, 9] > 0.5], axis=1).astype(int)  # (N, 3)
    result = R.sweep_logistic_regression(x[:300], y[:300], x[300:], y[300:], cs=CS)
    assert result.task == "multilabel" and result.weights.shape == (3, 16)
    assert len(result.val_per_label) == 3 and min(result.val_per_label) > 0.9
    assert result.val_score == pytest.approx(np.mean(result.val_per_label))
    assert R.probabilities(result, x[300:]).shape == (100, 3)
    assert [int(np.argmax(np.abs(w))) for w in result.weights] == [2, 5, 9]


def test_multiclass_one_vs_rest():
    rng = np.random.default_rng(4)
    x = rng.normal(0, 1, (450, 12))
    y = np.digitize(x[:, 4], [-0.5, 0.5])  # 3 classes ordered by feature 4
    result = R.sweep_logistic_regression(x[:350], y[:350], x[350:], y[350:], cs=CS)
    assert result.task == "multiclass" and result.weights.shape == (3, 12)
    probs = R.probabilities(result, x[350:])
    assert probs.shape == (100, 3) and np.allclose(probs.sum(axis=1), 1)
    assert result.val_score > 0.8
    assert R.top_neurons(result.weights, 1)[0].tolist() == [4]


def test_bad_inputs_raise_user_errors():
    x, y = planted(5, n=60)
    with pytest.raises(UserError, match="rows"):
        R.sweep_logistic_regression(x, y[:-1], x, y, cs=CS)
    with pytest.raises(UserError, match="NaN"):
        bad = x.copy()
        bad[3, 2] = np.nan
        R.sweep_logistic_regression(bad, y, x, y, cs=CS)
    with pytest.raises(UserError, match="only value"):
        R.sweep_logistic_regression(x, np.zeros(60, int), x, y, cs=CS)
    with pytest.raises(UserError, match="columns"):
        R.sweep_logistic_regression(x, y, x[:, :5], y, cs=CS)
    with pytest.raises(UserError, match="outside"):
        R.fit_on_neurons(x, y, x, y, [40], cs=CS)
    with pytest.raises(UserError, match="neurons"):
        R.top_neurons(np.ones(4), 5)


def test_a_tie_goes_to_a_fit_that_uses_the_feature():
    """One weak feature: every C from 2^-5 on ties at the majority score; the smallest of those Cs zeroes the
    weight, a larger one keeps it. The sweep keeps a fit with a non-zero weight (a constant predictor would
    say nothing about the neuron)."""
    from sentiment_discovery.transfer.regression import sweep_logistic_regression
    rng = np.random.default_rng(0)
    y = (np.arange(200) < 150).astype(np.float32)
    rng.normal(0, 0.1, 400)  # the draws the noise below was chosen after
    x = (y * 0.05 + rng.normal(0, 0.1, 200)).astype(np.float32)[:, None]
    result = sweep_logistic_regression(x, y, x, y)
    best = max(result.val_scores)
    tied = [c for c, s in zip(result.cs, result.val_scores) if s == best]
    assert len(tied) > 1 and result.best_c != tied[0]
    assert result.n_nonzero == 1 and result.val_score == best
