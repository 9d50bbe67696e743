import os
import subprocess
import sys

import numpy as np
import pytest

from velo_core.models import build_model, import_keras


@pytest.mark.parametrize(
    ("preset", "hidden_sizes"), [("linear", None), ("mlp", None), ("mlp", [8, 4])]
)
def test_build_model_output_shape(preset, hidden_sizes):
    model = build_model(preset, 13, 3, hidden_sizes=hidden_sizes, seed=0)
    outputs = model(np.zeros((5, 13), np.float32))
    assert tuple(outputs.shape) == (5, 3)


def test_build_model_conv_takes_flat_8x8_images():
    model = build_model("conv", 64, 10, seed=0)
    outputs = model(np.zeros((2, 64), np.float32))
    assert tuple(outputs.shape) == (2, 10)


def test_build_model_mlp_hidden_sizes():
    model = build_model("mlp", 4, 1, hidden_sizes=[8, 4], seed=0)
    kernels = [v.shape for v in model.trainable_variables if len(v.shape) == 2]
    assert kernels == [(4, 8), (8, 4), (4, 1)]


def test_build_model_linear_has_one_layer():
    model = build_model("linear", 10, 1)
    assert len(model.trainable_variables) == 2


def test_build_model_seed_sets_weights():
    first = build_model("mlp", 4, 3, seed=1).trainable_variables[0]
    again = build_model("mlp", 4, 3, seed=1).trainable_variables[0]
    other = build_model("mlp", 4, 3, seed=2).trainable_variables[0]
    np.testing.assert_array_equal(np.asarray(first), np.asarray(again))
    assert not np.array_equal(np.asarray(first), np.asarray(other))


def test_build_model_conv_rejects_non_image_input():
    with pytest.raises(ValueError, match="input_size=13"):
        build_model("conv", 13, 3)


def test_build_model_rejects_hidden_sizes_for_linear():
    with pytest.raises(ValueError, match="hidden_sizes"):
        build_model("linear", 4, 3, hidden_sizes=[8])


def test_import_keras_runs_on_jax():
    assert import_keras().backend.backend() == "jax"


def test_import_keras_rejects_other_backend():
    code = "from velo_core.models import import_keras; import_keras()"
    env = {**os.environ, "KERAS_BACKEND": "numpy"}
    completed = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert completed.returncode != 0
    assert "Received: KERAS_BACKEND='numpy'" in completed.stderr
