"""Build the optax transformation a training run uses: Adam or VeLO."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optax

from velo_core import catalog


@dataclass(frozen=True)
class OptimizerInfo:
    """Records which optimizer a run used.

    Attributes:
        name: "adam" or "velo".
        learning_rate: Adam's learning rate; None for VeLO.
        weights_name: name of the VeLO weights; None for Adam.
        weights_sha256: sha256 of the VeLO weights file; None for Adam.
    """

    name: str
    learning_rate: float | None = None
    weights_name: str | None = None
    weights_sha256: str | None = None


def build_optimizer(
    use_velo: bool,
    num_steps: int,
    learning_rate: float = catalog.DEFAULT_LEARNING_RATE,
    weights: Any = None,
) -> tuple[optax.GradientTransformationExtraArgs, OptimizerInfo]:
    """Builds Adam or VeLO as a transformation whose `update` takes `value=loss`.

    Args:
        use_velo: build VeLO (Metz et al. 2022, arXiv 2211.09760) instead of Adam.
        num_steps: optimizer updates the run will make; VeLO conditions on it.
        learning_rate: Adam's learning rate; VeLO has none.
        weights: VeLO weights: a `VeloWeights`, a registered name or a file path;
            None means the bundled default.

    Returns:
        The transformation and an `OptimizerInfo` describing it.
    """
    if not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(
            f"num_steps must be a positive integer. Received: num_steps={num_steps!r}"
        )
    if use_velo:
        return _build_velo(num_steps, weights)
    catalog.check_learning_rate(learning_rate)
    adam = optax.with_extra_args_support(optax.adam(learning_rate))
    return adam, OptimizerInfo("adam", learning_rate=learning_rate)


def _build_velo(num_steps: int, weights):
    # Imported here so Adam-only processes never load the VeLO package.
    from velo_core.velo import resolve_weights, velo

    resolved = resolve_weights(weights, cache_dir=None)
    info = OptimizerInfo(
        "velo", weights_name=resolved.name, weights_sha256=resolved.sha256
    )
    return velo(num_steps, weights=resolved), info
