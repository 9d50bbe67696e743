import math

import numpy as np
import pytest

from velo_core import layer_spec
from velo_core.config import TrainConfig
from velo_core.layer_spec import KerasModelFile, ModelFileError
from velo_core.models import import_keras
from velo_core.training import train
from velo_core.user_data import UserDatasetSource

keras = import_keras()

SPEC = {
    "layers": [
        {"type": "dense", "units": 16, "activation": "relu"},
        {"type": "dropout", "rate": 0.1},
        {"type": "layer_normalization"},
        {"type": "dense", "units": 8, "activation": "tanh"},
    ]
}


def test_parse_fills_defaults():
    spec = layer_spec.parse_layer_spec({"layers": [{"type": "dense", "units": 4}]})
    assert spec.layers[0]["activation"] == "linear"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"layers": []}, "list of 1 to 32"),
        ({"layers": [{"type": "lambda"}]}, "type is one of"),
        ({"layers": [{"type": "dense"}]}, "needs \\['units'\\]"),
        ({"layers": [{"type": "dense", "units": 0}]}, "layers\\[0\\].units"),
        ({"layers": [{"type": "dense", "units": 10**6}]}, "from 1 to 4096"),
        ({"layers": [{"type": "dense", "units": True}]}, "units must be an integer"),
        ({"layers": [{"type": "dense", "units": 4, "activation": "exec"}]}, "one of"),
        ({"layers": [{"type": "dropout", "rate": 0.95}]}, "rate must be a number"),
        ({"layers": [{"type": "dense", "units": 4, "code": "x"}]}, "unknown keys"),
        ({"layers": [], "extra": 1}, 'one key "layers"'),
    ],
)
def test_parse_rejects(spec, message):
    with pytest.raises(ValueError, match=message):
        layer_spec.parse_layer_spec(spec)


def test_count_matches_keras():
    spec = layer_spec.parse_layer_spec(SPEC)
    model = layer_spec.build_from_spec(spec, 5, 3)
    built = sum(math.prod(v.shape) for v in model.trainable_variables)
    assert layer_spec.count_parameters(spec, 5, 3) == built


def test_count_batch_normalization():
    spec = layer_spec.parse_layer_spec(
        {"layers": [{"type": "dense", "units": 4}, {"type": "batch_normalization"}]}
    )
    model = layer_spec.build_from_spec(spec, 3, 2)
    built = sum(math.prod(v.shape) for v in model.trainable_variables)
    assert layer_spec.count_parameters(spec, 3, 2) == built


def test_build_output_shape():
    model = layer_spec.build_from_spec(layer_spec.parse_layer_spec(SPEC), 5, 3)
    assert model(np.zeros((2, 5), np.float32)).shape == (2, 3)


def flat_model(last_activation=None):
    inputs = keras.Input(shape=(4,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    return keras.Model(
        inputs, keras.layers.Dense(3, activation=last_activation)(hidden)
    )


def test_load_plain_model(tmp_path):
    path = tmp_path / "plain.keras"
    flat_model().save(path)
    described = layer_spec.describe_keras_model(layer_spec.load_keras_file(path))
    assert described == {"input_size": 4, "output_size": 3, "num_params": 67}


def test_load_rejects_lambda(tmp_path):
    inputs = keras.Input(shape=(4,))
    outputs = keras.layers.Lambda(lambda x: x * 2.0)(inputs)
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(ModelFileError, match="Lambda layer"):
        layer_spec.load_keras_file(path)


def test_load_rejects_truncated_zip(tmp_path):
    path = tmp_path / "model.keras"
    flat_model().save(path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ModelFileError, match="not a readable .keras model"):
        layer_spec.load_keras_file(path)


def test_load_rejects_softmax_output(tmp_path):
    path = tmp_path / "softmax.keras"
    flat_model("softmax").save(path)
    with pytest.raises(ModelFileError, match="expects logits"):
        layer_spec.load_keras_file(path)


def test_load_rejects_image_input(tmp_path):
    inputs = keras.Input(shape=(8, 8, 1))
    outputs = keras.layers.Dense(2)(keras.layers.Flatten()(inputs))
    path = tmp_path / "image.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(ModelFileError, match="flat inputs"):
        layer_spec.load_keras_file(path)


def test_check_fits_wrong_outputs(tmp_path):
    with pytest.raises(ModelFileError, match="needs 2 outputs"):
        layer_spec.check_fits(flat_model(), 4, 2)


def test_main_prints_error_json(tmp_path, capsys):
    path = tmp_path / "broken.keras"
    path.write_bytes(b"PK\x03\x04 broken")
    assert layer_spec.main([str(path)]) == 1
    assert '"error"' in capsys.readouterr().out


def blob_csv(path, num_rows=120):
    rng = np.random.default_rng(0)
    labels = np.arange(num_rows) % 3
    features = rng.normal(size=(num_rows, 4)) + 3.0 * labels[:, None]
    lines = ["f1,f2,f3,f4,kind"]
    for row, kind in zip(features, labels, strict=True):
        lines.append(",".join(f"{v:.4f}" for v in row) + f",k{kind}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_train_spec_on_user_csv(tmp_path):
    source = UserDatasetSource(str(blob_csv(tmp_path / "blobs.csv")), "kind")
    config = TrainConfig(
        dataset=source, model=layer_spec.parse_layer_spec(SPEC), epochs=40
    )
    result = train(config)
    assert result.dataset.label_names == ("k0", "k1", "k2")
    assert result.final_metrics["val_accuracy"] > 0.9


def test_train_uploaded_model_on_user_csv(tmp_path):
    path = tmp_path / "mine.keras"
    flat_model().save(path)
    source = UserDatasetSource(str(blob_csv(tmp_path / "blobs.csv")), "kind")
    config = TrainConfig(dataset=source, model=KerasModelFile(str(path)), epochs=40)
    assert train(config).final_metrics["val_accuracy"] > 0.9


def test_config_rejects_conv_on_user_data(tmp_path):
    source = UserDatasetSource(str(tmp_path / "any.csv"), "kind")
    with pytest.raises(ValueError, match="needs the 8x8 images"):
        TrainConfig(dataset=source, model="conv")
