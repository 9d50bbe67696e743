"""VeLO, the learned optimizer of Metz et al. 2022, implemented in JAX.

Optax interface: `velo(num_steps, weights=None, ...)` returns an
`optax.GradientTransformationExtraArgs`; pass the training loss as `value=`.

Functional core (jit- and vmap-friendly with theta as a traced argument):
`init_theta(key, arch)`, `init_state(theta, arch, params, num_steps)`,
`apply_step(theta, arch, state, grads, params, loss) -> (new_params, new_state)`.

Weights: `load_weights(path)`, `save_weights(path, theta)`, `VeloWeights`,
`VeloArchitecture`, `WeightsFileError`.
"""

from velo_core.velo.architecture import VeloArchitecture, infer_architecture
from velo_core.velo.checkpoint import WeightsFileError
from velo_core.velo.core import apply_step, init_state
from velo_core.velo.state import LossBuffer, LstmState, VeloState
from velo_core.velo.theta_init import init_theta
from velo_core.velo.weights import VeloWeights, load_weights, save_weights

__all__ = [
    "LossBuffer",
    "LstmState",
    "VeloArchitecture",
    "VeloState",
    "VeloWeights",
    "WeightsFileError",
    "apply_step",
    "infer_architecture",
    "init_state",
    "init_theta",
    "load_weights",
    "save_weights",
]
