"""Measure what a training run cost: compile time, gradient, update and evaluation time.

The training loop jits whole epochs, gradient and update fused in one call, so it
cannot time them apart. After training, `measure_step_parts` times a gradient call,
an optimizer update and a validation pass as separately jitted functions (median of
several calls, each waited for with `block_until_ready`). `split_loop_time` then
divides the loop's measured steady-state time between the three in those
proportions, so the parts add up to the time the loop really took.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import optax

# Calls timed per part after one warm-up call that compiles it.
TIMED_CALLS = 5

METHOD = (
    "compile: epoch 1 seconds minus a steady-state epoch (median of later epochs, or "
    "the timed parts when only one epoch ran); gradient, update and evaluation: the "
    "remaining loop time divided in the proportions of separately jitted gradient, "
    "update and validation calls timed after training (median of 5 calls each)"
)


@dataclass(frozen=True)
class StepParts:
    """Holds the steady-state seconds of one gradient, update and validation call."""

    gradient: float
    update: float
    evaluation: float

    def epoch_seconds(self, steps_per_epoch: int) -> float:
        """Returns the seconds of one epoch predicted from the parts."""
        return steps_per_epoch * (self.gradient + self.update) + self.evaluation


@dataclass(frozen=True)
class CostBreakdown:
    """Holds where the time and memory of one training run went.

    Attributes:
        loop_seconds: wall time of all epochs, compilation included.
        compile_seconds: estimated compilation time within `loop_seconds`.
        gradient_seconds: time in gradient computation (loss and backward pass).
        update_seconds: time in optimizer updates (Adam or VeLO), applied included.
        evaluation_seconds: time in the validation passes at the end of each epoch.
        peak_memory_bytes: peak resident memory of the whole process so far (it can
            stem from earlier work of the same process).
        optimizer_state_bytes: size of the optimizer state's arrays.
        method: how the time figures were obtained.
    """

    loop_seconds: float
    compile_seconds: float
    gradient_seconds: float
    update_seconds: float
    evaluation_seconds: float
    peak_memory_bytes: int
    optimizer_state_bytes: int
    method: str = METHOD

    def as_dict(self) -> dict[str, Any]:
        """Returns the figures as a JSON-ready dict."""
        return dict(self.__dict__)


def process_peak_memory_bytes() -> int:
    """Returns the peak resident memory of this process, in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kibibytes, macOS bytes.
    return int(peak if sys.platform == "darwin" else peak * 1024)


def tree_bytes(tree: Any) -> int:
    """Returns the total size in bytes of the arrays in `tree`."""
    return sum(int(getattr(leaf, "nbytes", 0)) for leaf in jax.tree.leaves(tree))


def median_call_seconds(call: Callable[[], Any], timed_calls: int = TIMED_CALLS):
    """Returns the median seconds of `call` after one warm-up call.

    Each call's outputs are waited for with `block_until_ready`, so asynchronous
    dispatch does not hide the work.
    """
    jax.block_until_ready(call())
    durations = []
    for _ in range(timed_calls):
        started = time.perf_counter()
        jax.block_until_ready(call())
        durations.append(time.perf_counter() - started)
    return statistics.median(durations)


def measure_step_parts(
    model, per_sample_loss, optimizer, state, batch, evaluate: Callable[[], Any]
) -> StepParts:
    """Times a gradient call, an update and `evaluate` as separately jitted calls.

    Args:
        model: the Keras model being trained.
        per_sample_loss: loss per sample from (outputs, targets).
        optimizer: the optax transformation of the run (`update` takes `value`).
        state: a `TrainState` (params, non_trainable, opt_state).
        batch: (x, y) of one optimizer step's size.
        evaluate: runs one validation pass; jitted by the caller.
    """

    def mean_loss(params, x, y):
        outputs, _ = model.stateless_call(params, state.non_trainable, x, training=True)
        return per_sample_loss(outputs, y).mean()

    def update(grads, opt_state, params, loss):
        updates, opt_state = optimizer.update(grads, opt_state, params, value=loss)
        return optax.apply_updates(params, updates), opt_state

    gradient_fn = jax.jit(jax.value_and_grad(mean_loss))
    update_fn = jax.jit(update)
    loss, grads = gradient_fn(state.params, *batch)
    return StepParts(
        gradient=median_call_seconds(lambda: gradient_fn(state.params, *batch)),
        update=median_call_seconds(
            lambda: update_fn(grads, state.opt_state, state.params, loss)
        ),
        evaluation=median_call_seconds(evaluate),
    )


def compile_seconds(
    epoch_seconds: Sequence[float], parts: StepParts, steps_per_epoch: int
) -> float:
    """Returns epoch 1's seconds beyond a steady-state epoch, at least 0."""
    if len(epoch_seconds) > 1:
        steady = statistics.median(epoch_seconds[1:])
    else:
        steady = parts.epoch_seconds(steps_per_epoch)
    return max(0.0, epoch_seconds[0] - steady)


def split_loop_time(
    epoch_seconds: Sequence[float],
    parts: StepParts,
    steps_per_epoch: int,
    optimizer_state: Any,
) -> CostBreakdown:
    """Divides the loop's time into compilation, gradient, update and evaluation."""
    if not epoch_seconds:
        raise ValueError(
            "epoch_seconds must hold at least one epoch. Received: epoch_seconds=[]"
        )
    loop = float(sum(epoch_seconds))
    compiling = min(compile_seconds(epoch_seconds, parts, steps_per_epoch), loop)
    steady = loop - compiling
    predicted = parts.epoch_seconds(steps_per_epoch)
    gradient_share = steps_per_epoch * parts.gradient / predicted
    update_share = steps_per_epoch * parts.update / predicted
    return CostBreakdown(
        loop_seconds=loop,
        compile_seconds=compiling,
        gradient_seconds=steady * gradient_share,
        update_seconds=steady * update_share,
        evaluation_seconds=steady * (1.0 - gradient_share - update_share),
        peak_memory_bytes=process_peak_memory_bytes(),
        optimizer_state_bytes=tree_bytes(optimizer_state),
    )
