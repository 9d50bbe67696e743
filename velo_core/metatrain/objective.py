"""Score one whole inner training run of VeLO on one task instance.

The meta-objective of a run is the mean log minibatch loss over the run plus
the log of the final full-data loss, each relative to the log of the initial
loss. Working in log-ratios keeps tasks with very different loss scales
comparable. Every loss is capped at three times the initial loss and a NaN or
infinite loss counts as the cap, so a diverging run gets a bad but finite score
and never puts NaN into the gradient estimate.
"""

import jax
import jax.numpy as jnp

from velo_core.metatrain import velo_ops
from velo_core.metatrain.tasks import sample_batch, task_loss

LOSS_CAP_FACTOR = 3.0
# Floor of a loss relative to the initial loss, so that a task that reaches
# (near) zero loss cannot dominate the average with -inf.
LOSS_FLOOR_FACTOR = 1e-4


def capped_log_ratio(loss, initial_loss):
    """Return log(loss / initial_loss) with the cap, floor and NaN rule applied."""
    cap = LOSS_CAP_FACTOR * initial_loss
    finite = jnp.where(jnp.isfinite(loss), loss, cap)
    bounded = jnp.clip(finite, LOSS_FLOOR_FACTOR * initial_loss, cap)
    return jnp.log(bounded) - jnp.log(initial_loss)


def train_with_theta(theta, arch, bucket, instance):
    """Train one instance with VeLO weights `theta` for the bucket's steps.

    Returns:
      (final params, per-step minibatch losses of shape (num_steps,)).
    """
    params = instance.params
    state = velo_ops.init_state(theta, arch, params, bucket.num_steps)

    def loss_fn(p, inputs, targets):
        return task_loss(bucket, p, inputs, targets, instance.activation)

    def step(carry, key):
        params, state = carry
        inputs, targets = sample_batch(bucket, instance, key)
        loss, grads = jax.value_and_grad(loss_fn)(params, inputs, targets)
        params, state = velo_ops.apply_step(theta, arch, state, grads, params, loss)
        return (params, state), loss

    keys = jax.random.split(instance.batch_key, bucket.num_steps)
    (params, _), losses = jax.lax.scan(step, (params, state), keys)
    return params, losses


def run_objective(theta, arch, bucket, instance):
    """Return the meta-objective of one inner run (lower is better)."""

    def full_loss(params):
        return task_loss(
            bucket, params, instance.inputs, instance.targets, instance.activation
        )

    initial = full_loss(instance.params)
    final_params, losses = train_with_theta(theta, arch, bucket, instance)
    run_term = capped_log_ratio(losses, initial).mean()
    return run_term + capped_log_ratio(full_loss(final_params), initial)
