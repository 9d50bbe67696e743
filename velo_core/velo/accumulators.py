"""Update the per-parameter gradient statistics VeLO keeps (three decays each)."""

import jax
import jax.numpy as jnp
import numpy as np

MOMENTUM_DECAYS = (0.9, 0.99, 0.999)
RMS_DECAYS = (0.999,)
FACTORED_DECAYS = (0.9, 0.99, 0.999)
GRAD_SQUARE_EPS = 1e-30
RSQRT_FLOOR = 1e-9


def safe_rsqrt(x: jax.Array) -> jax.Array:
    """Return 1/sqrt(x) with x floored at 1e-9."""
    return jax.lax.rsqrt(jnp.maximum(x, RSQRT_FLOOR))


def factored_axes(shape: tuple[int, ...]) -> tuple[int, int] | None:
    """Return (d1, d0), the second largest and largest axes, or None below rank 2.

    Ties keep index order (a stable sort), so of two equal axes the later one is d0.
    """
    if len(shape) < 2:
        return None
    order = np.argsort(np.asarray(shape), kind="stable")
    return int(order[-2]), int(order[-1])


def factored_shapes(shape: tuple[int, ...], width: int) -> tuple[tuple, tuple, tuple]:
    """Return the (row, col, diag) accumulator shapes for a leaf of `shape`."""
    axes = factored_axes(shape)
    if axes is None:
        return (0, width), (0, width), tuple(shape) + (width,)
    d1, d0 = axes
    row = tuple(np.delete(np.asarray(shape, dtype=int), d0)) + (width,)
    col = tuple(np.delete(np.asarray(shape, dtype=int), d1)) + (width,)
    return tuple(map(int, row)), tuple(map(int, col)), (0, width)


def _decays(values: tuple[float, ...]) -> jax.Array:
    return jnp.asarray(values, dtype=jnp.float32)


def update_momentum(m: jax.Array, g: jax.Array) -> jax.Array:
    """Return the momentum EMAs (trailing decay axis) after gradient `g`."""
    decays = _decays(MOMENTUM_DECAYS)
    return decays * m + (1 - decays) * g[..., None]


def update_rms(rms: jax.Array, g: jax.Array) -> jax.Array:
    """Return the squared-gradient EMA (trailing axis of 1) after gradient `g`."""
    decays = _decays(RMS_DECAYS)
    return decays * rms + (1 - decays) * (g * g)[..., None]


def update_factored(row, col, diag, g):
    """Return (row, col, diag, fac_g): Adafactor-style statistics and scaled g.

    Rank >= 2 leaves keep a row mean (over axis d0) and a column mean (over axis
    d1) of g**2; smaller leaves keep the full g**2 in `diag`.
    """
    decays = _decays(FACTORED_DECAYS)
    g_square = g * g + GRAD_SQUARE_EPS
    axes = factored_axes(g.shape)
    if axes is None:
        diag = decays * diag + (1 - decays) * g_square[..., None]
        return row, col, diag, g[..., None] * safe_rsqrt(diag + 1e-9)
    d1, d0 = axes
    row = decays * row + (1 - decays) * jnp.mean(g_square, axis=d0)[..., None]
    col = decays * col + (1 - decays) * jnp.mean(g_square, axis=d1)[..., None]
    row_factor, col_factor = factored_factors(row, col, axes)
    scaled = g[..., None] * jnp.expand_dims(row_factor, d0)
    return row, col, diag, scaled * jnp.expand_dims(col_factor, d1)


def factored_factors(row, col, axes: tuple[int, int]):
    """Return the (row, col) preconditioning factors from factored statistics."""
    d1, d0 = axes
    row_axis_of_d1 = d1 - 1 if d1 > d0 else d1
    row_mean = jnp.mean(row, axis=row_axis_of_d1, keepdims=True)
    return safe_rsqrt(row / (row_mean + 1e-9)), safe_rsqrt(col)
