"""Evaluate a classifier on the validation split: confusion matrix, per-class scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from velo_core import catalog
from velo_core.datasets import Dataset

# Samples per prediction call; the largest bundled validation split fits in one.
PREDICT_BATCH_SIZE = 1024


@dataclass(frozen=True)
class ClassificationReport:
    """Holds how a classifier's validation predictions fall per class.

    Attributes:
        label_names: the name of each class, by class index.
        confusion_matrix: counts; row = true class, column = predicted class.
        precision: per class, correct predictions of it over all predictions of it.
        recall: per class, correct predictions of it over its samples.
        f1: per class, the harmonic mean of precision and recall.
        support: per class, its number of validation samples.

    A score whose denominator is 0 (a class never predicted) is 0.
    """

    label_names: tuple[str, ...]
    confusion_matrix: tuple[tuple[int, ...], ...]
    precision: tuple[float, ...]
    recall: tuple[float, ...]
    f1: tuple[float, ...]
    support: tuple[int, ...]

    def as_dict(self) -> dict[str, Any]:
        """Returns the report as a JSON-ready dict of lists."""
        return {
            "label_names": list(self.label_names),
            "confusion_matrix": [list(row) for row in self.confusion_matrix],
            "precision": list(self.precision),
            "recall": list(self.recall),
            "f1": list(self.f1),
            "support": list(self.support),
        }


def confusion_matrix(
    labels: np.ndarray, predictions: np.ndarray, num_classes: int
) -> np.ndarray:
    """Returns the (num_classes, num_classes) count matrix, rows = true class."""
    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    if labels.shape != predictions.shape:
        raise ValueError(
            "labels and predictions must have the same shape. Received: "
            f"labels.shape={labels.shape}, predictions.shape={predictions.shape}"
        )
    for name, values in (("labels", labels), ("predictions", predictions)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(
                f"{name} must lie in [0, {num_classes}). Received: "
                f"{name} from {values.min()} to {values.max()}"
            )
    flat = labels * num_classes + predictions
    counts = np.bincount(flat, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def _safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    safe = np.where(denominator > 0, denominator, 1)
    return np.where(denominator > 0, numerator / safe, 0.0)


def per_class_scores(matrix: np.ndarray) -> tuple[np.ndarray, ...]:
    """Returns per-class precision, recall and F1 of a confusion matrix."""
    matrix = np.asarray(matrix, dtype=np.float64)
    correct = np.diag(matrix)
    precision = _safe_ratio(correct, matrix.sum(axis=0))
    recall = _safe_ratio(correct, matrix.sum(axis=1))
    f1 = _safe_ratio(2 * precision * recall, precision + recall)
    return precision, recall, f1


def predict_classes(model, x: np.ndarray) -> np.ndarray:
    """Returns the class index with the largest logit for each row of `x`."""
    logits = model.predict(x, batch_size=PREDICT_BATCH_SIZE, verbose=0)
    return np.argmax(np.asarray(logits), axis=-1)


def classification_report(model, dataset: Dataset) -> ClassificationReport | None:
    """Returns the report of `model` on the validation split; None for regression."""
    if dataset.info.task != catalog.CLASSIFICATION:
        return None
    num_classes = dataset.output_size
    matrix = confusion_matrix(
        dataset.y_val, predict_classes(model, dataset.x_val), num_classes
    )
    precision, recall, f1 = per_class_scores(matrix)
    return ClassificationReport(
        label_names=tuple(dataset.label_names),
        confusion_matrix=tuple(tuple(int(v) for v in row) for row in matrix),
        precision=tuple(float(v) for v in precision),
        recall=tuple(float(v) for v in recall),
        f1=tuple(float(v) for v in f1),
        support=tuple(int(v) for v in matrix.sum(axis=1)),
    )
