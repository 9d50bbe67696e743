"""Draw a random theta for a VeLO architecture, as a fresh meta-training run starts.

Every weight matrix is drawn from a normal distribution with standard deviation
1/sqrt(fan_in), truncated at two standard deviations. Biases and the initial LSTM
state are zeros. Every input-group block of the per-parameter MLP's first layer
uses the full input width (30) as its fan-in.
"""

import jax
import jax.numpy as jnp

from velo_core.velo.architecture import VeloArchitecture, expected_theta_shapes
from velo_core.velo.state import LstmState


def _truncated_normal(key, shape, fan_in: int) -> jax.Array:
    unit = jax.random.truncated_normal(key, -2.0, 2.0, shape, jnp.float32)
    return unit / jnp.sqrt(jnp.float32(fan_in))


def _init_ff_stack(key, shapes: dict, arch: VeloArchitecture) -> dict:
    keys = jax.random.split(key, len(shapes))
    stack = {}
    for sub_key, (name, shape) in zip(keys, sorted(shapes.items()), strict=True):
        if name.startswith("b"):
            stack[name] = jnp.zeros(shape, jnp.float32)
            continue
        fan_in = arch.ff_input_size if name.startswith("w0__") else shape[1]
        stack[name] = _truncated_normal(sub_key, shape, fan_in)
    return stack


def _init_dense(key, shapes: dict) -> dict:
    fan_in = shapes["w"][0]
    return {
        "w": _truncated_normal(key, shapes["w"], fan_in),
        "b": jnp.zeros(shapes["b"], jnp.float32),
    }


def init_theta(key: jax.Array, arch: VeloArchitecture | None = None) -> dict:
    """Return a random theta for `arch` (default: the published architecture)."""
    arch = arch or VeloArchitecture()
    shapes = expected_theta_shapes(arch)
    ff_key, rnn_key = jax.random.split(key)
    layers = shapes["rnn_params"]
    layer_keys = jax.random.split(rnn_key, len(layers))
    size = arch.lstm_hidden_size
    return {
        "ff_mod_stack": {
            "~": _init_ff_stack(ff_key, shapes["ff_mod_stack"]["~"], arch)
        },
        "lstm_init_state": LstmState(
            hidden=jnp.zeros((1, size), jnp.float32),
            cell=jnp.zeros((1, size), jnp.float32),
        ),
        "rnn_params": {
            name: _init_dense(layer_key, layers[name])
            for layer_key, name in zip(layer_keys, sorted(layers), strict=True)
        },
    }
