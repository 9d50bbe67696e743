import numpy as np
import pytest

from velo_core import export, tflite_runtime
from velo_core.config import TrainConfig
from velo_core.deployable import Preprocessing, with_preprocessing
from velo_core.models import import_keras
from velo_core.training import train

# Share of validation rows where the raw int8 file must pick the trained model's
# class. Measured on iris (30 rows), seed 0: 1.0.
RAW_INT8_ARGMAX_AGREEMENT = 0.9
# Tolerance between the raw-input model on raw rows and the trained model on
# standardised rows, which differ by float32 rounding of (x * std + mean - mean) / std.
# The raw float32 TFLite file differed by at most 7.5e-6 relative on iris.
LOGITS_RTOL = 1e-4
LOGITS_ATOL = 1e-5


def raw_setup(config):
    result = train(config)
    preprocessing = Preprocessing.from_dataset(result.dataset)
    raw_x_val = preprocessing.raw_features(result.dataset.x_val)
    expected = np.asarray(result.model(result.dataset.x_val))
    if preprocessing.is_regression:
        expected = preprocessing.target_mean + preprocessing.target_std * expected
    return result, preprocessing, raw_x_val, expected


@pytest.fixture(scope="module")
def iris():
    return raw_setup(TrainConfig(dataset="iris", model="mlp", epochs=30))


@pytest.fixture(scope="module")
def diabetes():
    return raw_setup(TrainConfig(dataset="diabetes", model="mlp", epochs=20))


def export_raw(setup, directory):
    result, preprocessing, _, _ = setup
    sample = export.representative_sample(result.dataset.x_train)
    return export.export_raw_model(
        result.model, directory, "job-1", sample, preprocessing
    )


@pytest.fixture(scope="module")
def iris_files(iris, tmp_path_factory):
    return export_raw(iris, tmp_path_factory.mktemp("iris"))


@pytest.fixture(scope="module")
def diabetes_files(diabetes, tmp_path_factory):
    return export_raw(diabetes, tmp_path_factory.mktemp("diabetes"))


def load_safely(path):
    return import_keras().saving.load_model(path, safe_mode=True)


def test_raw_keras_classifier_matches_logits(iris, iris_files):
    _, _, raw_x_val, expected = iris
    outputs = np.asarray(load_safely(iris_files["keras"])(raw_x_val))
    np.testing.assert_allclose(outputs, expected, rtol=LOGITS_RTOL, atol=LOGITS_ATOL)


def test_raw_keras_regression_returns_target_units(diabetes, diabetes_files):
    _, _, raw_x_val, expected = diabetes
    outputs = np.asarray(load_safely(diabetes_files["keras"])(raw_x_val))
    np.testing.assert_allclose(outputs, expected, rtol=LOGITS_RTOL)


def test_raw_keras_file_has_stock_layers_only(iris_files):
    model = load_safely(iris_files["keras"])
    names = [layer.__class__.__name__ for layer in model.layers]
    assert names == ["InputLayer", "Normalization", "Functional"]


def test_raw_tflite_classifier_matches_logits(iris, iris_files):
    _, _, raw_x_val, expected = iris
    outputs = tflite_runtime.run_tflite(iris_files["tflite"], raw_x_val)
    np.testing.assert_allclose(outputs, expected, rtol=LOGITS_RTOL, atol=LOGITS_ATOL)


def test_raw_tflite_regression_returns_target_units(diabetes, diabetes_files):
    _, _, raw_x_val, expected = diabetes
    outputs = tflite_runtime.run_tflite(diabetes_files["tflite"], raw_x_val)
    np.testing.assert_allclose(outputs, expected, rtol=LOGITS_RTOL)


def test_raw_int8_picks_same_class(iris, iris_files):
    _, _, raw_x_val, expected = iris
    outputs = tflite_runtime.run_tflite(iris_files["tflite-int8"], raw_x_val)
    agreement = np.mean(outputs.argmax(axis=1) == expected.argmax(axis=1))
    assert agreement >= RAW_INT8_ARGMAX_AGREEMENT


def test_raw_int8_kept_when_it_follows_float32(iris_files, tmp_path):
    assert "tflite-int8" in iris_files
    directory = iris_files["tflite"].parent
    assert not export.raw_int8_rejection_path(directory, "job-1").exists()


@pytest.fixture(scope="module")
def wine_files(tmp_path_factory):
    setup = raw_setup(TrainConfig(dataset="wine", model="mlp", epochs=30))
    directory = tmp_path_factory.mktemp("wine")
    return directory, export_raw(setup, directory)


def test_raw_int8_dropped_for_mixed_feature_ranges(wine_files):
    # Wine's features span 0.1 (hue) to 1680 (proline); one int8 input scale
    # measured 0.67 class agreement with the float32 file.
    directory, files = wine_files
    assert "tflite-int8" not in files
    assert not (directory / "job-1.raw.int8.tflite").exists()
    reason = export.raw_int8_rejection_path(directory, "job-1").read_text()
    assert "at least 95% needed" in reason


def test_export_missing_skips_rejected_raw_int8(wine_files, monkeypatch):
    directory, _ = wine_files
    for fmt in export.FORMATS:
        export.artifact_path(directory, "job-1", fmt).touch()
    monkeypatch.setattr(export, "export_model", pytest.fail)
    monkeypatch.setattr(export, "export_raw_model", pytest.fail)
    written = export.export_missing(None, directory, "job-1", None, object())
    assert "tflite-int8" not in written["raw"]
    assert export.is_exported(directory, "job-1")


def test_int8_agreement_regression_is_r_squared(tmp_path, monkeypatch):
    outputs = {
        "a": np.array([[0.0], [1.0], [2.0], [3.0]]),
        "b": np.array([[0.0], [1.0], [2.0], [4.0]]),
    }
    monkeypatch.setattr(tflite_runtime, "run_tflite", lambda path, _x: outputs[path])
    assert tflite_runtime.int8_agreement("a", "b", None) == pytest.approx(
        1 - 0.25 / 1.25
    )


def test_raw_files_are_named_raw(iris_files):
    names = sorted(path.name for path in iris_files.values())
    assert names == ["job-1.raw.int8.tflite", "job-1.raw.keras", "job-1.raw.tflite"]


def test_raw_conv_digits_keeps_shapes():
    result, _, raw_x_val, expected = raw_setup(
        TrainConfig(dataset="digits", model="conv", epochs=1)
    )
    raw_model = with_preprocessing(
        result.model, Preprocessing.from_dataset(result.dataset)
    )
    outputs = np.asarray(raw_model(raw_x_val))
    assert raw_model.input_shape == (None, 64)
    assert outputs.shape == (len(raw_x_val), 10)
    np.testing.assert_allclose(outputs, expected, rtol=LOGITS_RTOL, atol=LOGITS_ATOL)


def image_model(keras):
    images = keras.Input(shape=(8, 8, 1))
    hidden = keras.layers.Flatten()(images)
    return keras.Model(images, keras.layers.Dense(3)(hidden))


def test_raw_image_input_standardises_each_pixel():
    keras = import_keras()
    model = image_model(keras)
    rng = np.random.default_rng(0)
    preprocessing = Preprocessing(
        feature_mean=rng.normal(size=64), feature_std=rng.uniform(0.5, 2, size=64)
    )
    raw_images = rng.normal(size=(5, 8, 8, 1)).astype(np.float32)
    standardised = (
        raw_images - preprocessing.feature_mean.reshape(8, 8, 1)
    ) / preprocessing.feature_std.reshape(8, 8, 1)
    outputs = np.asarray(with_preprocessing(model, preprocessing)(raw_images))
    np.testing.assert_allclose(outputs, np.asarray(model(standardised)), atol=1e-5)


def test_raw_rejects_wrong_feature_count():
    keras = import_keras()
    preprocessing = Preprocessing(feature_mean=np.zeros(10), feature_std=np.ones(10))
    with pytest.raises(ValueError, match="one value per feature"):
        with_preprocessing(image_model(keras), preprocessing)


def test_preprocessing_rejects_zero_std():
    with pytest.raises(ValueError, match="feature_std must be positive"):
        Preprocessing(feature_mean=np.zeros(2), feature_std=np.array([1.0, 0.0]))


def test_preprocessing_rejects_half_target():
    with pytest.raises(ValueError, match="both set"):
        Preprocessing(np.zeros(2), np.ones(2), target_mean=3.0)


def test_preprocessing_dict_round_trip():
    original = Preprocessing(np.arange(3.0), np.ones(3), 150.0, 75.0)
    restored = Preprocessing.from_dict(original.as_dict())
    assert restored.as_dict() == original.as_dict()


def test_export_missing_keeps_existing_files(tmp_path):
    for inputs in export.INPUTS:
        for fmt in export.FORMATS:
            export.artifact_path(tmp_path, "job-1", fmt, inputs).write_bytes(b"x")
    preprocessing = Preprocessing(np.zeros(2), np.ones(2))
    # No model: a conversion attempt would fail, so nothing may be converted.
    written = export.export_missing(
        None, tmp_path, "job-1", np.zeros((1, 2)), preprocessing
    )
    assert set(written) == set(export.INPUTS)
    assert written["raw"]["tflite"].read_bytes() == b"x"
