"""Time one jitted VeLO update against one jitted Adam update; print JSON lines.

Each line covers one parameter-tree size (three dense layers with biases). It gives
the median time of one jitted update plus optax.apply_updates for VeLO (horizon
10,000 steps) and for optax.adam(1e-3), both measured in the same process after
compilation and three warm-up calls. It also gives compile times and the ratio
VeLO / Adam. Speed does not depend on the weights' values, so without --weights a
random theta of the published architecture is used.
"""

import argparse
import json
import statistics
import time

import jax
import jax.numpy as jnp
import optax

from velo_core.velo import VeloArchitecture, init_theta, load_weights, velo_from_theta

SIZES = {
    "10k": ((128, 64), (64, 32), (32, 10)),
    "100k": ((512, 160), (160, 100), (100, 10)),
    "1M": ((1024, 768), (768, 256), (256, 64)),
}
WARMUP_CALLS = 3


def make_params(layers, key) -> dict:
    params = {}
    for index, (inputs, outputs) in enumerate(layers):
        key, sub = jax.random.split(key)
        params[f"dense_{index}"] = {
            "kernel": jax.random.normal(sub, (inputs, outputs)) / inputs**0.5,
            "bias": jnp.zeros((outputs,)),
        }
    return params


def jitted_step(tx):
    @jax.jit
    def step(params, state, grads, loss):
        updates, state = tx.update(grads, state, params, value=loss)
        return optax.apply_updates(params, updates), state

    return step


def time_optimizer(tx, params, grads, calls: int) -> tuple[float, float, float]:
    """Return (median and fastest milliseconds per update, compile seconds)."""
    step, state, loss = jitted_step(tx), tx.init(params), jnp.float32(1.5)
    started = time.perf_counter()
    compiled = step.lower(params, state, grads, loss).compile()
    compile_s = time.perf_counter() - started
    for _ in range(WARMUP_CALLS):
        jax.block_until_ready(compiled(params, state, grads, loss))
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        jax.block_until_ready(compiled(params, state, grads, loss))
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3, min(times) * 1e3, compile_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="VeLO weights file (default: random)")
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--sizes", nargs="*", default=list(SIZES))
    args = parser.parse_args()
    if args.weights:
        loaded = load_weights(args.weights)
        theta, arch = loaded.theta, loaded.arch
    else:
        arch = VeloArchitecture()
        theta = init_theta(jax.random.PRNGKey(0), arch)
    for size in args.sizes:
        params = make_params(SIZES[size], jax.random.PRNGKey(1))
        grads = jax.tree_util.tree_map(lambda p: 0.01 * jnp.ones_like(p), params)
        count = sum(p.size for p in jax.tree_util.tree_leaves(params))
        velo_tx = velo_from_theta(theta, arch, num_steps=10_000)
        velo_ms, velo_min, velo_compile = time_optimizer(
            velo_tx, params, grads, args.calls
        )
        adam_ms, adam_min, adam_compile = time_optimizer(
            optax.adam(1e-3), params, grads, args.calls
        )
        print(
            json.dumps(
                {
                    "size": size,
                    "params": count,
                    "velo_ms": round(velo_ms, 3),
                    "adam_ms": round(adam_ms, 3),
                    "ratio": round(velo_ms / adam_ms, 1),
                    # Fastest calls: less sensitive to other load on a shared machine.
                    "velo_min_ms": round(velo_min, 3),
                    "adam_min_ms": round(adam_min, 3),
                    "ratio_of_min": round(velo_min / adam_min, 1),
                    "velo_compile_s": round(velo_compile, 2),
                    "adam_compile_s": round(adam_compile, 2),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
