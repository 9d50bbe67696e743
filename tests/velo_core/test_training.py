import math

import jax
import numpy as np
import optax
import pytest

from velo_core import training
from velo_core.batching import per_sample_loss_for
from velo_core.config import TrainConfig
from velo_core.divergence import TrainingDiverged
from velo_core.training import steps_per_epoch, train


def counting_optimizer(calls):
    """Returns Adam that records, on the host, each update and its `value`."""
    adam = optax.adam(1e-2)

    def update(updates, state, params=None, *, value):
        jax.debug.callback(lambda loss: calls.append(float(loss)), value)
        return adam.update(updates, state, params)

    return optax.GradientTransformationExtraArgs(adam.init, update)


@pytest.fixture
def update_calls(monkeypatch):
    calls = []
    real_build = training.build_optimizer

    def build(use_velo, num_steps, learning_rate, weights):
        _, info = real_build(use_velo, num_steps, learning_rate, weights)
        return counting_optimizer(calls), info

    monkeypatch.setattr(training, "build_optimizer", build)
    return calls


def test_train_adam_mlp_digits_defaults_reach_accuracy():
    result = train(TrainConfig(dataset="digits", model="mlp"))
    assert result.final_metrics["val_accuracy"] > 0.9


def test_train_full_batch_one_row_per_epoch(update_calls):
    result = train(TrainConfig(dataset="iris", model="linear", epochs=4))
    assert [row["epoch"] for row in result.history] == [1, 2, 3, 4]
    assert result.num_steps == 4
    assert len(update_calls) == 4


def test_train_minibatch_steps_are_exact(update_calls):
    config = TrainConfig(dataset="wine", model="mlp", epochs=3, batch_size=32)
    result = train(config)
    num_train = len(result.dataset.x_train)
    assert len(result.history) == 3
    assert result.num_steps == 3 * math.ceil(num_train / 32)
    assert len(update_calls) == result.num_steps


def test_train_passes_loss_as_value(update_calls):
    result = train(TrainConfig(dataset="iris", model="linear", epochs=2))
    assert update_calls[1] == pytest.approx(result.history[1]["loss"], rel=1e-6)


def test_train_minibatch_loss_is_mean_of_step_losses(update_calls):
    config = TrainConfig(dataset="iris", model="linear", epochs=1, batch_size=50)
    result = train(config)
    assert len(update_calls) == 3
    assert result.final_metrics["loss"] == pytest.approx(np.mean(update_calls))


def test_train_minibatch_same_seed_same_history():
    config = TrainConfig(dataset="iris", model="linear", epochs=2, batch_size=16)
    first = [row["loss"] for row in train(config).history]
    again = [row["loss"] for row in train(config).history]
    assert first == again


def test_steps_per_epoch_clamps_batch_size():
    assert steps_per_epoch(120, 1000) == 1
    assert steps_per_epoch(120, 32) == 4
    assert steps_per_epoch(120, "full") == 1


def test_train_model_holds_final_weights():
    result = train(TrainConfig(dataset="diabetes", model="mlp", epochs=3))
    outputs = result.model(result.dataset.x_val)
    losses = per_sample_loss_for("regression")(outputs, result.dataset.y_val)
    val_loss = float(np.mean(losses))
    assert val_loss == pytest.approx(result.final_metrics["val_loss"], rel=1e-4)


def test_train_regression_has_no_accuracy():
    result = train(TrainConfig(dataset="diabetes", model="linear", epochs=1))
    assert set(result.final_metrics) == {"epoch", "loss", "val_loss", "seconds"}


def test_train_records_adam_info():
    result = train(TrainConfig(dataset="iris", model="linear", epochs=1))
    assert result.optimizer.name == "adam"
    assert result.optimizer.learning_rate == 1e-2


def test_train_divergence_names_epoch():
    config = TrainConfig(
        dataset="diabetes", model="mlp", learning_rate=1e20, batch_size=32, epochs=3
    )
    with pytest.raises(TrainingDiverged, match="^diverged at epoch 1"):
        train(config)


def test_train_finite_blow_up_diverges():
    # Adam at learning rate 1000 keeps the loss finite, near 1e16.
    config = TrainConfig(
        dataset="diabetes", model="mlp", learning_rate=1e3, batch_size=32, epochs=3
    )
    with pytest.raises(TrainingDiverged, match="times the loss of a constant"):
        train(config)


def test_train_callback_stops_training():
    rows = []

    def stop_after_two(row):
        rows.append(row)
        return row["epoch"] == 2

    result = train(TrainConfig(dataset="iris", epochs=10), on_epoch_end=stop_after_two)
    assert len(result.history) == 2
    assert len(rows) == 2
    assert result.stopped_early
    assert result.steps_taken == 2


@pytest.mark.slow
def test_train_velo_records_weights_and_steps():
    from velo_core.velo import VeloArchitecture, VeloWeights, init_theta

    weights = VeloWeights(
        name="random-theta",
        sha256="ab" * 32,
        path=None,
        theta=init_theta(jax.random.key(0)),
        arch=VeloArchitecture(),
    )
    config = TrainConfig(
        dataset="iris", model="linear", use_velo=True, velo_weights=weights, epochs=2
    )
    result = train(config)
    assert result.optimizer.name == "velo"
    assert result.optimizer.weights_name == "random-theta"
    assert result.optimizer.weights_sha256 == "ab" * 32
    assert result.optimizer.learning_rate is None
    assert np.isfinite(result.final_metrics["val_loss"])
