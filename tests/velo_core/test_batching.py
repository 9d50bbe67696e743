import jax
import numpy as np
import optax
import pytest

from velo_core import batching
from velo_core.batching import EpochFunctions, Samples, make_chunks, needs_stepwise
from velo_core.datasets import load_dataset
from velo_core.models import build_model


def test_make_chunks_equal_sizes_and_mask():
    x = np.arange(10 * 3, dtype=np.float32).reshape(10, 3)
    chunks = make_chunks(x, np.arange(10), chunk_size=4)
    assert chunks.x.shape == (3, 4, 3)
    assert int(chunks.mask.sum()) == 10
    np.testing.assert_array_equal(
        np.asarray(chunks.y)[np.asarray(chunks.mask)], range(10)
    )


def test_make_chunks_small_split_is_one_chunk():
    chunks = make_chunks(np.zeros((5, 2), np.float32), np.zeros(5), chunk_size=1024)
    assert chunks.x.shape == (1, 5, 2)


def test_shuffled_batches_hold_every_sample_once():
    x = np.arange(10, dtype=np.float32)[:, None]
    batches = batching._shuffled_batches(x, np.arange(10), 4, jax.random.key(0))
    assert batches.y.shape == (3, 4)
    real = np.asarray(batches.y)[np.asarray(batches.mask)]
    assert sorted(real.tolist()) == list(range(10))


def epoch_losses(stepwise):
    data = load_dataset("iris")
    model = build_model("mlp", 4, 3, hidden_sizes=[8])
    loss = batching.per_sample_loss_for("classification")
    functions = EpochFunctions(model, loss, optax.adam(1e-2), stepwise=stepwise)
    state = functions.init_state()
    train = Samples(data.x_train, data.y_train)
    val = make_chunks(data.x_val, data.y_val)
    losses = []
    for epoch in range(2):
        key = jax.random.key(epoch)
        state, metrics = functions.minibatch_epoch(state, train, val, 16, key)
        losses.append(float(metrics["val_loss"]))
    return losses


def test_minibatch_epoch_stepwise_matches_scan():
    assert epoch_losses(True) == pytest.approx(epoch_losses(False), rel=1e-5)


def test_needs_stepwise_only_for_convolutions_on_cpu():
    conv = build_model("conv", 64, 10)
    mlp = build_model("mlp", 64, 10)
    assert needs_stepwise(conv) == (jax.default_backend() == "cpu")
    assert not needs_stepwise(mlp)
