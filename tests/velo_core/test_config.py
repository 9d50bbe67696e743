import pytest

from velo_core import catalog
from velo_core.config import TrainConfig


def test_train_config_defaults_come_from_catalog():
    config = TrainConfig()
    assert config.epochs == catalog.DEFAULT_EPOCHS
    assert config.batch_size == catalog.DEFAULT_BATCH_SIZE
    assert config.resolved_hidden_sizes == catalog.DEFAULT_HIDDEN_SIZES


def test_train_config_hidden_sizes_become_tuple():
    assert TrainConfig(hidden_sizes=[8, 4]).hidden_sizes == (8, 4)


def test_train_config_linear_has_no_hidden_sizes():
    assert TrainConfig(model="linear").resolved_hidden_sizes is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("dataset", "mnist"),
        ("model", "resnet"),
        ("hidden_sizes", []),
        ("hidden_sizes", [8, 0]),
        ("use_velo", "yes"),
        ("epochs", 0),
        ("epochs", 2.0),
        ("batch_size", 0),
        ("batch_size", "half"),
        ("learning_rate", 0.0),
        ("learning_rate", float("nan")),
        ("validation_split", 0.6),
        ("seed", -1),
    ],
)
def test_train_config_rejects_field(field, value):
    with pytest.raises(ValueError, match=f"Received: {field}="):
        TrainConfig(**{field: value})


def test_train_config_rejects_conv_on_tabular_data():
    with pytest.raises(ValueError, match="needs 8x8 image inputs"):
        TrainConfig(dataset="iris", model="conv")


def test_train_config_rejects_hidden_sizes_for_conv():
    with pytest.raises(ValueError, match="applies only to model 'mlp'"):
        TrainConfig(model="conv", hidden_sizes=[8])
