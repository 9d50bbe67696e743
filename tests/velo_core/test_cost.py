import jax.numpy as jnp
import pytest

from velo_core.config import TrainConfig
from velo_core.cost import (
    StepParts,
    compile_seconds,
    median_call_seconds,
    process_peak_memory_bytes,
    split_loop_time,
    tree_bytes,
)
from velo_core.training import train

PARTS = StepParts(gradient=0.002, update=0.006, evaluation=0.004)


def test_tree_bytes_sums_leaves():
    tree = {"a": jnp.zeros(3, jnp.float32), "b": [jnp.zeros((2, 2), jnp.int8)]}
    assert tree_bytes(tree) == 16


def test_peak_memory_is_at_least_ten_megabytes():
    assert process_peak_memory_bytes() > 10 * 2**20


def test_compile_seconds_subtracts_median_later_epoch():
    assert compile_seconds([5.0, 1.0, 1.2, 0.8], PARTS, 2) == pytest.approx(4.0)


def test_compile_seconds_of_one_epoch_uses_parts():
    # One epoch of 2 steps predicted at 2 * 0.008 + 0.004 = 0.02 s.
    assert compile_seconds([1.0], PARTS, 2) == pytest.approx(0.98)


def test_compile_seconds_is_never_negative():
    assert compile_seconds([0.5, 1.0, 1.0], PARTS, 2) == 0.0


def test_split_adds_up_to_loop_time():
    cost = split_loop_time([5.0, 1.0, 1.0], PARTS, 2, {})
    parts = (
        cost.compile_seconds,
        cost.gradient_seconds,
        cost.update_seconds,
        cost.evaluation_seconds,
    )
    assert sum(parts) == pytest.approx(7.0)


def test_split_follows_part_proportions():
    cost = split_loop_time([5.0, 1.0, 1.0], PARTS, 2, {})
    # Steady time 7 - 4 = 3 s; per epoch the parts predict 0.004 s of gradients,
    # 0.012 s of updates and 0.004 s of evaluation: shares 0.2, 0.6 and 0.2.
    assert cost.gradient_seconds == pytest.approx(0.6)
    assert cost.update_seconds == pytest.approx(1.8)
    assert cost.evaluation_seconds == pytest.approx(0.6)


def test_split_rejects_empty_history():
    with pytest.raises(ValueError, match="at least one epoch"):
        split_loop_time([], PARTS, 2, {})


def test_median_call_seconds_warms_up_first():
    calls = []
    seconds = median_call_seconds(lambda: calls.append(1) or jnp.ones(2), 3)
    assert len(calls) == 4
    assert seconds >= 0.0


@pytest.fixture(scope="module")
def adam_cost():
    result = train(TrainConfig(dataset="iris", model="linear", epochs=3), None, True)
    return result


def test_train_measures_positive_parts(adam_cost):
    cost = adam_cost.cost
    assert cost.compile_seconds > 0
    assert cost.gradient_seconds > 0
    assert cost.update_seconds > 0
    assert cost.evaluation_seconds > 0


def test_train_cost_within_loop_time(adam_cost):
    cost = adam_cost.cost
    loop = sum(row["seconds"] for row in adam_cost.history)
    parts = cost.compile_seconds + cost.gradient_seconds + cost.update_seconds
    assert parts + cost.evaluation_seconds == pytest.approx(loop)
    assert cost.loop_seconds == pytest.approx(loop)


def test_adam_state_holds_two_moments_and_a_count(adam_cost):
    param_bytes = sum(w.nbytes for w in adam_cost.model.get_weights())
    assert adam_cost.cost.optimizer_state_bytes == 2 * param_bytes + 4


def test_train_without_measuring_has_no_cost():
    result = train(TrainConfig(dataset="iris", model="linear", epochs=1))
    assert result.cost is None
