"""Load the bundled scikit-learn datasets as standardised train/validation splits."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn import datasets as sk_datasets
from sklearn.model_selection import train_test_split

from velo_core import catalog

_LOADERS = {
    "digits": sk_datasets.load_digits,
    "iris": sk_datasets.load_iris,
    "wine": sk_datasets.load_wine,
    "breast_cancer": sk_datasets.load_breast_cancer,
    "diabetes": sk_datasets.load_diabetes,
}


@dataclass(frozen=True)
class Dataset:
    """Holds one standardised train/validation split.

    Features are float32 and standardised with the training split's mean and
    standard deviation (kept here to standardise new inputs the same way). Labels
    are int32 class indices for classification. Regression targets are float32 and
    standardised the same way, so a mean squared error of 1 equals predicting the
    training mean whatever the target's unit, and `target_mean + target_std *
    output` maps a prediction back.
    """

    info: catalog.DatasetInfo
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    label_names: tuple[str, ...]
    feature_mean: np.ndarray
    feature_std: np.ndarray
    target_mean: float = 0.0
    target_std: float = 1.0

    @property
    def output_size(self) -> int:
        """Returns the number of model outputs: classes, or 1 for regression."""
        return self.info.num_classes or 1


def load_dataset(
    name: str,
    validation_split: float = catalog.DEFAULT_VALIDATION_SPLIT,
    seed: int = catalog.DEFAULT_SEED,
) -> Dataset:
    """Loads dataset `name` and splits it, stratified for classification.

    Args:
        name: a name from `catalog.DATASETS`.
        validation_split: fraction of the samples held out, in (0, 0.5].
        seed: seeds the shuffled split.

    Returns:
        A `Dataset` with standardised features.
    """
    info = catalog.dataset_info(name)
    catalog.check_validation_split(validation_split)
    catalog.check_seed(seed)
    bunch = _LOADERS[name]()
    features = np.asarray(bunch.data, dtype=np.float32)
    is_classification = info.task == catalog.CLASSIFICATION
    targets = bunch.target.astype(np.int32 if is_classification else np.float32)
    label_names = _label_names(bunch, is_classification)
    return split_dataset(info, features, targets, label_names, validation_split, seed)


def split_dataset(
    info: catalog.DatasetInfo,
    features: np.ndarray,
    targets: np.ndarray,
    label_names: tuple[str, ...],
    validation_split: float = catalog.DEFAULT_VALIDATION_SPLIT,
    seed: int = catalog.DEFAULT_SEED,
) -> Dataset:
    """Splits float32 `features` and `targets`, stratified for classification.

    Args:
        info: describes the data; its task decides stratification and scaling.
        features: (samples, features) float32.
        targets: int32 class indices or float32 regression targets.
        label_names: class names; empty for regression.
        validation_split: fraction of the samples held out, in (0, 0.5].
        seed: seeds the shuffled split.

    Returns:
        A `Dataset` with features (and regression targets) standardised with the
        training split's statistics.
    """
    catalog.check_validation_split(validation_split)
    catalog.check_seed(seed)
    is_classification = info.task == catalog.CLASSIFICATION
    _check_split_size(info, validation_split)
    x_train, x_val, y_train, y_val = train_test_split(
        features,
        targets,
        test_size=validation_split,
        random_state=seed,
        shuffle=True,
        stratify=targets if is_classification else None,
    )
    mean, std = _statistics(x_train)
    target_mean, target_std = (0.0, 1.0)
    if not is_classification:
        target_mean, target_std = (float(v) for v in _statistics(y_train))
    return Dataset(
        info=info,
        x_train=(x_train - mean) / std,
        y_train=_scale(y_train, target_mean, target_std),
        x_val=(x_val - mean) / std,
        y_val=_scale(y_val, target_mean, target_std),
        label_names=label_names,
        feature_mean=mean,
        feature_std=std,
        target_mean=target_mean,
        target_std=target_std,
    )


def _check_split_size(info: catalog.DatasetInfo, validation_split: float) -> None:
    # A stratified split needs at least one sample of every class on both sides.
    num_val = math.ceil(info.num_samples * validation_split)
    if info.num_classes and num_val < info.num_classes:
        smallest = info.num_classes / info.num_samples
        raise ValueError(
            f"validation_split must hold out at least one sample per class "
            f"({info.num_classes} of {info.num_samples} samples for {info.name!r}), "
            f"so at least {smallest:.3f}. Received: validation_split={validation_split}"
        )


def _statistics(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    # Constant features (the border pixels of digits) keep their centred value 0.
    std = np.where(std > 0, std, 1.0).astype(np.float32)
    return mean.astype(np.float32), std


def _scale(values: np.ndarray, mean: float, std: float) -> np.ndarray:
    if mean == 0.0 and std == 1.0:
        return values
    return ((values - mean) / std).astype(np.float32)


def _label_names(bunch, is_classification: bool) -> tuple[str, ...]:
    if not is_classification:
        return ()
    return tuple(str(name) for name in bunch.target_names)
