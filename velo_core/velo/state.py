"""Define the typed containers that VeLO carries between steps."""

from typing import Any, NamedTuple

import jax

PyTree = Any


class LstmState(NamedTuple):
    """Hold the per-tensor LSTM state; rows are parameter leaves."""

    hidden: jax.Array
    cell: jax.Array


class LossBuffer(NamedTuple):
    """Hold exponential moving averages of the training loss at ten time scales."""

    means: jax.Array
    running_min: jax.Array
    decays: jax.Array
    iteration: jax.Array


class VeloState(NamedTuple):
    """Hold everything one VeLO update needs from the previous one.

    Accumulator trees mirror the parameter tree; each array carries a trailing
    decay axis. Factored accumulators of leaves that are not factored (rank < 2)
    are empty (0, 3) arrays in `fac_row` and `fac_col`, and vice versa for
    `fac_diag`, so every leaf has the same three entries.
    """

    iteration: jax.Array
    num_steps: jax.Array
    momentum: PyTree
    rms: PyTree
    fac_row: PyTree
    fac_col: PyTree
    fac_diag: PyTree
    lstm: LstmState
    loss_buffer: LossBuffer
