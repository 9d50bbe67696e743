"""Generate and load the data sets of the meta-training task family.

Every generator returns arrays of a fixed shape for a given data set name, so
that all instances of one task bucket share a compiled program. Digits and wine
are deliberately absent: they are kept for evaluating the trained optimizer.
"""

from functools import cache

import jax
import jax.numpy as jnp
import numpy as np

# name -> (number of training examples, input shape, output kind, output size)
DATASET_SHAPES = {
    "gaussian_mixture": (256, (8,), "classes", 4),
    "poly_sine": (256, (4,), "regression", 1),
    "low_rank": (256, (16,), "reconstruction", 16),
    "iris": (120, (4,), "classes", 3),
    "breast_cancer": (400, (30,), "classes", 2),
    "diabetes": (320, (10,), "regression", 1),
    "patterns": (256, (8, 8, 1), "classes", 4),
}


def dataset_shape(name):
    """Return (examples, input shape, output kind, output size) of a data set."""
    if name not in DATASET_SHAPES:
        raise ValueError(
            f"Unknown data set; expected one of {sorted(DATASET_SHAPES)}. "
            f"Received: name={name!r}"
        )
    return DATASET_SHAPES[name]


def make_dataset(name, key):
    """Draw one training set (inputs, targets) of data set `name` from `key`."""
    dataset_shape(name)
    return _GENERATORS[name](key)


def _standardize(x, axis=0):
    return (x - x.mean(axis, keepdims=True)) / (x.std(axis, keepdims=True) + 1e-6)


def _gaussian_mixture(key):
    n, (dim,), _, classes = DATASET_SHAPES["gaussian_mixture"]
    k_sep, k_centers, k_labels, k_noise, k_warp = jax.random.split(key, 5)
    separation = jnp.exp(jax.random.uniform(k_sep, (), minval=-0.7, maxval=0.7))
    centers = separation * jax.random.normal(k_centers, (classes, dim))
    labels = jax.random.randint(k_labels, (n,), 0, classes)
    points = centers[labels] + jax.random.normal(k_noise, (n, dim))
    warp = jnp.eye(dim) + 0.5 * jax.random.normal(k_warp, (dim, dim)) / dim**0.5
    return _standardize(points @ warp), labels


def _poly_sine(key):
    n, (dim,), _, _ = DATASET_SHAPES["poly_sine"]
    k_x, k_lin, k_quad, k_freq, k_noise = jax.random.split(key, 5)
    x = jax.random.normal(k_x, (n, dim))
    linear = x @ jax.random.normal(k_lin, (dim,))
    quadratic = (x**2) @ (0.5 * jax.random.normal(k_quad, (dim,)))
    frequencies = 2.0 * jax.random.normal(k_freq, (dim,))
    y = linear + quadratic + jnp.sin(x @ frequencies)
    y = y + 0.1 * jax.random.normal(k_noise, (n,))
    return x, _standardize(y)[:, None]


def _low_rank(key):
    n, (dim,), _, _ = DATASET_SHAPES["low_rank"]
    k_z, k_mix, k_noise = jax.random.split(key, 3)
    latent = jax.random.normal(k_z, (n, 3))
    x = jnp.tanh(latent @ jax.random.normal(k_mix, (3, dim)))
    x = x + 0.05 * jax.random.normal(k_noise, (n, dim))
    return x, x


def _patterns(key):
    """Make 8x8 images of four random smooth templates, shifted and noisy."""
    n, shape, _, classes = DATASET_SHAPES["patterns"]
    k_tpl, k_labels, k_shift, k_noise = jax.random.split(key, 4)
    coarse = jax.random.normal(k_tpl, (classes, 4, 4))
    templates = jax.image.resize(coarse, (classes, 10, 10), "bilinear")
    labels = jax.random.randint(k_labels, (n,), 0, classes)
    shifts = jax.random.randint(k_shift, (n, 2), 0, 3)

    def crop(label, shift):
        return jax.lax.dynamic_slice(templates[label], (shift[0], shift[1]), (8, 8))

    images = jax.vmap(crop)(labels, shifts)
    images = images + 0.7 * jax.random.normal(k_noise, images.shape)
    return _standardize(images.reshape(n, *shape), axis=None), labels


@cache
def _bundled(name):
    from sklearn import datasets

    loaders = {
        "iris": datasets.load_iris,
        "breast_cancer": datasets.load_breast_cancer,
        "diabetes": datasets.load_diabetes,
    }
    bunch = loaders[name]()
    x = np.asarray(bunch.data, np.float32)
    y = np.asarray(bunch.target)
    y = y.astype(np.float32)[:, None] if name == "diabetes" else y.astype(np.int32)
    return jnp.asarray(x), jnp.asarray(y)


def _bundled_subset(name, key):
    """Draw a random subset with a random per-feature rescaling of the input."""
    n, (dim,), kind, _ = DATASET_SHAPES[name]
    x_all, y_all = _bundled(name)
    k_rows, k_scale = jax.random.split(key)
    rows = jax.random.permutation(k_rows, x_all.shape[0])[:n]
    x = _standardize(x_all[rows])
    x = x * jnp.exp(0.3 * jax.random.normal(k_scale, (dim,)))
    y = y_all[rows]
    return x, (_standardize(y) if kind == "regression" else y)


_GENERATORS = {
    "gaussian_mixture": _gaussian_mixture,
    "poly_sine": _poly_sine,
    "low_rank": _low_rank,
    "patterns": _patterns,
    "iris": lambda key: _bundled_subset("iris", key),
    "breast_cancer": lambda key: _bundled_subset("breast_cancer", key),
    "diabetes": lambda key: _bundled_subset("diabetes", key),
}
