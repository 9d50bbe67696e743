"""Compute the per-tensor LSTM inputs and run the LSTM over all leaves at once."""

import jax
import jax.numpy as jnp

from velo_core.velo.state import LstmState

FRACTION_TIMESCALES = (0.03, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0, 1.1)
FRACTION_SLOPE = 10.0
MAX_RANK_FEATURE = 5
FORGET_GATE_BIAS = 1.0


def fraction_embedding(fraction: jax.Array) -> jax.Array:
    """Return tanh(10 * (fraction - t)) for the nine time scales t."""
    timescales = jnp.asarray(FRACTION_TIMESCALES, jnp.float32)
    return jnp.tanh((fraction - timescales) * FRACTION_SLOPE)


def clip_log_abs(x: jax.Array) -> jax.Array:
    """Return 0.5 * clip(log(1e-8 + |10 x|), -5, 5)."""
    return jnp.clip(jnp.log(1e-8 + jnp.abs(x * 10.0)), -5, 5) * 0.5


def tensor_statistics(p: jax.Array, m: jax.Array, rms: jax.Array) -> jax.Array:
    """Return the 12 leaf-specific LSTM inputs: mean rms, rank one-hot, two spreads.

    Uses the momentum and rms from before this step's update, scaled by the leaf's
    inverse root mean square.
    """
    scale = jax.lax.rsqrt(jnp.maximum(1e-9, jnp.mean(p**2)))
    m, rms = m * scale, rms * scale
    axes = tuple(range(p.ndim))
    mean_m = jnp.mean(m, axis=axes, keepdims=True)
    var_m = jnp.mean(jnp.square(m - mean_m), axis=axes)
    # The reference centres rms on the momentum mean, giving one value per decay.
    var_rms = jnp.mean(jnp.square(rms - mean_m), axis=axes)
    mean_rms = jnp.mean(rms, axis=axes).reshape(-1)
    rank = sum(1 for size in p.shape if size > 1)
    rank_one_hot = jnp.zeros((MAX_RANK_FEATURE,), jnp.float32)
    if rank < MAX_RANK_FEATURE:
        rank_one_hot = rank_one_hot.at[rank].set(1.0)
    return jnp.concatenate(
        [
            clip_log_abs(mean_rms),
            rank_one_hot,
            clip_log_abs(var_m),
            clip_log_abs(var_rms),
        ]
    )


def lstm_inputs(params, momentum, rms, fraction, loss_feats) -> jax.Array:
    """Return the (n_leaves, 30) LSTM input rows in leaf order."""
    shared = jnp.concatenate([fraction_embedding(fraction), loss_feats])
    rows = [
        jnp.concatenate([shared, tensor_statistics(p, m, r)])
        for p, m, r in zip(
            jax.tree_util.tree_leaves(params),
            jax.tree_util.tree_leaves(momentum),
            jax.tree_util.tree_leaves(rms),
            strict=True,
        )
    ]
    return jnp.stack(rows)


def _dense(layer: dict, x: jax.Array) -> jax.Array:
    return jnp.dot(x, layer["w"]) + layer["b"]


def run_tensor_network(rnn_params: dict, inputs: jax.Array, state: LstmState):
    """Return (controls, lr_mult, next LSTM state) for LSTM input rows.

    The mixing layer `linear_1` is max-pooled over leaves, the only place where
    leaves see each other. The reference also computes `linear` and discards it, so
    it is skipped here.
    """
    mixed = jax.nn.relu(_dense(rnn_params["linear_1"], inputs))
    pooled = jnp.max(mixed, axis=0, keepdims=True)
    projected = _dense(rnn_params["linear_2"], inputs) + pooled
    gates = _dense(
        rnn_params["rnn/linear"], jnp.concatenate([projected, state.hidden], axis=-1)
    )
    in_gate, cell_in, forget_gate, out_gate = jnp.split(gates, 4, axis=-1)
    cell = jax.nn.sigmoid(forget_gate + FORGET_GATE_BIAS) * state.cell
    cell = cell + jax.nn.sigmoid(in_gate) * jnp.tanh(cell_in)
    hidden = jax.nn.sigmoid(out_gate) * jnp.tanh(cell)
    controls = _dense(rnn_params["rnn_to_controls"], hidden)
    lr_mult = _dense(rnn_params["step_size"], hidden)[:, 0]
    return controls, lr_mult, LstmState(hidden=hidden, cell=cell)
