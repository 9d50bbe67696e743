"""Build per-parameter inputs and run the small interpolated MLP that makes a step.

The LSTM's controls mix `param_inits` stacked MLP weight sets into one small MLP per
leaf. The controls are contracted with the stacked weights first, in one matmul for
all leaves, so each leaf gets a tiny MLP. Each input channel's normaliser is folded
into the first layer's weights, so the 30-channel input is never stored.
"""

import jax
import jax.numpy as jnp
import numpy as np

from velo_core.velo.accumulators import factored_axes, factored_factors
from velo_core.velo.architecture import VeloArchitecture

INTERPOLATION_SCALE = 100.0
GRAD_FEATURE_CLIP = 0.1
RMS_EPS = 1e-6
FACTORED_FEATURE_EPS = 1e-8
NORMALISER_EPS = 1e-5
EXP_MULT = 0.001
STEP_MULT = 0.001


def _stack_names(arch: VeloArchitecture) -> list[str]:
    names = [f"w0__{i}" for i in range(len(arch.input_group_widths))] + ["b0"]
    for layer in range(1, len(arch.ff_layer_sizes)):
        names += [f"w{layer}", f"b{layer}"]
    return names


def stack_bases(ff_stack: dict, arch: VeloArchitecture) -> jax.Array:
    """Return every MLP weight set flattened into one (param_inits, n) matrix."""
    return jnp.concatenate(
        [ff_stack[name].reshape(arch.param_inits, -1) for name in _stack_names(arch)],
        axis=1,
    )


def interpolate_mlps(controls, stacked, arch: VeloArchitecture) -> list[list]:
    """Return, per leaf, the MLP layers [(w, b), ...] mixed by that leaf's controls."""
    mixed = jnp.dot(controls, stacked) * (INTERPOLATION_SCALE / arch.param_inits)
    sizes = (arch.ff_input_size,) + arch.ff_layer_sizes
    shapes = []
    for layer in range(len(sizes) - 1):
        shapes += [(sizes[layer], sizes[layer + 1]), (sizes[layer + 1],)]
    offsets = np.cumsum([0] + [int(np.prod(shape)) for shape in shapes])
    leaves = []
    for row in mixed:
        arrays = [
            row[start:stop].reshape(shape)
            for start, stop, shape in zip(
                offsets[:-1], offsets[1:], shapes, strict=True
            )
        ]
        leaves.append(list(zip(arrays[::2], arrays[1::2], strict=True)))
    return leaves


def _factored_groups(m, row, col, diag, shape):
    """Return groups 9-13: the factored statistics, their rsqrt and scaled m."""
    axes = factored_axes(shape)
    if axes is None:
        rsqrt = jax.lax.rsqrt(diag + FACTORED_FEATURE_EPS)
        return [diag, diag, rsqrt, rsqrt, m * diag**-0.5]
    d1, d0 = axes
    row_wide = jnp.expand_dims(row, d0)
    col_wide = jnp.expand_dims(col, d1)
    row_factor, col_factor = factored_factors(row, col, axes)
    fac_m = m * jnp.expand_dims(row_factor, d0) * jnp.expand_dims(col_factor, d1)
    return [
        row_wide,
        col_wide,
        jax.lax.rsqrt(row_wide + FACTORED_FEATURE_EPS),
        jax.lax.rsqrt(col_wide + FACTORED_FEATURE_EPS),
        fac_m,
    ]


def input_groups(p, g, m, rms, fac_g, row, col, diag) -> list[jax.Array]:
    """Return the 14 input groups (shape broadcastable to p's + (width,)) in order."""
    rsq = jax.lax.rsqrt(rms + RMS_EPS)
    return [
        g[..., None],
        jnp.clip(g, -GRAD_FEATURE_CLIP, GRAD_FEATURE_CLIP)[..., None],
        p[..., None],
        m,
        rms,
        m * rsq,
        rsq,
        fac_g,
        g[..., None] * rsq,
    ] + _factored_groups(m, row, col, diag, p.shape)


def _group_scale(group: jax.Array) -> jax.Array:
    # The mean of squares runs over every parameter position, per channel; a group
    # broadcast along some axes has the same mean over its stored values.
    axes = tuple(range(group.ndim - 1))
    return jax.lax.rsqrt(NORMALISER_EPS + jnp.mean(jnp.square(group), axis=axes))


def run_mlp(groups, layers, shape) -> jax.Array:
    """Return the MLP outputs, shape + (outputs,), for unnormalised input groups.

    Each channel's normaliser scales its row of the first-layer weights instead of
    the channel itself, so the first layer is one fused elementwise pass.
    """
    (w0, b0), rest = layers[0], layers[1:]
    w0 = w0 * jnp.concatenate([_group_scale(group) for group in groups])[:, None]
    hidden, row = b0, 0
    for group in groups:
        for channel in range(group.shape[-1]):
            hidden = hidden + group[..., channel, None] * w0[row]
            row += 1
    hidden = jnp.broadcast_to(hidden, tuple(shape) + hidden.shape[-1:])
    for w, b in rest:
        hidden = jnp.dot(jax.nn.relu(hidden), w) + b
    return hidden


def leaf_step(p, g, m, rms, fac_g, row, col, diag, layers, lr_mult):
    """Return the new value of one parameter leaf."""
    if p.ndim == 0:
        # Scalars run as shape (1,) and are squeezed back.
        expanded = [x[None] for x in (p, g, m, rms, fac_g, diag)]
        return leaf_step(*expanded[:5], row, col, expanded[5], layers, lr_mult)[0]
    groups = input_groups(p, g, m, rms, fac_g, row, col, diag)
    out = run_mlp(groups, layers, p.shape)
    direction, magnitude = out[..., 0], out[..., 1]
    param_scale = jnp.sqrt(jnp.mean(jnp.square(p)) + 1e-9)
    step = direction * (param_scale * jnp.exp(magnitude * EXP_MULT)) * STEP_MULT
    return p - lr_mult * step
