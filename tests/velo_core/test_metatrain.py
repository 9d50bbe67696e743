"""Check that meta-training lowers the meta-loss and writes loadable weights."""

import jax
import numpy as np
import pytest

from velo_core.metatrain.es import EsConfig
from velo_core.metatrain.init import hand_built_theta, leaf_name
from velo_core.metatrain.objective import capped_log_ratio
from velo_core.metatrain.run import MetaTrainConfig, meta_train
from velo_core.metatrain.tasks import TaskBucket
from velo_core.metatrain.velo_ops import init_theta, make_architecture
from velo_core.velo import load_weights, save_weights

# Full-batch iris with too small a starting step (0.2% of tensor RMS), so ES
# has a clear direction to improve: larger steps.
TINY_BUCKET = TaskBucket("iris_tiny", "iris", "mlp", (8,), 0, 20)
TINY_CONFIG = MetaTrainConfig(
    lstm_hidden_size=8,
    param_inits=2,
    relative_step=0.002,
    es=EsConfig(pairs=4, learning_rate=0.05, anneal_start=1000),
    validate_every=10,
    log_every=10,
    family=(TINY_BUCKET,),
)
META_STEPS = 30
WINDOW = 8


@pytest.fixture(scope="module")
def tiny_run():
    return meta_train(5, TINY_CONFIG, seed=0, max_meta_steps=META_STEPS)


def test_meta_train_lowers_meta_loss(tiny_run):
    losses = tiny_run.meta_losses
    assert len(losses) == META_STEPS
    assert np.mean(losses[-WINDOW:]) < np.mean(losses[:WINDOW]) - 0.1


def test_meta_train_keeps_best_validation(tiny_run):
    start = tiny_run.history[0]["validation"]
    assert tiny_run.best_validation < start
    assert tiny_run.best_step > 0


def test_meta_train_weights_load(tiny_run, tmp_path):
    path = tmp_path / "tiny.msgpack"
    save_weights(path, tiny_run.theta, gen_id="tiny", step=tiny_run.best_step)
    loaded = load_weights(path)
    assert loaded.arch.lstm_hidden_size == 8
    assert loaded.arch.param_inits == 2
    expected = jax.tree.leaves(tiny_run.theta)
    for got, want in zip(jax.tree.leaves(loaded.theta), expected, strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_hand_built_theta_sets_step_head():
    arch = make_architecture(8, 2)
    theta = hand_built_theta(init_theta(jax.random.PRNGKey(0), arch), 0.02)
    named = {leaf_name(p): v for p, v in jax.tree_util.tree_leaves_with_path(theta)}
    np.testing.assert_allclose(named["rnn_params/step_size/b"], [20.0])
    assert not np.any(named["rnn_params/rnn_to_controls/w"])


def test_capped_log_ratio_maps_nan_to_cap():
    value = capped_log_ratio(np.float32(np.nan), np.float32(2.0))
    np.testing.assert_allclose(value, np.log(3.0), rtol=1e-6)


def test_capped_log_ratio_caps_large_loss():
    value = capped_log_ratio(np.float32(100.0), np.float32(2.0))
    np.testing.assert_allclose(value, np.log(3.0), rtol=1e-6)
