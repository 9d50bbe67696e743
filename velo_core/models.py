"""Build the Keras model presets of the catalog on the JAX backend."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from velo_core import catalog

_CONV_FILTERS = (16, 32)


def import_keras():
    """Returns the keras module, running on the JAX backend.

    Sets KERAS_BACKEND=jax when Keras is not imported yet. This is the one place in
    velo_core that chooses the backend.

    Raises:
        RuntimeError: if Keras already runs, or is told to run, on another backend.
    """
    if "keras" not in sys.modules:
        requested = os.environ.setdefault("KERAS_BACKEND", "jax")
        if requested != "jax":
            raise RuntimeError(
                "velo_core trains with Keras on the JAX backend. Unset KERAS_BACKEND "
                f"or set it to 'jax'. Received: KERAS_BACKEND={requested!r}"
            )
    import keras

    if keras.backend.backend() != "jax":
        raise RuntimeError(
            "velo_core trains with Keras on the JAX backend, but Keras was imported "
            "with another one. Set KERAS_BACKEND=jax before importing keras. "
            f"Received: backend={keras.backend.backend()!r}"
        )
    return keras


def build_model(
    preset: str,
    input_size: int,
    output_size: int,
    hidden_sizes: Sequence[int] | None = None,
    seed: int = catalog.DEFAULT_SEED,
):
    """Builds the Keras model of catalog preset `preset`.

    Args:
        preset: "linear", "mlp" or "conv" (conv needs `input_size` 64: 8x8 images).
        input_size: number of input features.
        output_size: number of logits, or 1 for regression.
        hidden_sizes: units per hidden layer of "mlp"; None means the default.
        seed: seeds the initial weights.

    Returns:
        A built `keras.Model` that maps (batch, input_size) to (batch, output_size).
    """
    catalog.check_hidden_sizes(preset, hidden_sizes)
    keras = import_keras()
    if preset == "conv" and input_size != 64:
        raise ValueError(
            f"model 'conv' needs 8x8 images, so input_size 64. "
            f"Received: input_size={input_size}"
        )
    inputs = keras.Input(shape=(input_size,), name="features")
    layer_seeds = iter(range(seed * 1000, seed * 1000 + 1000))
    hidden = _hidden_layers(keras, preset, inputs, hidden_sizes, layer_seeds)
    outputs = _dense(keras, output_size, None, next(layer_seeds), "outputs")(hidden)
    return keras.Model(inputs, outputs, name=preset)


def _hidden_layers(keras, preset, inputs, hidden_sizes, layer_seeds):
    model_preset = catalog.model_preset(preset)
    if model_preset.name == "linear":
        return inputs
    if model_preset.name == "mlp":
        hidden = inputs
        for units in hidden_sizes or catalog.DEFAULT_HIDDEN_SIZES:
            hidden = _dense(keras, units, "relu", next(layer_seeds))(hidden)
        return hidden
    hidden = keras.layers.Reshape((8, 8, 1))(inputs)
    for filters in _CONV_FILTERS:
        hidden = keras.layers.Conv2D(
            filters,
            3,
            padding="same",
            activation="relu",
            kernel_initializer=keras.initializers.GlorotUniform(next(layer_seeds)),
        )(hidden)
    return keras.layers.Flatten()(keras.layers.MaxPooling2D(2)(hidden))


def _dense(keras, units, activation, seed, name=None):
    return keras.layers.Dense(
        units,
        activation=activation,
        kernel_initializer=keras.initializers.GlorotUniform(seed),
        name=name,
    )
