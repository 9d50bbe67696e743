"""Wrap the VeLO core as an optax transformation, with accumulation and decay.

Past `max_training_steps` the gradients and losses of n = ceil(num_steps /
max_training_steps) consecutive calls are averaged and VeLO runs once per n calls
with a horizon of num_steps // n; the other calls return exact zero updates. Weight
decay adds weight_decay * p to each gradient and weight_decay * sum(p**2) to the
loss before accumulation.
"""

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from velo_core.velo.architecture import VeloArchitecture
from velo_core.velo.core import apply_step, init_state
from velo_core.velo.state import VeloState

DEFAULT_MAX_TRAINING_STEPS = 150_000


class AccumulationState(NamedTuple):
    """Hold running sums of gradients and losses between inner VeLO updates."""

    grad_sum: Any
    loss_sum: jax.Array
    calls: jax.Array


class VeloTransformState(NamedTuple):
    """Hold the VeLO core state and, past the horizon, the accumulation sums."""

    core: VeloState
    accumulation: AccumulationState | None


class VeloTransformation(optax.GradientTransformationExtraArgs):
    """An optax transformation that also names the VeLO weights it runs.

    Attributes `weights_name` and `weights_sha256` identify the weights; `record()`
    returns them as the dict a training job stores.
    """

    def record(self) -> dict[str, str]:
        """Return the weights identity a job records."""
        return {
            "weights_name": self.weights_name,
            "weights_sha256": self.weights_sha256,
        }


def accumulation_count(num_steps: int, max_training_steps: int) -> int:
    """Return how many calls are averaged into one inner VeLO update."""
    if num_steps <= max_training_steps:
        return 1
    return math.ceil(num_steps / max_training_steps)


def _check_arguments(num_steps, weight_decay, max_training_steps) -> None:
    if not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive int. Received: {num_steps!r}")
    if not isinstance(max_training_steps, int) or max_training_steps < 1:
        raise ValueError(
            "max_training_steps must be a positive int. "
            f"Received: max_training_steps={max_training_steps!r}"
        )
    if weight_decay < 0:
        raise ValueError(
            f"weight_decay must be >= 0. Received: weight_decay={weight_decay!r}"
        )


def _add_weight_decay(grads, loss, params, weight_decay: float):
    penalty = sum(
        jnp.sum(p**2) * weight_decay for p in jax.tree_util.tree_leaves(params)
    )
    grads = jax.tree_util.tree_map(lambda g, p: g + weight_decay * p, grads, params)
    return grads, loss + penalty


def _accumulated_step(theta, arch, state, grads, params, loss, count: int):
    accumulation = state.accumulation
    grad_sum = jax.tree_util.tree_map(jnp.add, accumulation.grad_sum, grads)
    loss_sum = accumulation.loss_sum + loss
    calls = accumulation.calls + 1

    def run_inner(_):
        mean_grads = jax.tree_util.tree_map(lambda g: g / count, grad_sum)
        new_params, core = apply_step(
            theta, arch, state.core, mean_grads, params, loss_sum / count
        )
        zeros = jax.tree_util.tree_map(jnp.zeros_like, grad_sum)
        return new_params, core, zeros, jnp.zeros_like(loss_sum)

    def keep(_):
        return params, state.core, grad_sum, loss_sum

    new_params, core, grad_sum, loss_sum = jax.lax.cond(
        calls % count == 0, run_inner, keep, None
    )
    return new_params, VeloTransformState(
        core, AccumulationState(grad_sum, loss_sum, calls)
    )


def velo_from_theta(
    theta,
    arch: VeloArchitecture,
    num_steps: int,
    weight_decay: float = 0.0,
    max_training_steps: int = DEFAULT_MAX_TRAINING_STEPS,
    weights_name: str = "custom",
    weights_sha256: str = "",
) -> VeloTransformation:
    """Return VeLO with the given theta as an optax transformation.

    Theta is closed over, so a jitted training step compiles it in as constants.
    Measured on 2 CPU cores, that runs faster than carrying theta in the optimizer
    state, which would copy all of theta (9 MB) into the output on every step.
    """
    _check_arguments(num_steps, weight_decay, max_training_steps)
    count = accumulation_count(num_steps, max_training_steps)
    theta = jax.tree_util.tree_map(jnp.asarray, theta)

    def init_fn(params):
        core = init_state(theta, arch, params, num_steps // count)
        if count == 1:
            return VeloTransformState(core, None)
        grad_sum = jax.tree_util.tree_map(
            lambda p: jnp.zeros(jnp.shape(p), jnp.float32), params
        )
        zero = jnp.zeros((), jnp.float32)
        return VeloTransformState(
            core, AccumulationState(grad_sum, zero, jnp.zeros((), jnp.int32))
        )

    def update_fn(updates, state, params=None, *, value=None, **extra_args):
        del extra_args
        _check_update_arguments(params, value)
        grads, loss = updates, jnp.asarray(value, jnp.float32)
        if weight_decay > 0:
            grads, loss = _add_weight_decay(grads, loss, params, weight_decay)
        if count == 1:
            new_params, core = apply_step(theta, arch, state.core, grads, params, loss)
            new_state = VeloTransformState(core, None)
        else:
            new_params, new_state = _accumulated_step(
                theta, arch, state, grads, params, loss, count
            )
        steps = jax.tree_util.tree_map(jnp.subtract, new_params, params)
        return steps, new_state

    transformation = VeloTransformation(init_fn, update_fn)
    transformation.weights_name = weights_name
    transformation.weights_sha256 = weights_sha256
    return transformation


def _check_update_arguments(params, value) -> None:
    if params is None:
        raise ValueError(
            "VeLO needs the current parameters: call "
            "update(grads, state, params, value=loss). Received: params=None"
        )
    if value is None:
        raise ValueError(
            "VeLO needs the training loss of this step: call "
            "update(grads, state, params, value=loss). Received: value=None"
        )
