"""Estimate meta-gradients with antithetic evolution strategies.

The search runs in a rescaled coordinate `u` with theta = scales * u, where
`scales` (see `velo_core.metatrain.init`) balances how strongly each part of
the network changes the update. Every antithetic pair evaluates theta + sigma*e
and theta - sigma*e on the same task instance, so the difference of the two
scores measures the effect of the perturbation and not of the task draw.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from velo_core.metatrain.objective import run_objective
from velo_core.metatrain.tasks import sample_instance


class EsConfig(NamedTuple):
    """Hold the settings of the evolution-strategies meta-optimizer.

    Attributes:
      pairs: antithetic pairs per meta-step.
      sigma: perturbation size in the rescaled coordinate.
      learning_rate: Adam step size on the rescaled coordinate.
      clip_norm: global gradient-norm clip before Adam.
      anneal_start: meta-step after which the learning rate starts to decay.
      anneal_half_life: meta-steps for the learning rate to halve after that.
      min_learning_rate: floor of the annealed learning rate.
    """

    pairs: int = 8
    sigma: float = 0.01
    learning_rate: float = 2e-3
    clip_norm: float = 10.0
    anneal_start: int = 300
    anneal_half_life: int = 600
    min_learning_rate: float = 2e-4


def learning_rate_schedule(config):
    """Return an optax schedule: constant, then exponential decay to a floor."""

    def schedule(step):
        past = jnp.maximum(step - config.anneal_start, 0)
        decayed = config.learning_rate * 0.5 ** (past / config.anneal_half_life)
        return jnp.maximum(decayed, config.min_learning_rate)

    return schedule


def make_meta_optimizer(config):
    """Return the optax meta-optimizer: gradient clipping, then annealed Adam."""
    return optax.chain(
        optax.clip_by_global_norm(config.clip_norm),
        optax.adam(learning_rate_schedule(config)),
    )


class Rescaling(NamedTuple):
    """Map between theta and the flat rescaled search coordinate `u`."""

    scales: jax.Array
    unravel: object

    def to_theta(self, u):
        return self.unravel(u * self.scales)

    def to_u(self, theta):
        flat, _ = ravel_pytree(theta)
        return flat / self.scales


def make_rescaling(theta, scale_tree):
    """Build a `Rescaling` from a theta and a same-structure tree of scales."""
    _, unravel = ravel_pytree(theta)
    leaves = jax.tree.leaves(scale_tree)
    shapes = [leaf.shape for leaf in jax.tree.leaves(theta)]
    flat = [
        jnp.broadcast_to(s, shape).ravel()
        for s, shape in zip(leaves, shapes, strict=True)
    ]
    return Rescaling(jnp.concatenate(flat).astype(jnp.float32), unravel)


def make_population_objective(bucket, arch, rescaling):
    """Return a jitted function scoring a batch of `u` vectors on instances."""

    def score(u, instance):
        return run_objective(rescaling.to_theta(u), arch, bucket, instance)

    return jax.jit(jax.vmap(score))


def sample_instances(bucket, key, count):
    """Draw `count` task instances of a bucket as one batched pytree."""
    return jax.vmap(lambda k: sample_instance(bucket, k))(jax.random.split(key, count))


def _repeat_twice(tree):
    return jax.tree.map(lambda leaf: jnp.concatenate([leaf, leaf]), tree)


def es_gradient(population_objective, u, instances, key, config):
    """Estimate the gradient of the mean objective at `u` with antithetic pairs.

    Args:
      population_objective: function from `make_population_objective`.
      u: flat rescaled meta-parameters.
      instances: batched task instances, one per pair.
      key: randomness of the perturbations.
      config: an `EsConfig`.

    Returns:
      (gradient estimate shaped like u, the 2*pairs objective values).
    """
    noise = jax.random.normal(key, (config.pairs, u.shape[0]))
    population = jnp.concatenate([u + config.sigma * noise, u - config.sigma * noise])
    scores = population_objective(population, _repeat_twice(instances))
    differences = scores[: config.pairs] - scores[config.pairs :]
    gradient = differences @ noise / (2 * config.sigma * config.pairs)
    return gradient, scores


def evaluate_u(population_objective, u, instances):
    """Return the objective of the unperturbed `u` on each batched instance."""
    count = jax.tree.leaves(instances)[0].shape[0]
    return population_objective(jnp.broadcast_to(u, (count, u.shape[0])), instances)
