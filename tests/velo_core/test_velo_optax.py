"""Check the optax contract of VeLO (next to Adam) and the vmap-able core."""

import functools
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from velo_core.velo import (
    VeloArchitecture,
    apply_step,
    init_state,
    init_theta,
    velo,
    velo_from_theta,
)

DATA = Path(__file__).parents[1] / "data" / "velo_reference"
SMALL = VeloArchitecture(lstm_hidden_size=16, param_inits=4)
TARGET = {"w": jnp.linspace(-1.0, 1.0, 32).reshape(8, 4), "b": jnp.arange(4.0)}
START = {"w": jnp.ones((8, 4)), "b": jnp.full((4,), 0.5), "s": jnp.asarray(2.0)}


def quadratic(params):
    targets = dict(TARGET, s=jnp.asarray(0.0))
    return sum(jnp.sum((params[k] - targets[k]) ** 2) for k in params)


def descent_theta(arch: VeloArchitecture, lr_mult: float = 100.0):
    """Return a theta whose MLP steps along the leaf-normalised gradient.

    Controls are constant ones, so every leaf gets 100 times the mean of the
    (equal) bases. The first layer splits g into relu(g) and relu(-g), and the
    output's direction recombines them. The step is
    lr_mult * 1e-3 * param_scale * g / rms(g).
    """
    theta = jax.tree_util.tree_map(
        jnp.zeros_like, init_theta(jax.random.PRNGKey(0), arch)
    )
    rnn = theta["rnn_params"]
    rnn["rnn_to_controls"]["b"] = jnp.ones_like(rnn["rnn_to_controls"]["b"])
    rnn["step_size"]["b"] = jnp.full((1,), lr_mult)
    stack = theta["ff_mod_stack"]["~"]
    scale = 1.0 / 100.0
    stack["w0__0"] = stack["w0__0"].at[:, 0, :2].set(jnp.array([scale, -scale]))
    stack["w1"] = stack["w1"].at[:, 0, 0].set(1.0).at[:, 1, 1].set(1.0) * scale
    stack["w2"] = stack["w2"].at[:, 0, 0].set(1.0).at[:, 1, 0].set(-1.0) * scale
    return theta


OPTIMIZERS = {
    "adam": lambda: optax.adam(1e-2),
    "velo": lambda: velo_from_theta(descent_theta(SMALL), SMALL, num_steps=100),
}


@functools.cache
def run(name: str, steps: int = 30):
    tx = OPTIMIZERS[name]()

    @jax.jit
    def step(params, state):
        loss, grads = jax.value_and_grad(quadratic)(params)
        updates, state = tx.update(grads, state, params, value=loss)
        return optax.apply_updates(params, updates), state, loss, updates

    params, state = START, tx.init(START)
    losses = []
    for _ in range(steps):
        params, state, loss, updates = step(params, state)
        losses.append(float(loss))
    return params, state, losses, updates


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_contract_update_shapes(name):
    updates = run(name)[3]
    shapes = jax.tree_util.tree_map(jnp.shape, updates)
    assert shapes == jax.tree_util.tree_map(jnp.shape, START)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_contract_state_finite(name):
    state = run(name)[1]
    leaves = jax.tree_util.tree_leaves(state)
    assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in leaves)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_contract_quadratic_descends(name):
    losses = run(name)[2]
    assert losses[-1] < 0.7 * losses[0]


def test_update_requires_value():
    tx = OPTIMIZERS["velo"]()
    with pytest.raises(ValueError, match="value=loss"):
        tx.update(START, tx.init(START), START)


def test_update_requires_params():
    tx = OPTIMIZERS["velo"]()
    with pytest.raises(ValueError, match="params=None"):
        tx.update(START, tx.init(START), value=1.0)


def test_record_names_weights():
    tx = velo(100, weights=str(DATA / "params"))
    sha256 = json.loads((DATA / "manifest.json").read_text())["theta_file"]["sha256"]
    assert tx.record() == {"weights_name": "params", "weights_sha256": sha256}


def test_accumulation_inner_horizon():
    tx = velo_from_theta(descent_theta(SMALL), SMALL, 40, max_training_steps=16)
    assert int(tx.init(START).core.num_steps) == 13


def test_negative_weight_decay_rejected():
    with pytest.raises(ValueError, match="weight_decay"):
        velo_from_theta(descent_theta(SMALL), SMALL, 10, weight_decay=-1.0)


def test_vmap_over_theta():
    keys = jax.random.split(jax.random.PRNGKey(5), 3)
    population = jax.vmap(lambda key: init_theta(key, SMALL))(keys)
    grads = jax.grad(quadratic)(START)

    def one_step(theta):
        state = init_state(theta, SMALL, START, 50)
        return apply_step(theta, SMALL, state, grads, START, 3.0)[0]

    batched = jax.jit(jax.vmap(one_step))(population)
    member = jax.tree_util.tree_map(lambda leaf: leaf[1], population)
    single = jax.jit(one_step)(member)
    for ours, alone in zip(
        jax.tree_util.tree_leaves(batched),
        jax.tree_util.tree_leaves(single),
        strict=True,
    ):
        np.testing.assert_allclose(ours[1], alone, rtol=1e-5, atol=1e-7)
