"""Print JSON lines with the per-epoch wall time of velo_core's training loop.

Runs digits with the mlp and conv presets, Adam and VeLO, full batch and batches of
32, then times the floor: the same network as one plain jitted JAX function
(forward, backward, optax.adam on the whole training split) and reports the loop's
overhead over it. Epoch 1 holds the compilation and is reported apart.

Usage: python bench/train_epoch.py [--epochs 20] [--weights PATH_OR_NAME]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import jax
import jax.numpy as jnp
import optax

from velo_core.config import TrainConfig
from velo_core.datasets import load_dataset
from velo_core.training import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--weights", default=None, help="VeLO weights name or path")
    args = parser.parse_args()
    weights, weights_note = velo_weights(args.weights)
    emit({"bench": "train_epoch", "device": str(jax.devices()[0]), **weights_note})
    for model in ("mlp", "conv"):
        loop_seconds = {}
        for batch_size in ("full", 32):
            for use_velo in (False, True):
                row = time_loop(model, batch_size, use_velo, weights, args.epochs)
                loop_seconds[batch_size, use_velo] = row["epoch_seconds"]
                emit(row)
            emit(ratio_row(model, batch_size, loop_seconds))
        emit(floor_row(model, args.epochs, loop_seconds["full", False]))


def velo_weights(requested):
    """Returns the VeLO weights to time and a note on where they come from."""
    from velo_core.velo import (
        VeloArchitecture,
        VeloWeights,
        WeightsUnavailableError,
        init_theta,
        resolve_weights,
    )

    try:
        weights = resolve_weights(requested, cache_dir=None)
        return weights, {"velo_weights": weights.name, "sha256": weights.sha256}
    except WeightsUnavailableError:
        theta = init_theta(jax.random.key(0))
        weights = VeloWeights("random", "", None, theta, VeloArchitecture())
        note = "no VeLO weights installed: random theta (init_theta, key 0)"
        return weights, {"velo_weights": "random", "note": note + "; timing only"}


def time_loop(model, batch_size, use_velo, weights, epochs) -> dict:
    """Trains once and returns the median wall time of epochs 2 and later."""
    config = TrainConfig(
        dataset="digits",
        model=model,
        use_velo=use_velo,
        batch_size=batch_size,
        epochs=epochs,
        velo_weights=weights if use_velo else None,
    )
    history = train(config).history
    return {
        "model": model,
        "optimizer": "velo" if use_velo else "adam",
        "batch_size": batch_size,
        "epoch_seconds": statistics.median(row["seconds"] for row in history[1:]),
        "first_epoch_seconds": history[0]["seconds"],
        "epochs": epochs,
    }


def ratio_row(model, batch_size, loop_seconds) -> dict:
    adam, velo = loop_seconds[batch_size, False], loop_seconds[batch_size, True]
    return {
        "model": model,
        "batch_size": batch_size,
        "velo_over_adam": velo / adam,
    }


def floor_row(model, epochs, loop_adam_full) -> dict:
    floor = time_floor(model, epochs)
    return {
        "model": model,
        "floor_epoch_seconds": floor,
        "loop_adam_full_epoch_seconds": loop_adam_full,
        "loop_overhead_seconds": loop_adam_full - floor,
        "loop_over_floor": loop_adam_full / floor,
    }


def time_floor(model, epochs) -> float:
    """Returns the median time of one plain jitted full-batch Adam step."""
    data = load_dataset("digits")
    x, y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    params = (init_mlp if model == "mlp" else init_conv)(jax.random.key(0))
    forward = mlp_forward if model == "mlp" else conv_forward
    adam = optax.adam(1e-2)

    @jax.jit
    def step(params, opt_state):
        def loss_fn(params):
            logits = forward(params, x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = adam.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    state = (params, adam.init(params))
    seconds = []
    for _ in range(epochs):
        started = time.perf_counter()
        *state, loss = step(*state)
        loss.block_until_ready()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds[1:])


def dense_init(key, inputs, outputs):
    scale = jnp.sqrt(6.0 / (inputs + outputs))
    kernel = jax.random.uniform(key, (inputs, outputs), minval=-scale, maxval=scale)
    return kernel, jnp.zeros(outputs)


def init_mlp(key):
    first, second = jax.random.split(key)
    return [dense_init(first, 64, 128), dense_init(second, 128, 10)]


def mlp_forward(params, x):
    (w1, b1), (w2, b2) = params
    return jax.nn.relu(x @ w1 + b1) @ w2 + b2


def init_conv(key):
    keys = jax.random.split(key, 3)
    conv1 = jax.random.normal(keys[0], (3, 3, 1, 16)) * 0.2
    conv2 = jax.random.normal(keys[1], (3, 3, 16, 32)) * 0.1
    return [
        (conv1, jnp.zeros(16)),
        (conv2, jnp.zeros(32)),
        dense_init(keys[2], 512, 10),
    ]


def conv_forward(params, x):
    (k1, b1), (k2, b2), (w, b) = params
    hidden = x.reshape(-1, 8, 8, 1)
    for kernel, bias in ((k1, b1), (k2, b2)):
        hidden = jax.lax.conv_general_dilated(
            hidden, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        hidden = jax.nn.relu(hidden + bias)
    pooled = jax.lax.reduce_window(
        hidden, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID"
    )
    return pooled.reshape(len(x), -1) @ w + b


def emit(row: dict) -> None:
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
