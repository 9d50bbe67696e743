"""VeLO, the learned optimizer of Metz et al. 2022, implemented in JAX.

Optax interface: `velo(num_steps, weights=None, weight_decay=0.0,
max_training_steps=150_000)` returns a `VeloTransformation` (an
`optax.GradientTransformationExtraArgs`); call `update(grads, state, params,
value=loss)`. `tx.record()` gives the weights name and sha256 a job stores.

Functional core, usable under jax.jit and jax.vmap with theta traced:
`init_theta(key, arch)`, `init_state(theta, arch, params, num_steps)`,
`apply_step(theta, arch, state, grads, params, loss) -> (new_params, new_state)`,
and `velo_from_theta(theta, arch, num_steps, ...)` for the optax form.

Weights: `load_weights(path)`, `save_weights(path, theta)`, `VeloWeights`,
`VeloArchitecture`, `infer_architecture(theta)`, `WeightsFileError`; registry:
`fetch_weights`, `list_weights`, `resolve_weights`.
"""

from velo_core.velo.architecture import VeloArchitecture, infer_architecture
from velo_core.velo.checkpoint import WeightsFileError
from velo_core.velo.core import apply_step, init_state
from velo_core.velo.optimizer import velo
from velo_core.velo.registry import (
    WeightsUnavailableError,
    fetch_weights,
    list_weights,
    resolve_weights,
)
from velo_core.velo.state import LossBuffer, LstmState, VeloState
from velo_core.velo.theta_init import init_theta
from velo_core.velo.transform import (
    VeloTransformation,
    VeloTransformState,
    velo_from_theta,
)
from velo_core.velo.weights import VeloWeights, load_weights, save_weights

__all__ = [
    "LossBuffer",
    "LstmState",
    "VeloArchitecture",
    "VeloState",
    "VeloTransformState",
    "VeloTransformation",
    "VeloWeights",
    "WeightsFileError",
    "WeightsUnavailableError",
    "apply_step",
    "fetch_weights",
    "infer_architecture",
    "init_state",
    "init_theta",
    "list_weights",
    "load_weights",
    "resolve_weights",
    "save_weights",
    "velo",
    "velo_from_theta",
]
