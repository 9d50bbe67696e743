"""Run VeLO as pure functions of (theta, state, gradients, parameters, loss).

Both functions work under jax.jit and jax.vmap with theta traced; `arch` is static.
"""

import jax
import jax.numpy as jnp

from velo_core.velo import accumulators as acc
from velo_core.velo.architecture import VeloArchitecture
from velo_core.velo.loss_buffer import (
    init_loss_buffer,
    loss_features,
    update_loss_buffer,
)
from velo_core.velo.param_mlp import interpolate_mlps, leaf_step, stack_bases
from velo_core.velo.state import LstmState, VeloState
from velo_core.velo.tensor_network import lstm_inputs, run_tensor_network

GRAD_CLIP = 1000.0


def _check_num_steps(num_steps) -> None:
    if isinstance(num_steps, int | float) and (num_steps < 1 or num_steps % 1):
        raise ValueError(
            "num_steps must be a positive integer (the planned number of updates). "
            f"Received: num_steps={num_steps!r}"
        )


def _zeros_with_axis(params, width: int):
    return jax.tree_util.tree_map(
        lambda p: jnp.zeros(jnp.shape(p) + (width,), jnp.float32), params
    )


def _factored_zeros(params, which: int):
    width = len(acc.FACTORED_DECAYS)
    return jax.tree_util.tree_map(
        lambda p: jnp.zeros(acc.factored_shapes(jnp.shape(p), width)[which]),
        params,
    )


def init_state(theta, arch: VeloArchitecture, params, num_steps) -> VeloState:
    """Return the state before the first update of `params` over num_steps steps."""
    del arch  # Shapes follow from theta; kept for a uniform signature.
    _check_num_steps(num_steps)
    leaves = len(jax.tree_util.tree_leaves(params))
    initial = theta["lstm_init_state"]
    return VeloState(
        iteration=jnp.asarray(0, jnp.int32),
        num_steps=jnp.asarray(num_steps, jnp.int32),
        momentum=_zeros_with_axis(params, len(acc.MOMENTUM_DECAYS)),
        rms=_zeros_with_axis(params, len(acc.RMS_DECAYS)),
        fac_row=_factored_zeros(params, 0),
        fac_col=_factored_zeros(params, 1),
        fac_diag=_factored_zeros(params, 2),
        lstm=LstmState(
            hidden=jnp.tile(jnp.asarray(initial.hidden), (leaves, 1)),
            cell=jnp.tile(jnp.asarray(initial.cell), (leaves, 1)),
        ),
        loss_buffer=init_loss_buffer(num_steps),
    )


def _update_statistics(state: VeloState, grads):
    """Return (momentum, rms, row, col, diag, fac_g) trees after gradients."""
    momentum = jax.tree_util.tree_map(acc.update_momentum, state.momentum, grads)
    rms = jax.tree_util.tree_map(acc.update_rms, state.rms, grads)
    treedef = jax.tree_util.tree_structure(grads)
    factored = [
        acc.update_factored(*leaves)
        for leaves in zip(
            *(
                treedef.flatten_up_to(tree)
                for tree in (state.fac_row, state.fac_col, state.fac_diag, grads)
            ),
            strict=True,
        )
    ]
    row, col, diag, fac_g = (
        treedef.unflatten([parts[i] for parts in factored]) for i in range(4)
    )
    return momentum, rms, row, col, diag, fac_g


def _new_params(params, grads, stats, layers, lr_mult):
    """Return the parameter tree after each leaf's interpolated-MLP step."""
    momentum, rms, row, col, diag, fac_g = stats
    treedef = jax.tree_util.tree_structure(params)
    trees = (params, grads, momentum, rms, fac_g, row, col, diag)
    per_leaf = zip(*(treedef.flatten_up_to(tree) for tree in trees), strict=True)
    new_leaves = [
        leaf_step(*leaf, layers[index], lr_mult[index]).astype(leaf[0].dtype)
        for index, leaf in enumerate(per_leaf)
    ]
    return treedef.unflatten(new_leaves)


def apply_step(theta, arch: VeloArchitecture, state: VeloState, grads, params, loss):
    """Return (new_params, new_state) after one VeLO update with training loss."""
    buffer = update_loss_buffer(state.loss_buffer, jnp.asarray(loss, jnp.float32))
    grads = jax.tree_util.tree_map(
        lambda g: jnp.clip(jnp.asarray(g, jnp.float32), -GRAD_CLIP, GRAD_CLIP), grads
    )

    # The LSTM sees the statistics from before this step's gradient.
    fraction = state.iteration / state.num_steps.astype(jnp.float32)
    inputs = lstm_inputs(
        params, state.momentum, state.rms, fraction, loss_features(buffer)
    )
    controls, lr_mult, lstm = run_tensor_network(
        theta["rnn_params"], inputs, state.lstm
    )

    stats = _update_statistics(state, grads)
    stacked = stack_bases(theta["ff_mod_stack"]["~"], arch)
    layers = interpolate_mlps(controls, stacked, arch)
    new_params = _new_params(params, grads, stats, layers, lr_mult)

    momentum, rms, row, col, diag, _ = stats
    new_state = VeloState(
        iteration=state.iteration + 1,
        num_steps=state.num_steps,
        momentum=momentum,
        rms=rms,
        fac_row=row,
        fac_col=col,
        fac_diag=diag,
        lstm=lstm,
        loss_buffer=buffer,
    )
    return new_params, new_state
