"""evaluation/labels.py: the one label validator (every check, every task) and the one probabilities ->
predictions function (every task kind), against plain numpy."""
import numpy as np
import pytest

from sentiment_discovery.errors import UserError
from sentiment_discovery.evaluation.labels import check_labels, infer_task, predict_labels


def test_valid_labels_come_back_as_int64_for_every_task():
    for labels, task in (([0.0, 1.0, 1.0], "binary"), ([0, 3, 2], "multiclass"), ([[0, 1], [1, 1]], "multilabel")):
        checked = check_labels(labels, task=task)
        assert checked.dtype == np.int64 and checked.tolist() == np.asarray(labels).astype(int).tolist()
        assert infer_task(labels) == task
        assert check_labels(labels).tolist() == checked.tolist()  # no task: the one the labels imply
    assert check_labels([0, 1, 2], task="multiclass", n_classes=3).tolist() == [0, 1, 2]


@pytest.mark.parametrize("labels, options, message", [
    (["a", "b"], {}, "labels must be numeric labels, got dtype <U1"),
    (np.zeros((2, 2, 2)), {}, r"labels must be 1-D \(class ids\) or 2-D \(multi-label 0/1\), got shape \(2, 2, 2\)"),
    (np.zeros(0), {}, "labels has no rows to score"),
    ([0.0, np.nan, 1.0], {}, "labels contains NaN at row 1"),
    ([[0.0, 1.0], [np.inf, 0.0]], {}, "labels contains infinity at row 1"),
    ([0, 1], {"same_shape_as": ("y_pred", np.zeros(3))}, r"labels has shape \(2,\) but y_pred has shape \(3,\)"),
    ([0, 1], {"same_rows_as": ("the features", np.zeros((3, 4)))}, "labels has 2 rows but the features has 3"),
    ([0, 1], {"task": "regression"}, "unknown task 'regression'; choose one of: binary, multiclass, multilabel"),
    ([0, 1], {"task": "multilabel"}, r"task 'multilabel' needs \(N, L\) 0/1 labels, got shape \(2,\)"),
    ([[0, 1]], {"task": "binary"}, r"task 'binary' needs 1-D labels, got shape \(1, 2\)"),
    ([0, 2, 1], {"task": "binary"}, "labels must hold only 0/1 values, found 2"),
    ([[0, 1], [2, 0]], {}, "labels must hold only 0/1 values, found 2"),
    ([0.0, 1.5], {"task": "multiclass"}, "labels must hold integer class ids, found 1.5"),
    ([0, -1, 2], {}, "labels holds class id -1, below 0"),
    ([0, 3, 1, 5], {"task": "multiclass", "n_classes": 3}, r"labels holds class id 3, outside 0\.\.2"),
    ([0, 3], {"n_classes": 3, "classes_from": "training"},
     r"labels holds class id 3, outside the training classes 0\.\.2"),
])
def test_each_check_names_the_array_and_its_problem(labels, options, message):
    with pytest.raises(UserError, match=message):
        check_labels(labels, **options)


def test_the_name_given_is_the_name_reported():
    with pytest.raises(UserError, match="^validation labels contains NaN at row 0$"):
        check_labels([np.nan], "validation labels")


def test_binary_predictions_from_one_column_or_a_vector():
    probs = np.array([0.2, 0.5, 0.51, 0.9])
    assert predict_labels(probs, "binary").tolist() == [0, 0, 1, 1]  # strict: 0.5 is not above 0.5
    assert predict_labels(probs[:, None], "binary").tolist() == [0, 0, 1, 1]
    assert predict_labels(probs[:, None], "binary", [0.3]).tolist() == [0, 1, 1, 1]
    assert predict_labels(probs, "binary").dtype == np.int64


def test_multilabel_predictions_with_per_column_thresholds():
    rng = np.random.default_rng(0)
    probs = rng.random((50, 3)).astype(np.float32)
    thresholds = np.array([0.2, 0.5, 0.8])
    predicted = predict_labels(probs, "multilabel", thresholds)
    assert predicted.shape == (50, 3) and predicted.dtype == np.int64
    assert np.array_equal(predicted, (probs.astype(np.float64) > thresholds).astype(np.int64))
    assert np.array_equal(predict_labels(probs, "multilabel"), (probs > 0.5).astype(np.int64))
    with pytest.raises(UserError, match="2 thresholds given for 3 classes"):
        predict_labels(probs, "multilabel", [0.5, 0.5])


def test_multiclass_predictions_are_the_most_probable_class():
    probs = np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3], [0.3, 0.3, 0.4]], dtype=np.float32)
    predicted = predict_labels(probs, "multiclass", thresholds=[0.9, 0.9, 0.9])  # thresholds do not apply
    assert predicted.tolist() == [1, 0, 2] and predicted.dtype == np.int64
    with pytest.raises(UserError, match="unknown task"):
        predict_labels(probs, "softmax")
