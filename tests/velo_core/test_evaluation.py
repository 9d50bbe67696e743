import numpy as np
import pytest
from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix
from sklearn.metrics import precision_recall_fscore_support

from velo_core.datasets import load_dataset
from velo_core.evaluation import (
    classification_report,
    confusion_matrix,
    per_class_scores,
    predict_classes,
)
from velo_core.models import build_model


@pytest.fixture
def labels_and_predictions():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=200)
    predictions = np.where(rng.random(200) < 0.7, labels, rng.integers(0, 4, 200))
    return labels, predictions


def test_confusion_matrix_matches_sklearn(labels_and_predictions):
    labels, predictions = labels_and_predictions
    expected = sklearn_confusion_matrix(labels, predictions, labels=range(4))
    np.testing.assert_array_equal(confusion_matrix(labels, predictions, 4), expected)


def test_confusion_matrix_counts_absent_classes():
    matrix = confusion_matrix(np.array([0, 0]), np.array([0, 1]), 3)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 0, 0], [0, 0, 0]])


def test_confusion_matrix_rejects_label_out_of_range():
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        confusion_matrix(np.array([0, 2]), np.array([0, 1]), 2)


def test_confusion_matrix_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        confusion_matrix(np.array([0, 1]), np.array([0]), 2)


def test_scores_match_sklearn(labels_and_predictions):
    labels, predictions = labels_and_predictions
    precision, recall, f1 = per_class_scores(confusion_matrix(labels, predictions, 4))
    expected = precision_recall_fscore_support(
        labels, predictions, labels=range(4), zero_division=0
    )
    np.testing.assert_allclose(precision, expected[0])
    np.testing.assert_allclose(recall, expected[1])
    np.testing.assert_allclose(f1, expected[2])


def test_scores_of_never_predicted_class_are_zero():
    precision, recall, f1 = per_class_scores(np.array([[2, 0], [3, 0]]))
    assert precision[1] == 0.0
    assert recall[1] == 0.0
    assert f1[1] == 0.0


def test_report_matches_model_predictions():
    dataset = load_dataset("iris")
    model = build_model("linear", 4, 3)
    report = classification_report(model, dataset)
    predicted = predict_classes(model, dataset.x_val)
    matrix = np.array(report.confusion_matrix)
    assert report.label_names == ("setosa", "versicolor", "virginica")
    assert matrix.sum() == len(dataset.y_val)
    assert np.trace(matrix) == int(np.sum(predicted == dataset.y_val))
    assert report.support == tuple(np.bincount(dataset.y_val, minlength=3))


def test_report_as_dict_holds_lists():
    report = classification_report(build_model("linear", 4, 3), load_dataset("iris"))
    as_dict = report.as_dict()
    assert as_dict["confusion_matrix"] == [list(row) for row in report.confusion_matrix]
    assert as_dict["f1"] == list(report.f1)


def test_report_of_regression_is_none():
    dataset = load_dataset("diabetes")
    assert classification_report(build_model("linear", 10, 1), dataset) is None
