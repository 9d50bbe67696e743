import numpy as np
import pytest

from velo_core import catalog
from velo_core.datasets import load_dataset


@pytest.mark.parametrize("name", sorted(catalog.DATASETS))
def test_load_dataset_shapes_match_catalog(name):
    info = catalog.DATASETS[name]
    dataset = load_dataset(name, validation_split=0.2, seed=0)
    assert len(dataset.x_train) + len(dataset.x_val) == info.num_samples
    assert dataset.x_train.shape[1] == info.num_features
    assert dataset.x_val.shape[1] == info.num_features
    assert dataset.y_train.shape == (len(dataset.x_train),)


@pytest.mark.parametrize("split", [0.1, 0.25, 0.5])
def test_load_dataset_split_sizes(split):
    dataset = load_dataset("digits", validation_split=split, seed=0)
    assert len(dataset.x_val) == int(np.ceil(1797 * split))


def test_load_dataset_standardises_with_training_statistics():
    dataset = load_dataset("wine", seed=0)
    np.testing.assert_allclose(dataset.x_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(dataset.x_train.std(axis=0), 1.0, atol=1e-4)
    assert not np.allclose(dataset.x_val.mean(axis=0), 0.0, atol=1e-5)


def test_load_dataset_keeps_constant_features_finite():
    dataset = load_dataset("digits", seed=0)
    assert np.isfinite(dataset.x_train).all()
    assert np.isfinite(dataset.x_val).all()


def test_load_dataset_dtypes():
    digits = load_dataset("digits")
    diabetes = load_dataset("diabetes")
    assert digits.x_train.dtype == np.float32
    assert digits.y_train.dtype == np.int32
    assert diabetes.y_train.dtype == np.float32


def test_load_dataset_standardises_regression_target():
    dataset = load_dataset("diabetes", seed=0)
    assert abs(float(dataset.y_train.mean())) < 1e-5
    assert abs(float(dataset.y_train.std()) - 1.0) < 1e-4
    assert dataset.target_std > 1.0


def test_load_dataset_split_is_stratified():
    dataset = load_dataset("iris", validation_split=0.2, seed=3)
    assert np.bincount(dataset.y_val).tolist() == [10, 10, 10]


def test_load_dataset_same_seed_same_split():
    first = load_dataset("breast_cancer", seed=7)
    second = load_dataset("breast_cancer", seed=7)
    np.testing.assert_array_equal(first.x_val, second.x_val)


def test_load_dataset_other_seed_other_split():
    first = load_dataset("breast_cancer", seed=7)
    second = load_dataset("breast_cancer", seed=8)
    assert not np.array_equal(first.x_val, second.x_val)


def test_load_dataset_label_names():
    assert load_dataset("iris").label_names == ("setosa", "versicolor", "virginica")
    assert load_dataset("digits").label_names[3] == "3"
    assert load_dataset("diabetes").label_names == ()


@pytest.mark.parametrize("split", [0.0, 0.51, -0.1, "0.2"])
def test_load_dataset_rejects_split(split):
    with pytest.raises(ValueError, match="validation_split"):
        load_dataset("digits", validation_split=split)


def test_load_dataset_rejects_split_below_one_sample_per_class():
    with pytest.raises(ValueError, match="one sample per class"):
        load_dataset("iris", validation_split=0.01)


def test_load_dataset_rejects_unknown_name():
    with pytest.raises(ValueError, match="Received: dataset='mnist'"):
        load_dataset("mnist")
