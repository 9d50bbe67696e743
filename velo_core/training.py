"""Train a catalog model on a catalog dataset with Adam or VeLO in one loop.

Adam and VeLO runs share every line here and differ only in the optax transformation
`build_optimizer` returns.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

from velo_core import catalog
from velo_core.batching import (
    EpochFunctions,
    Samples,
    make_chunks,
    needs_stepwise,
    per_sample_loss_for,
)
from velo_core.config import TrainConfig
from velo_core.datasets import Dataset, load_dataset
from velo_core.models import build_model
from velo_core.optimizers import OptimizerInfo, build_optimizer

EpochCallback = Callable[[dict[str, float]], bool | None]


class TrainingDiverged(RuntimeError):
    """Raised when a loss becomes NaN or infinite; the message names the epoch."""

    def __init__(self, epoch: int):
        super().__init__(f"diverged at epoch {epoch}")
        self.epoch = epoch


@dataclass
class TrainResult:
    """Holds the outcome of `train`.

    Attributes:
        history: one dict per finished epoch (see `train` for the keys).
        final_metrics: the last row of `history`, or {} if no epoch finished.
        model: the Keras model holding the trained weights.
        dataset: the split the model was trained and validated on.
        num_steps: optimizer updates planned for the whole run.
        steps_taken: optimizer updates actually made (fewer when stopped early).
        optimizer: which optimizer ran, with its learning rate or weights.
        stopped_early: whether `on_epoch_end` asked to stop.
    """

    history: list[dict[str, float]]
    model: Any
    dataset: Dataset
    num_steps: int
    steps_taken: int
    optimizer: OptimizerInfo
    stopped_early: bool = False
    final_metrics: dict[str, float] = field(default_factory=dict)


def steps_per_epoch(num_train_samples: int, batch_size: int | str) -> int:
    """Returns the optimizer updates one epoch makes for `batch_size`.

    "full" makes one. An integer makes one per batch, with the remainder in the
    last batch. A batch size above the sample count is clamped to it.
    """
    catalog.check_batch_size(batch_size)
    if batch_size == catalog.FULL_BATCH:
        return 1
    return math.ceil(num_train_samples / min(batch_size, num_train_samples))


def train(
    config: TrainConfig, on_epoch_end: EpochCallback | None = None
) -> TrainResult:
    """Trains the model `config` describes and returns its history and weights.

    Each history row contains `epoch` (from 1), `loss` (full batch: the loss at the
    step; minibatch: mean over the epoch's steps), `val_loss`, `seconds` (wall
    time of the epoch, which for epoch 1 includes compiling the jitted functions)
    and, for classification, `accuracy` and `val_accuracy`.

    Args:
        config: what to train and how.
        on_epoch_end: called with each history row; returning True stops training
            after that epoch (for example when the run is cancelled).

    Returns:
        A `TrainResult`; its model holds the weights of the last finished epoch.

    Raises:
        TrainingDiverged: when a training or validation loss is NaN or infinite.
    """
    dataset = load_dataset(config.dataset, config.validation_split, config.seed)
    model = build_model(
        config.model,
        dataset.x_train.shape[1],
        dataset.output_size,
        config.resolved_hidden_sizes,
        config.seed,
    )
    num_train = len(dataset.x_train)
    num_steps = config.epochs * steps_per_epoch(num_train, config.batch_size)
    optimizer, info = build_optimizer(
        config.use_velo, num_steps, config.learning_rate, config.velo_weights
    )
    run = _Run(config, dataset, model, optimizer)
    history, stopped = run.epochs(on_epoch_end)
    _store_weights(model, run.state)
    return TrainResult(
        history=history,
        model=model,
        dataset=dataset,
        num_steps=num_steps,
        steps_taken=len(history) * steps_per_epoch(num_train, config.batch_size),
        optimizer=info,
        stopped_early=stopped,
        final_metrics=dict(history[-1]) if history else {},
    )


class _Run:
    """Owns the device data and state of one `train` call."""

    def __init__(self, config: TrainConfig, dataset: Dataset, model, optimizer):
        self._config = config
        self._is_classification = dataset.info.task == catalog.CLASSIFICATION
        loss = per_sample_loss_for(dataset.info.task)
        stepwise = needs_stepwise(model)
        self._functions = EpochFunctions(model, loss, optimizer, stepwise)
        self.state = self._functions.init_state()
        self._val = make_chunks(dataset.x_val, dataset.y_val)
        if config.batch_size == catalog.FULL_BATCH:
            self._train = make_chunks(dataset.x_train, dataset.y_train)
        else:
            self._train = Samples(
                jax.numpy.asarray(dataset.x_train), jax.numpy.asarray(dataset.y_train)
            )
            self._batch_size = min(config.batch_size, len(dataset.x_train))
        self._shuffle_key = jax.random.key(config.seed)

    def epochs(self, on_epoch_end: EpochCallback | None):
        """Runs the configured epochs; returns the history and whether it stopped."""
        history = []
        for epoch in range(1, self._config.epochs + 1):
            started = time.perf_counter()
            self.state, metrics = self._one_epoch(epoch)
            row = self._row(epoch, jax.device_get(metrics))
            row["seconds"] = time.perf_counter() - started
            history.append(row)
            if on_epoch_end is not None and on_epoch_end(dict(row)):
                return history, True
        return history, False

    def _one_epoch(self, epoch: int):
        if self._config.batch_size == catalog.FULL_BATCH:
            return self._functions.full_batch_epoch(self.state, self._train, self._val)
        key = jax.random.fold_in(self._shuffle_key, epoch)
        return self._functions.minibatch_epoch(
            self.state, self._train, self._val, batch_size=self._batch_size, key=key
        )

    def _row(self, epoch: int, metrics: dict[str, np.ndarray]) -> dict[str, float]:
        if not (np.isfinite(metrics["loss"]) and np.isfinite(metrics["val_loss"])):
            raise TrainingDiverged(epoch)
        names = ["loss", "val_loss"]
        if self._is_classification:
            names += ["accuracy", "val_accuracy"]
        return {"epoch": epoch, **{name: float(metrics[name]) for name in names}}


def _store_weights(model, state) -> None:
    for variable, value in zip(model.trainable_variables, state.params, strict=True):
        variable.assign(value)
    for variable, value in zip(
        model.non_trainable_variables, state.non_trainable, strict=True
    ):
        variable.assign(value)
