"""Train a user's own Keras model with VeLO and get a Keras History back.

Inputs are numpy arrays `(x, y)` or anything iterable over `(x, y)` batches, such as
a tf.data dataset (used only by iteration, so TensorFlow stays optional).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from velo_core.batching import TrainState
from velo_core.models import import_keras
from velo_core.optimizers import build_optimizer

# Samples per batch when arrays are given. In full-batch mode this only bounds the
# memory of one gradient pass and does not change the step.
ARRAY_BATCH_SIZE = 32


def train_keras_model_with_velo(
    model,
    training_data,
    validation_data=None,
    loss_fn: Callable | str = "sparse_categorical_crossentropy",
    num_epochs: int = 10,
    callbacks: list | None = None,
    weights: Any = None,
    *,
    full_batch: bool = True,
    optimizer: optax.GradientTransformationExtraArgs | None = None,
):
    """Trains `model` in place with VeLO, calling Keras callbacks once per epoch.

    By default each epoch makes one VeLO step (Metz et al. 2022, arXiv 2211.09760)
    on the gradient averaged over all training samples, each batch weighted by its
    size.

    Args:
        model: a Keras 3 model on the JAX backend; an unbuilt model is built from
            the first training batch. Metrics given to `model.compile` are reported.
        training_data: `(x, y)` numpy arrays, or an iterable of `(x, y)` batches (a
            tf.data dataset, a list; a one-shot iterator is read once and kept).
        validation_data: the same kinds as `training_data`, or None.
        loss_fn: `loss_fn(y_true, y_pred)` or a Keras loss name; per-sample
            results are averaged.
        num_epochs: passes over `training_data`.
        callbacks: Keras callbacks; `model.stop_training = True` stops early.
        weights: VeLO weights: a `VeloWeights`, a registered name or a file
            path; None means the bundled default.
        full_batch: one step per epoch (True) or one step per batch (False).
        optimizer: an optax transformation taking `value=` to use instead of VeLO,
            for comparisons in the same loop.

    Returns:
        The `keras.callbacks.History` with `loss`, `val_loss` and compiled metrics
        (their validation values prefixed with `val_`).
    """
    keras = import_keras()
    if not isinstance(num_epochs, int) or num_epochs < 1:
        raise ValueError(
            "num_epochs must be a positive integer. "
            f"Received: num_epochs={num_epochs!r}"
        )
    train_batches = _batch_source(training_data, "training_data")
    val_batches = None
    if validation_data is not None:
        val_batches = _batch_source(validation_data, "validation_data")
    _build_if_needed(model, train_batches)
    steps = 1 if full_batch else _count_batches(train_batches)
    if optimizer is None:
        optimizer, _ = build_optimizer(True, num_epochs * steps, weights=weights)
    loop = _KerasLoop(model, keras.losses.get(loss_fn), optimizer)
    history = keras.callbacks.History()
    callback_list = keras.callbacks.CallbackList(
        [*(callbacks or []), history], model=model, epochs=num_epochs, steps=steps
    )
    loop.fit(train_batches, val_batches, num_epochs, full_batch, callback_list)
    return history


def _batch_source(data, argument: str) -> Iterable:
    """Returns something iterable more than once over `(x, y)` numpy batches."""
    if isinstance(data, tuple | list) and len(data) == 2 and _is_array(data[0]):
        return _ArrayBatches(np.asarray(data[0]), np.asarray(data[1]), argument)
    if not isinstance(data, Iterable):
        raise TypeError(
            f"{argument} must be (x, y) arrays or an iterable of (x, y) batches. "
            f"Received: {argument} of type {type(data).__name__}"
        )
    if iter(data) is data:
        data = list(data)  # a one-shot iterator would be empty after epoch 1
    return _IterableBatches(data, argument)


def _is_array(value) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype")


class _ArrayBatches:
    def __init__(self, x: np.ndarray, y: np.ndarray, argument: str):
        if len(x) != len(y) or len(x) == 0:
            raise ValueError(
                f"{argument} needs as many labels as samples, at least one. "
                f"Received: {len(x)} samples and {len(y)} labels"
            )
        self.x, self.y = x, y

    def __len__(self) -> int:
        return math.ceil(len(self.x) / ARRAY_BATCH_SIZE)

    def __iter__(self):
        for start in range(0, len(self.x), ARRAY_BATCH_SIZE):
            end = start + ARRAY_BATCH_SIZE
            yield self.x[start:end], self.y[start:end]


class _IterableBatches:
    def __init__(self, data: Iterable, argument: str):
        self.data, self.argument = data, argument

    def __iter__(self):
        empty = True
        for batch in self.data:
            if not (isinstance(batch, tuple | list) and len(batch) == 2):
                raise TypeError(
                    f"{self.argument} must yield (x, y) pairs. "
                    f"Received: a batch of type {type(batch).__name__}"
                )
            empty = False
            yield np.asarray(batch[0]), np.asarray(batch[1])
        if empty:
            raise ValueError(f"{self.argument} yielded no batches. Received: none")


def _count_batches(batches: Iterable) -> int:
    if hasattr(batches, "__len__"):
        return len(batches)
    return sum(1 for _ in batches)


def _build_if_needed(model, batches: Iterable) -> None:
    if not model.built:
        x, _ = next(iter(batches))
        model(x[:1])


class _KerasLoop:
    """Runs the epochs of `train_keras_model_with_velo` with jitted passes."""

    def __init__(self, model, loss_fn: Callable, optimizer):
        self._model = model
        self._loss_fn = loss_fn
        self._optimizer = optimizer
        self._grad_sums = jax.jit(jax.value_and_grad(self._loss_sum, has_aux=True))
        self._apply = jax.jit(self._apply_update)
        self._predict = jax.jit(self._predict_batch)
        self._state = TrainState(
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            None,
        )
        self._state = self._state._replace(opt_state=optimizer.init(self._state.params))
        self._metrics: dict[str, Any] = {}

    def fit(self, train, val, num_epochs: int, full_batch: bool, callback_list):
        """Runs the epochs, calling the callbacks and storing the weights each epoch."""
        self._model.stop_training = False
        callback_list.on_train_begin()
        logs: dict[str, Any] = {}
        for epoch in range(num_epochs):
            callback_list.on_epoch_begin(epoch)
            logs = self._train_epoch(train, full_batch)
            if val is not None:
                logs |= {f"val_{k}": v for k, v in self._evaluate(val).items()}
            self._store_weights()
            callback_list.on_epoch_end(epoch, logs)
            if self._model.stop_training:
                break
        callback_list.on_train_end(logs)

    def _loss_sum(self, params, non_trainable, x, y, training=True):
        y_pred, non_trainable = self._model.stateless_call(
            params, non_trainable, x, training=training
        )
        loss_sum = jnp.mean(self._loss_fn(y, y_pred)) * x.shape[0]
        return loss_sum, (non_trainable, y_pred)

    def _apply_update(self, state: TrainState, grad_sum, loss_sum, count):
        grads = jax.tree.map(lambda leaf: leaf / count, grad_sum)
        updates, opt_state = self._optimizer.update(
            grads, state.opt_state, state.params, value=loss_sum / count
        )
        params = optax.apply_updates(state.params, updates)
        return TrainState(params, state.non_trainable, opt_state)

    def _predict_batch(self, state: TrainState, x, y):
        return self._loss_sum(state.params, state.non_trainable, x, y, training=False)

    def _batch_gradient(self, x, y):
        """Returns the loss sum and gradient sum of one batch; updates metrics."""
        (loss_sum, (non_trainable, y_pred)), grad_sum = self._grad_sums(
            self._state.params, self._state.non_trainable, x, y
        )
        self._state = self._state._replace(non_trainable=non_trainable)
        self._metrics = self._model.compute_metrics(x, y, y_pred)
        return loss_sum, grad_sum

    def _train_epoch(self, batches, full_batch: bool) -> dict[str, float]:
        self._model.reset_metrics()
        if full_batch:
            return _logs(self._full_batch_epoch(batches), self._metrics)
        step_losses = []
        for x, y in batches:
            loss_sum, grad_sum = self._batch_gradient(x, y)
            self._state = self._apply(self._state, grad_sum, loss_sum, len(x))
            step_losses.append(loss_sum / len(x))
        return _logs(jnp.mean(jnp.stack(step_losses)), self._metrics)

    def _full_batch_epoch(self, batches):
        """Takes one step on the size-weighted mean gradient of all batches."""
        loss_total, grad_total, count = 0.0, None, 0
        for x, y in batches:
            loss_sum, grad_sum = self._batch_gradient(x, y)
            if grad_total is not None:
                grad_sum = _tree_add(grad_total, grad_sum)
            loss_total, grad_total, count = (
                loss_total + loss_sum,
                grad_sum,
                count + len(x),
            )
        self._state = self._apply(self._state, grad_total, loss_total, count)
        return loss_total / count

    def _evaluate(self, batches) -> dict[str, float]:
        self._model.reset_metrics()
        loss_total, count = 0.0, 0
        for x, y in batches:
            loss_sum, (_, y_pred) = self._predict(self._state, x, y)
            self._metrics = self._model.compute_metrics(x, y, y_pred)
            loss_total, count = loss_total + loss_sum, count + len(x)
        return _logs(loss_total / count, self._metrics)

    def _store_weights(self) -> None:
        variables = (
            self._model.trainable_variables + self._model.non_trainable_variables
        )
        values = self._state.params + self._state.non_trainable
        for variable, value in zip(variables, values, strict=True):
            variable.assign(value)


@jax.jit
def _tree_add(left, right):
    return jax.tree.map(jnp.add, left, right)


def _logs(loss, metrics: dict) -> dict[str, float]:
    logs = {name: float(value) for name, value in metrics.items() if name != "loss"}
    return {"loss": float(loss), **logs}
