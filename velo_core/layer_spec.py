"""Describe a model as a JSON layer list, and load uploaded `.keras` files safely.

A spec lists the hidden layers, for example
`{"layers": [{"type": "dense", "units": 64, "activation": "relu"}]}`; the output
layer (one logit per class, or one value for regression) is added when the model is
built. Parsing and counting parameters are pure Python, so the API validates specs
without importing Keras or JAX.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_LAYERS = 32
MAX_UNITS = 4096
MAX_DROPOUT_RATE = 0.9
ACTIVATIONS = ("relu", "gelu", "tanh", "sigmoid", "elu", "selu", "swish", "linear")
# Allowed keys of each layer type besides "type", with their defaults.
LAYER_TYPES: dict[str, dict[str, Any]] = {
    "dense": {"units": None, "activation": "linear"},
    "dropout": {"rate": None},
    "batch_normalization": {},
    "layer_normalization": {},
    "activation": {"activation": None},
}
# Output activations that turn logits into probabilities; training expects logits.
_PROBABILITY_ACTIVATIONS = ("softmax", "sigmoid", "log_softmax")


@dataclass(frozen=True)
class LayerSpec:
    """A validated list of hidden layers; each is a dict with every key filled."""

    layers: tuple[dict[str, Any], ...]

    def to_json(self) -> dict[str, Any]:
        """Returns the spec as the JSON object `parse_layer_spec` reads."""
        return {"layers": [dict(layer) for layer in self.layers]}


@dataclass(frozen=True)
class KerasModelFile:
    """Points a training run at an uploaded `.keras` file instead of a preset."""

    path: str


def parse_layer_spec(spec: object) -> LayerSpec:
    """Validates a JSON layer spec against the allow-list and bounds.

    Raises:
        ValueError: naming the bad entry, such as `layers[1].units`.
    """
    if not isinstance(spec, dict) or set(spec) != {"layers"}:
        raise ValueError(
            'a layer spec must be an object with the one key "layers". '
            f"Received: {_short(spec)}"
        )
    layers = spec["layers"]
    if not isinstance(layers, list) or not 1 <= len(layers) <= MAX_LAYERS:
        raise ValueError(
            f"layers must be a list of 1 to {MAX_LAYERS} layers. "
            f"Received: {_short(layers)}"
        )
    return LayerSpec(tuple(_parse_layer(i, layer) for i, layer in enumerate(layers)))


def _parse_layer(index: int, layer: object) -> dict[str, Any]:
    where = f"layers[{index}]"
    if not isinstance(layer, dict) or layer.get("type") not in LAYER_TYPES:
        raise ValueError(
            f"{where} must be an object whose type is one of {list(LAYER_TYPES)}. "
            f"Received: {_short(layer)}"
        )
    allowed = LAYER_TYPES[layer["type"]]
    unknown = sorted(set(layer) - set(allowed) - {"type"})
    if unknown:
        raise ValueError(
            f"{where} ({layer['type']}) takes only {sorted(allowed)}. "
            f"Received unknown keys: {unknown}"
        )
    parsed = {"type": layer["type"], **allowed, **layer}
    missing = sorted(key for key, value in parsed.items() if value is None)
    if missing:
        raise ValueError(f"{where} ({layer['type']}) needs {missing}")
    _check_values(where, parsed)
    return parsed


def _check_values(where: str, layer: dict[str, Any]) -> None:
    if "units" in layer and not _int_in(layer["units"], 1, MAX_UNITS):
        raise ValueError(
            f"{where}.units must be an integer from 1 to {MAX_UNITS}. "
            f"Received: {layer['units']!r}"
        )
    if "activation" in layer and layer["activation"] not in ACTIVATIONS:
        raise ValueError(
            f"{where}.activation must be one of {list(ACTIVATIONS)}. "
            f"Received: {layer['activation']!r}"
        )
    rate = layer.get("rate", 0.0)
    if not (_is_real(rate) and 0 <= rate <= MAX_DROPOUT_RATE):
        raise ValueError(
            f"{where}.rate must be a number from 0 to {MAX_DROPOUT_RATE}. "
            f"Received: {rate!r}"
        )


def _int_in(value: object, low: int, high: int) -> bool:
    is_int = isinstance(value, int) and not isinstance(value, bool)
    return is_int and low <= value <= high


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def count_parameters(spec: LayerSpec, input_size: int, output_size: int) -> int:
    """Counts the trainable parameters of the model `build_from_spec` builds."""
    count, width = 0, input_size
    for layer in spec.layers:
        if layer["type"] == "dense":
            count += (width + 1) * layer["units"]
            width = layer["units"]
        elif layer["type"] in ("batch_normalization", "layer_normalization"):
            count += 2 * width  # scale and offset; moving statistics are not trained
    return count + (width + 1) * output_size


def build_from_spec(spec: LayerSpec, input_size: int, output_size: int, seed: int = 0):
    """Builds the Keras model of `spec`, ending in a dense layer of logits."""
    from velo_core.models import import_keras

    keras = import_keras()
    inputs = keras.Input(shape=(input_size,), name="features")
    hidden = inputs
    for index, layer in enumerate(spec.layers):
        hidden = _keras_layer(keras, layer, seed * 1000 + index)(hidden)
    initializer = keras.initializers.GlorotUniform(seed * 1000 + len(spec.layers))
    outputs = keras.layers.Dense(
        output_size, kernel_initializer=initializer, name="outputs"
    )(hidden)
    return keras.Model(inputs, outputs, name="layers")


def _keras_layer(keras, layer: dict[str, Any], seed: int):
    kind = layer["type"]
    if kind == "dense":
        return keras.layers.Dense(
            layer["units"],
            activation=layer["activation"],
            kernel_initializer=keras.initializers.GlorotUniform(seed),
        )
    if kind == "dropout":
        return keras.layers.Dropout(layer["rate"], seed=seed)
    if kind == "batch_normalization":
        return keras.layers.BatchNormalization()
    if kind == "layer_normalization":
        return keras.layers.LayerNormalization()
    return keras.layers.Activation(layer["activation"])


class ModelFileError(ValueError):
    """An uploaded `.keras` file is broken, unsafe or unfit for training."""


def load_keras_file(path: str | Path):
    """Loads a `.keras` file with Keras safe mode on, so no Lambda code runs.

    Every layer must be a built-in Keras layer, the model must take one flat
    input, and its last layer must output logits, not probabilities.

    Raises:
        ModelFileError: saying why the file was rejected.
    """
    from velo_core.models import import_keras

    keras = import_keras()
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as error:  # Keras raises many types for broken archives
        raise ModelFileError(_load_failure(error)) from None
    _check_loaded_model(model)
    return model


def _load_failure(error: Exception) -> str:
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if "Lambda" in message or "safe_mode" in message:
        return (
            "the model contains a Lambda layer or other custom code, which is not "
            "loaded for safety. Replace it with built-in layers. "
            f"Keras said: {message[:200]}"
        )
    return (
        "the file is not a readable .keras model (save it with model.save("
        f"'model.keras')). Keras said: {type(error).__name__}: {message[:200]}"
    )


def _check_loaded_model(model) -> None:
    foreign = [
        type(layer).__name__
        for layer in _all_layers(model)
        if not type(layer).__module__.startswith("keras.")
    ]
    if foreign:
        raise ModelFileError(f"only built-in Keras layers are accepted: {foreign}")
    shape = _input_shape(model)
    if len(shape) != 2:
        raise ModelFileError(
            f"the model must take flat inputs of shape (batch, features). "
            f"Received: input shape {shape}"
        )
    activation = getattr(model.layers[-1], "activation", None)
    if getattr(activation, "__name__", None) in _PROBABILITY_ACTIVATIONS:
        raise ModelFileError(
            f"the last layer applies {activation.__name__}; training expects "
            "logits, so remove that activation"
        )


def _all_layers(model) -> list:
    layers = []
    for layer in model.layers:
        layers.append(layer)
        if hasattr(layer, "layers"):
            layers.extend(_all_layers(layer))
    return layers


def _input_shape(model) -> tuple:
    inputs = model.inputs if getattr(model, "inputs", None) else None
    if not inputs or len(inputs) != 1:
        raise ModelFileError("the model must have exactly one input")
    return tuple(inputs[0].shape)


def describe_keras_model(model) -> dict[str, Any]:
    """Returns the input and output sizes and the trainable parameter count."""
    return {
        "input_size": int(_input_shape(model)[-1]),
        "output_size": int(model.outputs[0].shape[-1]),
        "num_params": int(sum(math.prod(v.shape) for v in model.trainable_variables)),
    }


def check_fits(model, input_size: int, output_size: int) -> None:
    """Raises ModelFileError unless the model maps `input_size` to `output_size`."""
    described = describe_keras_model(model)
    if (described["input_size"], described["output_size"]) != (
        input_size,
        output_size,
    ):
        raise ModelFileError(
            f"the model maps {described['input_size']} inputs to "
            f"{described['output_size']} outputs, but the dataset has {input_size} "
            f"features and needs {output_size} outputs"
        )


def main(argv: list[str] | None = None) -> int:
    """Checks a `.keras` file; prints its description or the error as JSON."""
    parser = argparse.ArgumentParser(prog="python -m velo_core.layer_spec")
    parser.add_argument("keras_file", type=Path)
    args = parser.parse_args(argv)
    try:
        summary = describe_keras_model(load_keras_file(args.keras_file))
    except ModelFileError as error:
        print(json.dumps({"error": str(error)}))
        return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
