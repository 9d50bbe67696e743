"""Build the VeLO optax transformation from a weights choice."""

import os

from velo_core.velo.registry import resolve_weights
from velo_core.velo.transform import (
    DEFAULT_MAX_TRAINING_STEPS,
    VeloTransformation,
    velo_from_theta,
)


def velo(
    num_steps: int,
    weights=None,
    weight_decay: float = 0.0,
    max_training_steps: int = DEFAULT_MAX_TRAINING_STEPS,
    cache_dir: str | os.PathLike | None = None,
) -> VeloTransformation:
    """Return VeLO as an optax transformation for a run of num_steps updates.

    `weights` is None (installed official weights in `cache_dir`, else the bundled
    default), a registered name, a file path or loaded `VeloWeights`. Call
    `update(grads, state, params, value=loss)`. The result's `record()` gives the
    weights name and sha256 to store with the run.
    """
    loaded = resolve_weights(weights, cache_dir)
    return velo_from_theta(
        loaded.theta,
        loaded.arch,
        num_steps,
        weight_decay=weight_decay,
        max_training_steps=max_training_steps,
        weights_name=loaded.name,
        weights_sha256=loaded.sha256,
    )
