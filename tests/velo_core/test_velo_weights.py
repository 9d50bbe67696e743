"""Load, write and reject VeLO weights files."""

import json
from pathlib import Path

import jax
import msgpack
import numpy as np
import pytest

from velo_core.velo import (
    VeloArchitecture,
    WeightsFileError,
    init_theta,
    load_weights,
    save_weights,
)
from velo_core.velo.architecture import expected_theta_shapes
from velo_core.velo.checkpoint import encode_checkpoint

DATA = Path(__file__).parents[1] / "data" / "velo_reference"
MANIFEST = json.loads((DATA / "manifest.json").read_text())


@pytest.fixture(scope="module")
def reference():
    return load_weights(DATA / "params")


def leaves_by_path(theta) -> dict:
    flat, _ = jax.tree_util.tree_flatten_with_path(theta)
    return {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in flat}


def test_load_sha256(reference):
    assert reference.sha256 == MANIFEST["theta_file"]["sha256"]


def test_load_architecture(reference):
    assert reference.arch == VeloArchitecture()


def test_load_leaf_paths(reference):
    expected = {leaf["path"] for leaf in MANIFEST["theta_leaves"]}
    assert set(leaves_by_path(reference.theta)) == expected


@pytest.mark.parametrize(
    "leaf", MANIFEST["theta_leaves"], ids=lambda leaf: leaf["path"]
)
def test_load_leaf_sums(reference, leaf):
    array = leaves_by_path(reference.theta)[leaf["path"]]
    assert list(array.shape) == leaf["shape"]
    assert np.isclose(array.astype(np.float64).sum(), leaf["sum"], rtol=1e-9, atol=1e-9)
    assert np.isclose(np.abs(array.astype(np.float64)).sum(), leaf["abs_sum"])
    assert array.reshape(-1)[:3].tolist() == leaf["first"]


def test_load_generation(reference):
    assert (reference.gen_id, reference.step) == ("velo_reference_public", 7)


def test_write_reproduces_reference_bytes(reference):
    encoded = encode_checkpoint(reference.theta, reference.gen_id, reference.step)
    assert encoded == (DATA / "params").read_bytes()


def test_small_architecture_round_trip(tmp_path):
    arch = VeloArchitecture(lstm_hidden_size=32, param_inits=8)
    theta = init_theta(jax.random.PRNGKey(3), arch)
    sha256 = save_weights(tmp_path / "small.msgpack", theta, gen_id="test", step=2)
    loaded = load_weights(tmp_path / "small.msgpack", name="small")
    assert loaded.arch == arch
    assert loaded.sha256 == sha256
    assert np.array_equal(
        loaded.theta["rnn_params"]["rnn/linear"]["w"],
        theta["rnn_params"]["rnn/linear"]["w"],
    )


def test_init_theta_shapes_match_checkpoint(reference):
    fresh = init_theta(jax.random.PRNGKey(0))
    ours = jax.tree_util.tree_map(np.shape, leaves_by_path(fresh))
    loaded = jax.tree_util.tree_map(np.shape, leaves_by_path(reference.theta))
    assert ours == loaded


def test_init_theta_scale():
    theta = init_theta(jax.random.PRNGKey(0))
    gates = np.asarray(theta["rnn_params"]["rnn/linear"]["w"])
    # Truncated at two standard deviations of 1/sqrt(1024).
    assert np.abs(gates).max() <= 2 / 32
    assert 0.8 / 32 < gates.std() < 0.9 / 32


def rewritten(tmp_path, edit) -> Path:
    """Write the reference theta after `edit(theta)` without any checks."""
    theta = load_weights(DATA / "params").theta
    edit(theta)
    path = tmp_path / "edited.msgpack"
    path.write_bytes(encode_checkpoint(theta))
    return path


def test_reject_truncated(tmp_path):
    path = tmp_path / "truncated"
    path.write_bytes((DATA / "params").read_bytes()[:5_000_000])
    with pytest.raises(WeightsFileError, match="truncated"):
        load_weights(path)


def test_reject_random_bytes(tmp_path):
    path = tmp_path / "random"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(WeightsFileError):
        load_weights(path)


def test_reject_json(tmp_path):
    path = tmp_path / "weights.json"
    path.write_text(json.dumps({"params": {"w": [1.0, 2.0]}}))
    with pytest.raises(WeightsFileError, match="not"):
        load_weights(path)


def test_reject_msgpack_without_params(tmp_path):
    path = tmp_path / "other.msgpack"
    path.write_bytes(msgpack.packb({"weights": [1, 2, 3]}))
    with pytest.raises(WeightsFileError, match="params"):
        load_weights(path)


def test_reject_missing_key(tmp_path):
    path = rewritten(tmp_path, lambda t: t["rnn_params"].pop("step_size"))
    with pytest.raises(WeightsFileError, match="step_size"):
        load_weights(path)


def test_reject_wrong_shape(tmp_path):
    def shrink(theta):
        theta["rnn_params"]["linear_2"]["w"] = np.zeros((30, 500), np.float32)

    with pytest.raises(WeightsFileError, match="linear_2/w"):
        load_weights(rewritten(tmp_path, shrink))


def test_reject_wrong_dtype(tmp_path):
    def widen(theta):
        stack = theta["ff_mod_stack"]["~"]
        stack["b1"] = stack["b1"].astype(np.float64)

    with pytest.raises(WeightsFileError, match="float32"):
        load_weights(rewritten(tmp_path, widen))


def test_reject_unknown_feature_width(tmp_path):
    def widen(theta):
        stack = theta["ff_mod_stack"]["~"]
        stack["w0__3"] = np.zeros((256, 2, 4), np.float32)

    with pytest.raises(WeightsFileError, match="input_group_widths"):
        load_weights(rewritten(tmp_path, widen))


def test_expected_shapes_count():
    shapes = jax.tree_util.tree_leaves(
        expected_theta_shapes(VeloArchitecture()),
        is_leaf=lambda x: isinstance(x, tuple) and all(isinstance(i, int) for i in x),
    )
    assert sum(int(np.prod(shape)) for shape in shapes) == 2_320_385
