"""Track the training loss at ten time scales and turn it into LSTM features."""

import jax
import jax.numpy as jnp

from velo_core.velo.state import LossBuffer

NUM_TIMESCALES = 10
RUNNING_MIN_START = 999999999999.0
# The cap on a new loss is this multiple of the largest bias-corrected mean.
SPIKE_CAP = 2.0


def init_loss_buffer(num_steps) -> LossBuffer:
    """Return an empty buffer with half-lives spaced in log10 from 10 to num_steps."""
    half_lives = jnp.logspace(1, jnp.log10(num_steps), NUM_TIMESCALES)
    return LossBuffer(
        means=jnp.zeros((NUM_TIMESCALES,), jnp.float32),
        running_min=jnp.full((NUM_TIMESCALES,), RUNNING_MIN_START, jnp.float32),
        decays=jnp.exp(-1.0 / half_lives).astype(jnp.float32),
        iteration=jnp.asarray(0, jnp.int32),
    )


def update_loss_buffer(buffer: LossBuffer, loss: jax.Array) -> LossBuffer:
    """Add one loss, capped at twice the largest corrected mean after the first."""
    decays, step = buffer.decays, buffer.iteration
    corrected = buffer.means / (1 - decays ** (step + 1))
    cap = jnp.where(step == 0, loss, jnp.max(corrected))
    loss = jnp.minimum(jnp.abs(cap) * SPIKE_CAP, loss)
    means = buffer.means * decays + loss * (1.0 - decays)
    corrected = means / (1 - decays ** (step + 1))
    return LossBuffer(
        means=means,
        running_min=jnp.minimum(buffer.running_min, corrected),
        decays=decays,
        iteration=step + 1,
    )


def loss_features(buffer: LossBuffer) -> jax.Array:
    """Return nine features comparing each time scale with the next slower one."""
    corrected = buffer.means / (1 - buffer.decays**buffer.iteration)
    running_min = buffer.running_min[:-1]
    spread = jnp.maximum(1e-8, corrected[1:] - running_min)
    features = jnp.clip((corrected[:-1] - running_min) / spread - 1.0, -1, 1)
    # The first two updates have too little history to compare time scales.
    return jnp.where(buffer.iteration <= 2, features * 0, features)
