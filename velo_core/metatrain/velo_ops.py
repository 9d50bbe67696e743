"""Give meta-training one narrow entry point into the VeLO functional core.

Meta-training needs only four operations of VeLO: build the architecture,
draw a random theta, start a state and apply one update. Keeping them here
means the rest of the package does not depend on how the core names them.
"""

from velo_core import velo


def make_architecture(lstm_hidden_size, param_inits):
    """Return the VeLO architecture of the given LSTM size and number of bases."""
    return velo.VeloArchitecture(
        lstm_hidden_size=lstm_hidden_size, param_inits=param_inits
    )


def init_theta(key, arch):
    """Return randomly initialised VeLO weights of architecture `arch`."""
    return velo.init_theta(key, arch)


def init_state(theta, arch, params, num_steps):
    """Return the VeLO state for training `params` for `num_steps` updates."""
    return velo.init_state(theta, arch, params, num_steps)


def apply_step(theta, arch, state, grads, params, loss):
    """Return (new params, new state) after one VeLO update."""
    return velo.apply_step(theta, arch, state, grads, params, loss)
