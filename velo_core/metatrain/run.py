"""Meta-train a compact VeLO for a wall-clock budget and keep the best weights.

Each meta-step takes the next task bucket in turn, draws one fresh instance per
antithetic pair, estimates the meta-gradient with evolution strategies and
applies an annealed Adam step. Every `validate_every` meta-steps the current
weights are scored on a fixed validation set of task instances; the weights
that score best there are the ones returned, not the last ones.
"""

import dataclasses
import logging
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from velo_core.metatrain import checkpoint, velo_ops
from velo_core.metatrain.es import (
    EsConfig,
    es_gradient,
    evaluate_u,
    make_meta_optimizer,
    make_population_objective,
    make_rescaling,
    sample_instances,
)
from velo_core.metatrain.init import hand_built_theta, perturbation_scales
from velo_core.metatrain.tasks import FAMILY

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class MetaTrainConfig:
    """Hold the settings of one meta-training run.

    Attributes:
      lstm_hidden_size: LSTM units of the compact VeLO.
      param_inits: number of per-parameter MLP weight bases.
      relative_step: step of the hand-built start, as a fraction of tensor RMS.
      es: evolution-strategies settings.
      validate_every: meta-steps between two validation scores.
      log_every: meta-steps between two progress lines.
      family: the task buckets to meta-train on.
    """

    lstm_hidden_size: int = 32
    param_inits: int = 8
    relative_step: float = 0.02
    es: EsConfig = EsConfig()
    validate_every: int = 90
    log_every: int = 18
    family: tuple = FAMILY


@dataclasses.dataclass
class MetaTrainResult:
    """Describe a finished run: best weights, progress and timing."""

    theta: dict
    best_step: int
    best_validation: float
    meta_steps: int
    wall_time_s: float
    history: list  # dicts: step, meta_loss, validation, seconds
    meta_losses: list  # mean population score of every meta-step of this call


class _Run:
    """Carry the compiled objectives, validation instances and search state."""

    def __init__(self, config, seed):
        self.config = config
        self.arch = velo_ops.make_architecture(
            config.lstm_hidden_size, config.param_inits
        )
        theta = hand_built_theta(
            velo_ops.init_theta(jax.random.PRNGKey(seed), self.arch),
            config.relative_step,
        )
        self.rescaling = make_rescaling(
            theta, perturbation_scales(theta, config.relative_step)
        )
        self.objectives = [
            make_population_objective(bucket, self.arch, self.rescaling)
            for bucket in config.family
        ]
        count = 2 * config.es.pairs
        validation_key = jax.random.PRNGKey(10_000 + seed)
        self.validation_sets = [
            sample_instances(bucket, jax.random.fold_in(validation_key, index), count)
            for index, bucket in enumerate(config.family)
        ]
        self.optimizer = make_meta_optimizer(config.es)
        self.u = self.rescaling.to_u(theta)
        self.opt_state = self.optimizer.init(self.u)
        self.step = 0
        self.best_u, self.best_step, self.best_validation = self.u, 0, np.inf
        self.train_key = jax.random.PRNGKey(seed)
        self.elapsed = 0.0
        self.history = []

    def validate(self):
        """Return the mean objective of the current weights on validation tasks."""
        scores = [
            evaluate_u(objective, self.u, instances).mean()
            for objective, instances in zip(
                self.objectives, self.validation_sets, strict=True
            )
        ]
        return float(jnp.mean(jnp.stack(scores)))

    def meta_step(self):
        """Run one ES meta-step on the next bucket; return the mean score."""
        index = self.step % len(self.config.family)
        key = jax.random.fold_in(self.train_key, self.step)
        k_tasks, k_noise = jax.random.split(key)
        bucket = self.config.family[index]
        instances = sample_instances(bucket, k_tasks, self.config.es.pairs)
        gradient, scores = es_gradient(
            self.objectives[index], self.u, instances, k_noise, self.config.es
        )
        updates, self.opt_state = self.optimizer.update(
            gradient, self.opt_state, self.u
        )
        self.u = optax.apply_updates(self.u, updates)
        self.step += 1
        return float(scores.mean())

    def record_validation(self):
        score = self.validate()
        if score < self.best_validation:
            self.best_u, self.best_step = self.u, self.step
            self.best_validation = score
        return score


def meta_train(
    minutes, config=MetaTrainConfig(), seed=0, resume_path=None, max_meta_steps=None
):
    """Meta-train for about `minutes` of wall time and return the best weights.

    Args:
      minutes: wall-clock budget, compilation included.
      config: a `MetaTrainConfig`.
      seed: seed of the starting weights, task draws and perturbations.
      resume_path: optional file to continue from and to save progress to.
      max_meta_steps: optional stop after this many meta-steps in total.

    Returns:
      A `MetaTrainResult` whose theta scored best on the validation tasks.
    """
    if minutes <= 0:
        raise ValueError(f"minutes must be positive. Received: minutes={minutes}")
    run = _Run(config, seed)
    if resume_path is not None:
        checkpoint.restore(run, resume_path)
    started = time.monotonic() - run.elapsed
    deadline = started + 60.0 * minutes
    if run.step == 0:
        _log_validation(run, run.record_validation(), None, started)
    recent = []
    limit = np.inf if max_meta_steps is None else max_meta_steps
    while time.monotonic() < deadline and run.step < limit:
        recent.append(run.meta_step())
        if run.step % config.log_every == 0:
            _log_progress(run, recent[-len(config.family) :], started)
        if run.step % config.validate_every == 0:
            _log_validation(run, run.record_validation(), recent, started)
            run.elapsed = time.monotonic() - started
            if resume_path is not None:
                checkpoint.save(run, resume_path)
    if not run.history or run.history[-1]["step"] != run.step:
        _log_validation(run, run.record_validation(), recent, started)
    run.elapsed = time.monotonic() - started
    if resume_path is not None:
        checkpoint.save(run, resume_path)
    return MetaTrainResult(
        theta=run.rescaling.to_theta(run.best_u),
        best_step=run.best_step,
        best_validation=run.best_validation,
        meta_steps=run.step,
        wall_time_s=run.elapsed,
        history=run.history,
        meta_losses=recent,
    )


def _log_progress(run, window, started):
    seconds = time.monotonic() - started
    logger.info(
        "meta-step %d meta-loss %.4f (mean of last %d) %.2f meta-steps/s",
        run.step,
        float(np.mean(window)),
        len(window),
        run.step / max(seconds, 1e-9),
    )


def _log_validation(run, score, recent, started):
    seconds = time.monotonic() - started
    meta_loss = float(np.mean(recent[-len(run.config.family) :])) if recent else None
    run.history.append(
        {
            "step": run.step,
            "meta_loss": meta_loss,
            "validation": score,
            "seconds": round(seconds, 1),
        }
    )
    logger.info(
        "meta-step %d validation %.4f (best %.4f at step %d) after %.0f s",
        run.step,
        score,
        run.best_validation,
        run.best_step,
        seconds,
    )
