"""Build the jitted epoch functions of the training loop: full batch and minibatch.

Every function here is pure: a `TrainState` and device arrays in, a new state and
scalar metrics out. A whole epoch (all optimizer steps and the validation pass) is one
jitted call, so the Python loop around it only reads a handful of scalars per epoch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

# Samples per chunk when a pass over a split is accumulated: bounds the activations
# held at once while keeping the digits training split to two chunks.
CHUNK_SIZE = 1024

PerSampleLoss = Callable[[jax.Array, jax.Array], jax.Array]


class TrainState(NamedTuple):
    """Holds what changes during training."""

    params: list[jax.Array]
    non_trainable: list[jax.Array]
    opt_state: Any


class Chunks(NamedTuple):
    """Holds one split cut into equal chunks, the padding masked out."""

    x: jax.Array  # (num_chunks, chunk_size, features)
    y: jax.Array  # (num_chunks, chunk_size)
    mask: jax.Array  # (num_chunks, chunk_size), True for real samples


class Samples(NamedTuple):
    """Holds one whole split as device arrays."""

    x: jax.Array
    y: jax.Array


def make_chunks(x: np.ndarray, y: np.ndarray, chunk_size: int = CHUNK_SIZE) -> Chunks:
    """Cuts (x, y) into padded chunks of at most `chunk_size` samples."""
    size = min(chunk_size, len(x))
    num_chunks = math.ceil(len(x) / size)
    padding = num_chunks * size - len(x)
    mask = np.arange(num_chunks * size) < len(x)
    x = np.concatenate([x, np.zeros((padding, *x.shape[1:]), x.dtype)])
    y = np.concatenate([y, np.zeros((padding, *y.shape[1:]), y.dtype)])
    return Chunks(
        jnp.asarray(x.reshape(num_chunks, size, *x.shape[1:])),
        jnp.asarray(y.reshape(num_chunks, size, *y.shape[1:])),
        jnp.asarray(mask.reshape(num_chunks, size)),
    )


def per_sample_loss_for(task: str) -> PerSampleLoss:
    """Returns cross-entropy on logits for classification, else squared error."""
    if task == "classification":
        return optax.softmax_cross_entropy_with_integer_labels
    return lambda outputs, targets: jnp.square(outputs[:, 0] - targets)


def _count_correct(outputs, labels, mask):
    if outputs.shape[-1] == 1:
        return jnp.zeros((), jnp.int32)
    hits = (jnp.argmax(outputs, axis=-1) == labels) & mask
    return jnp.sum(hits, dtype=jnp.int32)


class EpochFunctions:
    """Builds the jitted full-batch and minibatch epochs for one model and loss."""

    def __init__(self, model, per_sample_loss: PerSampleLoss, optimizer):
        self._model = model
        self._per_sample_loss = per_sample_loss
        self._optimizer = optimizer
        self._grad_sums = jax.value_and_grad(self._masked_sums, has_aux=True)
        self.full_batch_epoch = jax.jit(self._full_batch_epoch)
        self.minibatch_epoch = jax.jit(
            self._minibatch_epoch, static_argnames=("batch_size",)
        )
        self.evaluate = jax.jit(self._evaluate)

    def init_state(self) -> TrainState:
        """Returns the model's current weights and a fresh optimizer state."""
        params = [v.value for v in self._model.trainable_variables]
        non_trainable = [v.value for v in self._model.non_trainable_variables]
        return TrainState(params, non_trainable, self._optimizer.init(params))

    def _masked_sums(self, params, non_trainable, x, y, mask, training=True):
        outputs, non_trainable = self._model.stateless_call(
            params, non_trainable, x, training=training
        )
        losses = jnp.where(mask, self._per_sample_loss(outputs, y), 0.0)
        correct = _count_correct(outputs, y, mask)
        return jnp.sum(losses), (non_trainable, correct)

    def _apply(self, state: TrainState, grads, loss, non_trainable) -> TrainState:
        updates, opt_state = self._optimizer.update(
            grads, state.opt_state, state.params, value=loss
        )
        params = optax.apply_updates(state.params, updates)
        return TrainState(params, non_trainable, opt_state)

    def _full_batch_epoch(self, state: TrainState, train: Chunks, val: Chunks):
        """Takes one step on the gradient of the mean loss over all of `train`."""

        def add_chunk(carry, chunk):
            non_trainable, loss_sum, grad_sum, correct = carry
            (loss, (non_trainable, hits)), grads = self._grad_sums(
                state.params, non_trainable, *chunk
            )
            grad_sum = jax.tree.map(jnp.add, grad_sum, grads)
            return (non_trainable, loss_sum + loss, grad_sum, correct + hits), None

        zeros = jax.tree.map(jnp.zeros_like, state.params)
        start = (state.non_trainable, jnp.zeros(()), zeros, jnp.zeros((), jnp.int32))
        carry, _ = jax.lax.scan(add_chunk, start, train)
        non_trainable, loss_sum, grad_sum, correct = carry
        count = jnp.sum(train.mask)
        loss = loss_sum / count
        grads = jax.tree.map(lambda g: g / count, grad_sum)
        state = self._apply(state, grads, loss, non_trainable)
        return state, self._metrics(loss, correct / count, state, val)

    def _minibatch_epoch(self, state, train: Samples, val: Chunks, batch_size, key):
        """Takes one step per batch of a seeded shuffle of `train`.

        The last batch holds the remainder (masked padding), so an epoch makes
        ceil(samples / batch_size) steps.
        """
        batches = _shuffled_batches(train.x, train.y, batch_size, key)

        def step(state, batch):
            (loss_sum, (non_trainable, hits)), grad_sum = self._grad_sums(
                state.params, state.non_trainable, *batch
            )
            count = jnp.sum(batch.mask)
            grads = jax.tree.map(lambda g: g / count, grad_sum)
            state = self._apply(state, grads, loss_sum / count, non_trainable)
            return state, (loss_sum / count, hits)

        state, (losses, hits) = jax.lax.scan(step, state, batches)
        accuracy = jnp.sum(hits) / train.x.shape[0]
        return state, self._metrics(jnp.mean(losses), accuracy, state, val)

    def _evaluate(self, state: TrainState, split: Chunks):
        """Returns the mean loss and accuracy of the model over `split`."""

        def add_chunk(totals, chunk):
            loss, (_, hits) = self._masked_sums(
                state.params, state.non_trainable, *chunk, training=False
            )
            return (totals[0] + loss, totals[1] + hits), None

        start = (jnp.zeros(()), jnp.zeros((), jnp.int32))
        (loss_sum, correct), _ = jax.lax.scan(add_chunk, start, split)
        count = jnp.sum(split.mask)
        return loss_sum / count, correct / count

    def _metrics(self, loss, accuracy, state, val):
        val_loss, val_accuracy = self._evaluate(state, val)
        return {
            "loss": loss,
            "accuracy": accuracy,
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
        }


def _shuffled_batches(x: jax.Array, y: jax.Array, batch_size: int, key) -> Chunks:
    """Returns (x, y) shuffled and cut into batches, the last one padded and masked."""
    num_samples = x.shape[0]
    num_batches = math.ceil(num_samples / batch_size)
    padding = num_batches * batch_size - num_samples
    order = jax.random.permutation(key, num_samples)
    order = jnp.concatenate([order, jnp.zeros((padding,), order.dtype)])
    mask = jnp.arange(num_batches * batch_size) < num_samples
    shape = (num_batches, batch_size)
    return Chunks(
        x[order].reshape(*shape, *x.shape[1:]),
        y[order].reshape(*shape, *y.shape[1:]),
        mask.reshape(shape),
    )
