import jax
import numpy as np
import optax
import pytest

from velo_core.keras import train_keras_model_with_velo
from velo_core.models import import_keras

keras = import_keras()


def blobs(num_samples=96, seed=0):
    """Returns two well separated Gaussian classes in 4 dimensions."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, num_samples).astype(np.int32)
    x = rng.normal(size=(num_samples, 4)).astype(np.float32) + 3.0 * y[:, None]
    return x, y


def small_model(compiled=True):
    model = keras.Sequential(
        [keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)]
    )
    if compiled:
        model.compile(metrics=["accuracy"])
    return model


def adam():
    return optax.with_extra_args_support(optax.adam(0.05))


class EpochRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_train_begin(self, logs=None):
        self.events.append("begin")

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(epoch)

    def on_train_end(self, logs=None):
        self.events.append("end")


def loss_fn():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def test_byo_arrays_history_has_losses_and_metrics():
    history = train_keras_model_with_velo(
        small_model(), blobs(), blobs(seed=1), loss_fn(), 5, optimizer=adam()
    )
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history.history["loss"]) == 5


def test_byo_arrays_loss_goes_down():
    history = train_keras_model_with_velo(
        small_model(), blobs(), blobs(seed=1), loss_fn(), 20, optimizer=adam()
    )
    assert history.history["val_loss"][-1] < history.history["val_loss"][0]
    assert history.history["val_accuracy"][-1] > 0.9


def test_byo_iterable_of_batches_matches_arrays_in_full_batch():
    x, y = blobs()
    batches = [(x[i : i + 40], y[i : i + 40]) for i in range(0, len(x), 40)]
    keras.utils.set_random_seed(0)
    model = small_model()
    keras.utils.set_random_seed(0)
    same_model = small_model()
    from_batches = train_keras_model_with_velo(
        model, iter(batches), None, loss_fn(), 3, optimizer=adam()
    )
    from_arrays = train_keras_model_with_velo(
        same_model, (x, y), None, loss_fn(), 3, optimizer=adam()
    )
    np.testing.assert_allclose(
        from_batches.history["loss"], from_arrays.history["loss"], rtol=1e-5
    )


def test_byo_callbacks_called_per_epoch():
    recorder = EpochRecorder()
    train_keras_model_with_velo(
        small_model(), blobs(), None, loss_fn(), 3, [recorder], optimizer=adam()
    )
    assert recorder.events == ["begin", 0, 1, 2, "end"]


def test_byo_early_stopping_stops():
    stopper = keras.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=10.0)
    history = train_keras_model_with_velo(
        small_model(), blobs(), None, loss_fn(), 10, [stopper], optimizer=adam()
    )
    assert len(history.history["loss"]) == 2


def test_byo_sets_weights_into_model():
    model = small_model(compiled=False)
    x, y = blobs()
    history = train_keras_model_with_velo(
        model, (x, y), None, loss_fn(), 4, optimizer=adam()
    )
    loss_after = float(loss_fn()(y, model(x)))
    assert loss_after < history.history["loss"][0]


def test_byo_builds_unbuilt_model():
    model = small_model(compiled=False)
    assert not model.built
    train_keras_model_with_velo(model, blobs(), None, loss_fn(), 1, optimizer=adam())
    assert model.built


def test_byo_per_batch_steps():
    calls = []
    inner = optax.adam(0.05)

    def update(updates, state, params=None, *, value):
        jax.debug.callback(lambda loss: calls.append(float(loss)), value)
        return inner.update(updates, state, params)

    counting = optax.GradientTransformationExtraArgs(inner.init, update)
    train_keras_model_with_velo(
        small_model(), blobs(), None, loss_fn(), 2, full_batch=False, optimizer=counting
    )
    assert len(calls) == 2 * 3


def test_byo_rejects_non_iterable():
    with pytest.raises(TypeError, match="training_data"):
        train_keras_model_with_velo(small_model(), 3, None, loss_fn(), 1)


@pytest.mark.slow
def test_byo_velo_default_optimizer_trains():
    from velo_core.velo import VeloArchitecture, VeloWeights, init_theta

    weights = VeloWeights(
        name="random-theta",
        sha256="ab" * 32,
        path=None,
        theta=init_theta(jax.random.key(0)),
        arch=VeloArchitecture(),
    )
    history = train_keras_model_with_velo(
        small_model(), blobs(), blobs(seed=1), loss_fn(), 2, weights=weights
    )
    assert np.isfinite(history.history["val_loss"]).all()
