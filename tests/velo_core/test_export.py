import numpy as np
import pytest

from velo_core import export, tflite_runtime
from velo_core.config import TrainConfig
from velo_core.deployable import Preprocessing
from velo_core.models import import_keras
from velo_core.training import train

# Share of validation samples where the int8 model must pick the Keras model's
# class. Measured over seeds 0-2: 1.0 on breast_cancer, 0.989 to 0.997 on digits.
INT8_ARGMAX_AGREEMENT = 0.95
# Float32 TFLite outputs differed from Keras by at most 5.7e-6 in the same runs.
FLOAT32_ATOL = 1e-4


@pytest.fixture(scope="module")
def trained():
    config = TrainConfig(dataset="breast_cancer", model="mlp", epochs=20)
    return train(config)


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    directory = tmp_path_factory.mktemp("export")
    sample = export.representative_sample(trained.dataset.x_train)
    return export.export_model(trained.model, directory, "job-1", sample)


def keras_outputs(trained):
    return np.asarray(trained.model(trained.dataset.x_val))


def test_export_writes_every_format(exported):
    assert set(exported) == set(export.FORMATS)
    assert all(path.stat().st_size > 0 for path in exported.values())


def test_export_float32_matches_keras(trained, exported):
    outputs = tflite_runtime.run_tflite(exported["tflite"], trained.dataset.x_val)
    np.testing.assert_allclose(outputs, keras_outputs(trained), atol=FLOAT32_ATOL)


def test_export_int8_argmax_agrees(trained, exported):
    outputs = tflite_runtime.run_tflite(exported["tflite-int8"], trained.dataset.x_val)
    expected = keras_outputs(trained).argmax(axis=1)
    agreement = np.mean(outputs.argmax(axis=1) == expected)
    assert agreement >= INT8_ARGMAX_AGREEMENT


def test_export_int8_file_is_quantised(exported):
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=str(exported["tflite-int8"]))
    assert interpreter.get_input_details()[0]["dtype"] == np.int8
    assert interpreter.get_output_details()[0]["dtype"] == np.int8


def test_export_keras_file_reloads(trained, exported):
    keras = import_keras()
    reloaded = keras.saving.load_model(exported["keras"], safe_mode=True)
    np.testing.assert_allclose(
        np.asarray(reloaded(trained.dataset.x_val)), keras_outputs(trained), atol=1e-6
    )


def test_export_artifact_path_rejects_unknown_format(tmp_path):
    with pytest.raises(ValueError, match="format must be one of"):
        export.artifact_path(tmp_path, "job-1", "onnx")


def test_export_artifact_path_marks_raw_inputs(tmp_path):
    path = export.artifact_path(tmp_path, "job-1", "tflite-int8", inputs="raw")
    assert path.name == "job-1.raw.int8.tflite"


def test_export_artifact_path_rejects_unknown_inputs(tmp_path):
    with pytest.raises(ValueError, match="inputs must be one of"):
        export.artifact_path(tmp_path, "job-1", "tflite", inputs="scaled")


def test_export_representative_sample_caps_rows():
    x = np.arange(1000, dtype=np.float32).reshape(500, 2)
    assert export.representative_sample(x, count=50).shape == (50, 2)


def test_export_int8_rejects_empty_sample(trained):
    with pytest.raises(ValueError, match="at least one row"):
        export.to_tflite(trained.model, np.zeros((0, 30), np.float32))


@pytest.fixture(scope="module")
def exported_in_child(trained, tmp_path_factory):
    keras_path = export.artifact_path(
        tmp_path_factory.mktemp("child"), "job-2", "keras"
    )
    trained.model.save(keras_path)
    sample = export.representative_sample(trained.dataset.x_train)
    preprocessing = Preprocessing.from_dataset(trained.dataset)
    return export.export_in_subprocess(keras_path, sample, preprocessing=preprocessing)


@pytest.mark.slow
def test_export_in_subprocess_writes_tflite(trained, exported_in_child):
    paths = exported_in_child["standardised"]
    outputs = tflite_runtime.run_tflite(paths["tflite"], trained.dataset.x_val)
    np.testing.assert_allclose(outputs, keras_outputs(trained), atol=FLOAT32_ATOL)


@pytest.mark.slow
def test_export_in_subprocess_writes_raw_tflite(trained, exported_in_child):
    preprocessing = Preprocessing.from_dataset(trained.dataset)
    raw_x_val = preprocessing.raw_features(trained.dataset.x_val)
    outputs = tflite_runtime.run_tflite(exported_in_child["raw"]["tflite"], raw_x_val)
    np.testing.assert_allclose(outputs, keras_outputs(trained), atol=FLOAT32_ATOL)


@pytest.mark.slow
def test_export_in_subprocess_removes_its_inputs(exported_in_child):
    # Breast cancer's features span 0.05 (smoothness) to 2500 (area), too wide for
    # one int8 input scale, so its raw int8 file is replaced by the reason why.
    directory = exported_in_child["raw"]["keras"].parent
    assert sorted(path.name for path in directory.iterdir()) == [
        "job-2.int8.tflite",
        "job-2.keras",
        "job-2.raw.int8.rejected.txt",
        "job-2.raw.keras",
        "job-2.raw.tflite",
        "job-2.tflite",
    ]
