"""Wrap a trained model with its preprocessing, so that it takes raw feature values.

The trained models take standardised features, `(x - feature_mean) / feature_std`
with the training split's statistics, and regression models return standardised
targets. `with_preprocessing` puts a Keras Normalization layer in front of the model
and, for regression, a Rescaling layer after its output. The result takes the feature
values of the data file as they are and returns class logits, or targets in their own
unit.
Both layers are stock Keras layers, so the saved file loads with safe_mode=True and
converts to TFLite like the model itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from velo_core import catalog


@dataclass(frozen=True)
class Preprocessing:
    """The training split's statistics that standardise a model's data.

    Attributes:
        feature_mean: one float32 mean per feature, in input order.
        feature_std: one float32 standard deviation per feature; a constant
            feature has 1 here, as the datasets store it.
        target_mean: the regression target's mean; None for classification.
        target_std: the regression target's standard deviation; None for
            classification.
    """

    feature_mean: np.ndarray
    feature_std: np.ndarray
    target_mean: float | None = None
    target_std: float | None = None

    def __post_init__(self) -> None:
        mean = np.asarray(self.feature_mean, dtype=np.float32).reshape(-1)
        std = np.asarray(self.feature_std, dtype=np.float32).reshape(-1)
        if mean.shape != std.shape or mean.size == 0:
            raise ValueError(
                "invalid statistics: feature_mean and feature_std need one value per "
                "feature, the same count in both. "
                f"Received: {mean.size} means and {std.size} standard deviations"
            )
        if not np.all(std > 0):
            raise ValueError(
                "feature_std must be positive. Store 1 for a constant feature. "
                f"Received: feature_std={std.tolist()}"
            )
        _check_target_statistics(self.target_mean, self.target_std)
        object.__setattr__(self, "feature_mean", mean)
        object.__setattr__(self, "feature_std", std)

    @property
    def is_regression(self) -> bool:
        """Returns whether the model's outputs are standardised targets."""
        return self.target_mean is not None

    @classmethod
    def from_dataset(cls, dataset) -> Preprocessing:
        """Returns the statistics of a `velo_core.datasets.Dataset`."""
        is_regression = dataset.info.task == catalog.REGRESSION
        return cls(
            feature_mean=dataset.feature_mean,
            feature_std=dataset.feature_std,
            target_mean=float(dataset.target_mean) if is_regression else None,
            target_std=float(dataset.target_std) if is_regression else None,
        )

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> Preprocessing:
        """Returns the statistics of a dict with the keys of `as_dict`.

        Other keys (such as the job's "formula") are ignored.
        """
        return cls(
            feature_mean=np.asarray(fields["feature_mean"], dtype=np.float32),
            feature_std=np.asarray(fields["feature_std"], dtype=np.float32),
            target_mean=fields.get("target_mean"),
            target_std=fields.get("target_std"),
        )

    def as_dict(self) -> dict[str, Any]:
        """Returns the statistics as JSON-ready lists and numbers."""
        return {
            "feature_mean": self.feature_mean.tolist(),
            "feature_std": self.feature_std.tolist(),
            "target_mean": self.target_mean,
            "target_std": self.target_std,
        }

    def raw_features(self, standardised: np.ndarray) -> np.ndarray:
        """Maps rows of standardised features back to raw values, as float32."""
        rows = np.asarray(standardised, dtype=np.float32)
        row_shape = rows.shape[1:]
        if math.prod(row_shape) != self.feature_mean.size:
            raise ValueError(
                f"each row needs {self.feature_mean.size} features. "
                f"Received: rows of shape {row_shape}"
            )
        mean = self.feature_mean.reshape(row_shape)
        std = self.feature_std.reshape(row_shape)
        return (rows * std + mean).astype(np.float32)


def _check_target_statistics(mean: float | None, std: float | None) -> None:
    if (mean is None) != (std is None):
        raise ValueError(
            "target_mean and target_std must be both set (regression) or both None "
            f"(classification). Received: target_mean={mean}, target_std={std}"
        )
    if std is not None and not std > 0:
        raise ValueError(f"target_std must be positive. Received: target_std={std}")


def with_preprocessing(model, preprocessing: Preprocessing):
    """Returns a Keras model that takes raw features and runs `model` on them.

    Args:
        model: a built Keras model with one input that takes standardised
            features: a vector of features, or any shape with as many values
            (the 8x8x1 images of digits, for instance), in the statistics' order.
        preprocessing: the training split's statistics.

    Returns:
        A `keras.Model` with `model` inside. It standardises its input with a
        Normalization layer and, for regression, maps the outputs back to the
        target's unit with `target_mean + target_std * output`.
    """
    from velo_core.models import import_keras

    keras = import_keras()
    input_shape = _single_input_shape(model, preprocessing.feature_mean.size)
    inputs = keras.Input(shape=input_shape, name="raw_features")
    # Every axis but the batch one is kept, so each input value has its own
    # statistics. Keras divides by max(sqrt(variance), 1e-7), so by the stored std.
    standardise = keras.layers.Normalization(
        axis=tuple(range(1, len(input_shape) + 1)),
        mean=preprocessing.feature_mean.reshape(input_shape),
        variance=np.square(preprocessing.feature_std).reshape(input_shape),
        name="standardise",
    )
    outputs = model(standardise(inputs))
    if preprocessing.is_regression:
        outputs = keras.layers.Rescaling(
            scale=float(preprocessing.target_std),
            offset=float(preprocessing.target_mean),
            name="target_units",
        )(outputs)
    return keras.Model(inputs, outputs, name=f"{model.name}_raw_inputs")


def _single_input_shape(model, num_features: int) -> tuple[int, ...]:
    if len(model.inputs) != 1:
        raise ValueError(
            f"the model must have one input. Received: {len(model.inputs)} inputs"
        )
    input_shape = tuple(model.inputs[0].shape[1:])
    if None in input_shape or math.prod(input_shape) != num_features:
        raise ValueError(
            f"the model input needs one value per feature ({num_features}). "
            f"Received: input shape {input_shape}"
        )
    return input_shape
