"""Define the fixed-shape task buckets that VeLO is meta-trained on.

A bucket fixes everything that changes array shapes (data set, network sizes,
batch size, number of steps). Each instance drawn from a bucket gets fresh data,
a fresh network, an initialisation scale and an activation function, so one
compiled program serves every instance of the bucket under `jax.vmap`.
"""

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

from velo_core.metatrain.datasets import dataset_shape, make_dataset

ACTIVATIONS = (jax.nn.relu, jnp.tanh, jax.nn.gelu, jax.nn.swish)


@dataclass(frozen=True)
class TaskBucket:
    """Describe one fixed-shape group of training problems.

    Attributes:
      name: unique label used in logs.
      dataset: a name known to `velo_core.metatrain.datasets`.
      model: "mlp" (hidden widths) or "conv" (3x3 conv channels, then a dense
        head on the spatial mean).
      hidden: widths of the hidden layers or conv channels.
      batch_size: examples per step; 0 means the full training set.
      num_steps: optimizer steps of one inner run.
    """

    name: str
    dataset: str
    model: str
    hidden: tuple[int, ...]
    batch_size: int
    num_steps: int


class TaskInstance(NamedTuple):
    """Hold one drawn problem: initial parameters, data and its randomness."""

    params: dict
    inputs: jax.Array
    targets: jax.Array
    activation: jax.Array  # int32 index into ACTIVATIONS
    batch_key: jax.Array


FAMILY = (
    TaskBucket("gmm_mlp32x2_full", "gaussian_mixture", "mlp", (32, 32), 0, 150),
    TaskBucket("gmm_mlp64_b32", "gaussian_mixture", "mlp", (64,), 32, 200),
    TaskBucket("poly_mlp32x3_b64", "poly_sine", "mlp", (32, 32, 32), 64, 200),
    TaskBucket("lowrank_ae_full", "low_rank", "mlp", (24, 4, 24), 0, 150),
    TaskBucket("iris_mlp16_full", "iris", "mlp", (16,), 0, 100),
    TaskBucket("cancer_mlp64x2_b128", "breast_cancer", "mlp", (64, 32), 128, 150),
    TaskBucket("diabetes_mlp32x2_full", "diabetes", "mlp", (32, 32), 0, 200),
    TaskBucket("patterns_conv4x8_b32", "patterns", "conv", (4, 8), 32, 100),
)


def output_size(bucket):
    """Return the number of network outputs of `bucket`'s data set."""
    return dataset_shape(bucket.dataset)[3]


def _dense_init(key, fan_in, fan_out, scale):
    weight = jax.random.normal(key, (fan_in, fan_out)) * scale / fan_in**0.5
    return {"kernel": weight, "bias": jnp.zeros((fan_out,))}


def _conv_init(key, in_channels, out_channels, scale):
    fan_in = 9 * in_channels
    shape = (3, 3, in_channels, out_channels)
    kernel = jax.random.normal(key, shape) * scale / fan_in**0.5
    return {"kernel": kernel, "bias": jnp.zeros((out_channels,))}


def init_params(bucket, key, scale=1.0):
    """Draw initial network parameters: scaled LeCun-normal kernels, zero biases."""
    _, input_shape, _, outputs = dataset_shape(bucket.dataset)
    keys = jax.random.split(key, len(bucket.hidden) + 1)
    make_layer = _conv_init if bucket.model == "conv" else _dense_init
    width = input_shape[-1]
    params = {}
    for index, hidden in enumerate(bucket.hidden):
        params[f"layer{index}"] = make_layer(keys[index], width, hidden, scale)
        width = hidden
    params["head"] = _dense_init(keys[-1], width, outputs, scale)
    return params


def _conv(x, layer):
    """Apply a 3x3 'SAME' convolution as nine shifted slices times a matrix.

    Written with slices and a matrix product because a `lax.conv` whose kernel
    is batched by `jax.vmap` ran about 7 times slower on a 2-core CPU (16 runs
    of 150 steps: 115 s against 17 s).
    """
    height, width = x.shape[-3], x.shape[-2]
    padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    shifted = [
        padded[:, row : row + height, col : col + width, :]
        for row in range(3)
        for col in range(3)
    ]
    patches = jnp.concatenate(shifted, axis=-1)
    kernel = layer["kernel"]
    return patches @ kernel.reshape(-1, kernel.shape[-1]) + layer["bias"]


def apply_model(bucket, params, inputs, activation):
    """Compute the network outputs for a batch of inputs."""
    act = lambda x: jax.lax.switch(activation, ACTIVATIONS, x)  # noqa: E731
    x = inputs
    for index in range(len(bucket.hidden)):
        layer = params[f"layer{index}"]
        if bucket.model == "conv":
            x = act(_conv(x, layer))
        else:
            x = act(x @ layer["kernel"] + layer["bias"])
    if bucket.model == "conv":
        x = x.mean(axis=(1, 2))
    return x @ params["head"]["kernel"] + params["head"]["bias"]


def task_loss(bucket, params, inputs, targets, activation):
    """Return the mean loss: cross-entropy for classes, squared error otherwise."""
    outputs = apply_model(bucket, params, inputs, activation)
    if dataset_shape(bucket.dataset)[2] == "classes":
        log_probs = jax.nn.log_softmax(outputs)
        picked = jnp.take_along_axis(log_probs, targets[:, None], axis=1)
        return -picked.mean()
    return jnp.mean((outputs - targets) ** 2)


def sample_instance(bucket, key):
    """Draw fresh data, a fresh network, an init scale and an activation."""
    k_data, k_params, k_scale, k_act, k_batch = jax.random.split(key, 5)
    inputs, targets = make_dataset(bucket.dataset, k_data)
    # Init scales from 0.5x to 2x of LeCun normal, uniform in log space.
    scale = jnp.exp(jax.random.uniform(k_scale, (), minval=-0.69, maxval=0.69))
    params = init_params(bucket, k_params, scale)
    activation = jax.random.randint(k_act, (), 0, len(ACTIVATIONS))
    return TaskInstance(params, inputs, targets, activation, k_batch)


def sample_batch(bucket, instance, key):
    """Return the (inputs, targets) of one step; the full set when batch_size=0."""
    if bucket.batch_size == 0:
        return instance.inputs, instance.targets
    count = instance.inputs.shape[0]
    rows = jax.random.randint(key, (bucket.batch_size,), 0, count)
    return instance.inputs[rows], instance.targets[rows]
