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
from velo_core.cost import CostBreakdown, measure_step_parts, split_loop_time
from velo_core.datasets import Dataset, load_dataset
from velo_core.divergence import check_losses, constant_prediction_loss
from velo_core.early_stopping import EarlyStopper
from velo_core.layer_spec import (
    KerasModelFile,
    LayerSpec,
    build_from_spec,
    check_fits,
    load_keras_file,
)
from velo_core.models import build_model
from velo_core.optimizers import OptimizerInfo, build_optimizer
from velo_core.user_data import load_user_dataset

EpochCallback = Callable[[dict[str, float]], bool | None]


@dataclass
class TrainResult:
    """Holds the outcome of `train`.

    Attributes:
        history: one dict per finished epoch (see `train` for the keys).
        final_metrics: the row of `history` of the epoch whose weights the model
            holds (the best epoch after early stopping, else the last), or {} if no
            epoch finished.
        model: the Keras model holding the trained weights.
        dataset: the split the model was trained and validated on.
        num_steps: optimizer updates planned for the whole run.
        steps_taken: optimizer updates actually made (fewer when stopped early).
        optimizer: which optimizer ran, with its learning rate or weights.
        stopped_early: whether `on_epoch_end` asked to stop.
        stopped_epoch: the epoch after which early stopping ended the run, or None.
        best_epoch: with early stopping, the epoch whose weights the model holds.
        cost: where the run's time and memory went; None unless measured.
    """

    history: list[dict[str, float]]
    model: Any
    dataset: Dataset
    num_steps: int
    steps_taken: int
    optimizer: OptimizerInfo
    stopped_early: bool = False
    final_metrics: dict[str, float] = field(default_factory=dict)
    stopped_epoch: int | None = None
    best_epoch: int | None = None
    cost: CostBreakdown | None = None


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
    config: TrainConfig,
    on_epoch_end: EpochCallback | None = None,
    measure_cost: bool = False,
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
        measure_cost: after training, time separately jitted gradient, update and
            validation calls to split the loop's time (see `velo_core.cost`).

    Returns:
        A `TrainResult`; its model holds the weights of the last finished epoch,
        or of the best epoch when `config.early_stopping` stopped the run.

    Raises:
        TrainingDiverged: when a training or validation loss is NaN, infinite, or
            over a million times that of a constant prediction (see
            `velo_core.divergence`).
    """
    dataset = _load_data(config)
    if config.early_stopping is not None:
        config.early_stopping.check_task(dataset.info.task)
    model = _make_model(config, dataset)
    num_train = len(dataset.x_train)
    num_steps = config.epochs * steps_per_epoch(num_train, config.batch_size)
    optimizer, info = build_optimizer(
        config.use_velo, num_steps, config.learning_rate, config.velo_weights
    )
    run = _Run(config, dataset, model, optimizer)
    history, stopped = run.epochs(on_epoch_end)
    cost = run.cost(history) if measure_cost and history else None
    kept_epoch = run.restore_best(history)
    _store_weights(model, run.state)
    return TrainResult(
        history=history,
        model=model,
        dataset=dataset,
        num_steps=num_steps,
        steps_taken=len(history) * run.steps_per_epoch,
        optimizer=info,
        stopped_early=stopped,
        final_metrics=dict(history[kept_epoch - 1]) if history else {},
        stopped_epoch=run.stopper.stopped_epoch if run.stopper else None,
        best_epoch=run.stopper.best_epoch if run.stopper else None,
        cost=cost,
    )


def _load_data(config: TrainConfig) -> Dataset:
    source = config.dataset
    if isinstance(source, str):
        return load_dataset(source, config.validation_split, config.seed)
    return load_user_dataset(
        source.path,
        source.label,
        source.task,
        config.validation_split,
        config.seed,
        source.name,
    )


def _make_model(config: TrainConfig, dataset: Dataset):
    input_size = dataset.x_train.shape[1]
    if isinstance(config.model, LayerSpec):
        return build_from_spec(
            config.model, input_size, dataset.output_size, config.seed
        )
    if isinstance(config.model, KerasModelFile):
        model = load_keras_file(config.model.path)
        check_fits(model, input_size, dataset.output_size)
        return model
    return build_model(
        config.model,
        input_size,
        dataset.output_size,
        config.resolved_hidden_sizes,
        config.seed,
    )


class _Run:
    """Owns the device data and state of one `train` call."""

    def __init__(self, config: TrainConfig, dataset: Dataset, model, optimizer):
        self._config = config
        self._is_classification = dataset.info.task == catalog.CLASSIFICATION
        self._reference_loss = constant_prediction_loss(dataset.info.num_classes)
        loss = per_sample_loss_for(dataset.info.task)
        stepwise = needs_stepwise(model)
        self._parts = (model, loss, optimizer)
        self._functions = EpochFunctions(model, loss, optimizer, stepwise)
        self.steps_per_epoch = steps_per_epoch(len(dataset.x_train), config.batch_size)
        rule = config.early_stopping
        self.stopper = EarlyStopper(rule) if rule is not None else None
        self.state = self._functions.init_state()
        self._val = make_chunks(dataset.x_val, dataset.y_val)
        self._train_arrays = Samples(
            jax.numpy.asarray(dataset.x_train), jax.numpy.asarray(dataset.y_train)
        )
        if config.batch_size == catalog.FULL_BATCH:
            self._train = make_chunks(dataset.x_train, dataset.y_train)
        else:
            self._train = self._train_arrays
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
            if self.stopper is not None and self.stopper.update(epoch, row, self.state):
                break
        return history, False

    def restore_best(self, history: list[dict[str, float]]) -> int:
        """Puts back the early stopper's best state; returns the epoch now held."""
        if self.stopper is None or self.stopper.best_state is None:
            return len(history)
        self.state = self.stopper.best_state
        return self.stopper.best_epoch

    def cost(self, history: list[dict[str, float]]) -> CostBreakdown:
        """Times the step's parts on the current state and splits the loop time."""
        parts = measure_step_parts(
            *self._parts,
            self.state,
            self._step_batch(),
            lambda: self._functions.evaluate(self.state, self._val),
        )
        epoch_seconds = [row["seconds"] for row in history]
        return split_loop_time(
            epoch_seconds, parts, self.steps_per_epoch, self.state.opt_state
        )

    def _step_batch(self) -> tuple[jax.Array, jax.Array]:
        """Returns (x, y) of one optimizer step's size from the training split."""
        if self._config.batch_size == catalog.FULL_BATCH:
            return self._train_arrays
        x, y = self._train_arrays
        return x[: self._batch_size], y[: self._batch_size]

    def _one_epoch(self, epoch: int):
        if self._config.batch_size == catalog.FULL_BATCH:
            return self._functions.full_batch_epoch(self.state, self._train, self._val)
        key = jax.random.fold_in(self._shuffle_key, epoch)
        return self._functions.minibatch_epoch(
            self.state, self._train, self._val, batch_size=self._batch_size, key=key
        )

    def _row(self, epoch: int, metrics: dict[str, np.ndarray]) -> dict[str, float]:
        losses = {name: float(metrics[name]) for name in ("loss", "val_loss")}
        check_losses(epoch, losses, self._reference_loss)
        row = {"epoch": epoch, **losses}
        if self._is_classification:
            for name in ("accuracy", "val_accuracy"):
                row[name] = float(metrics[name])
        return row


def _store_weights(model, state) -> None:
    for variable, value in zip(model.trainable_variables, state.params, strict=True):
        variable.assign(value)
    for variable, value in zip(
        model.non_trainable_variables, state.non_trainable, strict=True
    ):
        variable.assign(value)
