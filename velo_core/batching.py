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

# Largest number of samples per chunk when a pass over a split is accumulated. It
# bounds the activations held at once; the digits training split makes two chunks.
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
    num_chunks = math.ceil(len(x) / chunk_size)
    size = math.ceil(len(x) / num_chunks)  # equal chunks keep the padding small
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
    """Builds the jitted full-batch and minibatch epochs for one model and loss.

    With `stepwise=True` a minibatch epoch runs one jitted call per batch instead of
    one `lax.scan` over all batches (see `needs_stepwise`).
    """

    def __init__(
        self, model, per_sample_loss: PerSampleLoss, optimizer, stepwise=False
    ):
        self._model = model
        self._per_sample_loss = per_sample_loss
        self._optimizer = optimizer
        self._grad_sums = jax.value_and_grad(self._masked_sums, has_aux=True)
        self._stepwise = stepwise
        self.full_batch_epoch = jax.jit(self._full_batch_epoch)
        self.evaluate = jax.jit(self._evaluate)
        batch_size = ("batch_size",)
        self._scanned_epoch = jax.jit(self._scan_epoch, static_argnames=batch_size)
        self._shuffle = jax.jit(_shuffled_batches, static_argnames=batch_size)
        self._indexed_step = jax.jit(self._step_at)
        self._epoch_metrics = jax.jit(
            self._metrics_from_steps, static_argnames=("num_samples",)
        )

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
        # Unrolled: XLA on CPU runs convolution gradients inside a loop body about
        # 20-60x slower than the same gradients outside one (digits, conv preset).
        carry, _ = jax.lax.scan(add_chunk, start, train, unroll=True)
        non_trainable, loss_sum, grad_sum, correct = carry
        count = jnp.sum(train.mask)
        loss = loss_sum / count
        grads = jax.tree.map(lambda g: g / count, grad_sum)
        state = self._apply(state, grads, loss, non_trainable)
        return state, self._metrics(loss, correct / count, state, val)

    def minibatch_epoch(self, state, train: Samples, val: Chunks, batch_size, key):
        """Takes one step per batch of a seeded shuffle of `train`.

        The last batch contains the remainder (masked padding), so an epoch makes
        ceil(samples / batch_size) steps. Returns the new state and the metrics.
        """
        if not self._stepwise:
            return self._scanned_epoch(state, train, val, batch_size, key)
        batches = self._shuffle(train.x, train.y, batch_size, key)
        losses, hits = [], []
        for index in range(batches.mask.shape[0]):
            state, (loss, batch_hits) = self._indexed_step(state, batches, index)
            losses.append(loss)
            hits.append(batch_hits)
        return state, self._epoch_metrics(state, losses, hits, train.x.shape[0], val)

    def _minibatch_step(self, state: TrainState, batch: Chunks):
        (loss_sum, (non_trainable, hits)), grad_sum = self._grad_sums(
            state.params, state.non_trainable, *batch
        )
        count = jnp.sum(batch.mask)
        grads = jax.tree.map(lambda g: g / count, grad_sum)
        state = self._apply(state, grads, loss_sum / count, non_trainable)
        return state, (loss_sum / count, hits)

    def _step_at(self, state: TrainState, batches: Chunks, index):
        batch = jax.tree.map(lambda leaf: leaf[index], batches)
        return self._minibatch_step(state, batch)

    def _scan_epoch(self, state, train: Samples, val: Chunks, batch_size, key):
        batches = _shuffled_batches(train.x, train.y, batch_size, key)
        state, (losses, hits) = jax.lax.scan(self._minibatch_step, state, batches)
        return state, self._metrics_from_steps(
            state, losses, hits, train.x.shape[0], val
        )

    def _metrics_from_steps(self, state, losses, hits, num_samples, val):
        """Returns the epoch's metrics: the mean step loss, accuracy over samples."""
        loss = jnp.mean(jnp.asarray(losses))
        accuracy = jnp.sum(jnp.asarray(hits)) / num_samples
        return self._metrics(loss, accuracy, state, val)

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


def needs_stepwise(model) -> bool:
    """Returns whether minibatch epochs of `model` should run one call per step.

    XLA on CPU runs convolution gradients inside a `lax.scan` body about 20-60x
    slower than as separate calls (measured on the conv preset, digits, 2 cores),
    so convolutional models on CPU step from Python, one jitted call per batch.
    """
    if jax.default_backend() != "cpu":
        return False
    return any(_is_convolution(layer) for layer in _all_layers(model))


def _all_layers(layer):
    yield layer
    for child in getattr(layer, "layers", ()):
        yield from _all_layers(child)


def _is_convolution(layer) -> bool:
    return any("Conv" in cls.__name__ for cls in type(layer).__mro__)


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
