import math

import numpy as np
import pytest

from velo_core import training
from velo_core.config import TrainConfig
from velo_core.early_stopping import EarlyStopper, EarlyStopping
from velo_core.training import train

VELO_REFERENCE_WEIGHTS = "tests/data/velo_reference/params"


@pytest.mark.parametrize("patience", [0, -1, True, 1.5])
def test_rule_rejects_patience(patience):
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=patience)


@pytest.mark.parametrize("min_delta", [-0.1, math.nan, math.inf, "0"])
def test_rule_rejects_min_delta(min_delta):
    with pytest.raises(ValueError, match="min_delta"):
        EarlyStopping(min_delta=min_delta)


def test_rule_rejects_unknown_monitor():
    with pytest.raises(ValueError, match="monitor must be one of"):
        EarlyStopping(monitor="accuracy")


def test_rule_rejects_accuracy_for_regression():
    with pytest.raises(ValueError, match="classification only"):
        EarlyStopping(monitor="val_accuracy").check_task("regression")


def follow(rule, values, monitor="val_loss"):
    """Returns the stopper after feeding `values`, stopping where it says."""
    stopper = EarlyStopper(rule)
    for epoch, value in enumerate(values, start=1):
        if stopper.update(epoch, {monitor: value}, state=epoch):
            break
    return stopper


def test_stopper_stops_after_patience():
    stopper = follow(EarlyStopping(patience=3), [1.0, 0.8, 0.9, 0.85, 0.95, 0.1])
    assert stopper.stopped_epoch == 5
    assert stopper.best_epoch == 2
    assert stopper.best_state == 2


def test_stopper_ignores_changes_within_min_delta():
    stopper = follow(EarlyStopping(patience=2, min_delta=0.1), [1.0, 0.95, 0.92])
    assert stopper.stopped_epoch == 3
    assert stopper.best_epoch == 1


def test_stopper_maximises_accuracy():
    rule = EarlyStopping(patience=1, monitor="val_accuracy")
    stopper = follow(rule, [0.5, 0.7, 0.6], monitor="val_accuracy")
    assert stopper.stopped_epoch == 3
    assert stopper.best_epoch == 2


def test_stopper_runs_on_while_improving():
    stopper = follow(EarlyStopping(patience=1), [3.0, 2.0, 1.0])
    assert stopper.stopped_epoch is None
    assert stopper.best_epoch == 3


# Validation losses the patched loop reports: best at epoch 2, rising after it.
SCRIPTED_VAL_LOSS = [1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1]


@pytest.fixture
def rising_val_loss(monkeypatch):
    """Makes every run report SCRIPTED_VAL_LOSS as its validation loss."""
    real_row = training._Run._row

    def scripted_row(self, epoch, metrics):
        row = real_row(self, epoch, metrics)
        row["val_loss"] = SCRIPTED_VAL_LOSS[epoch - 1]
        return row

    monkeypatch.setattr(training._Run, "_row", scripted_row)


def config_for(use_velo, epochs, early_stopping=None):
    return TrainConfig(
        dataset="iris",
        model="linear",
        use_velo=use_velo,
        epochs=epochs,
        velo_weights=VELO_REFERENCE_WEIGHTS if use_velo else None,
        early_stopping=early_stopping,
    )


@pytest.mark.parametrize("use_velo", [False, True], ids=["adam", "velo"])
def test_train_stops_at_expected_epoch(rising_val_loss, use_velo):
    rule = EarlyStopping(patience=2)
    result = train(config_for(use_velo, 8, rule))
    assert result.stopped_epoch == 4
    assert result.best_epoch == 2
    assert len(result.history) == 4
    assert result.num_steps == 8
    assert result.steps_taken == 4
    assert result.final_metrics["val_loss"] == 0.5
    assert result.final_metrics["epoch"] == 2


def cancel_after_epoch_2(row):
    return row["epoch"] == 2


@pytest.mark.parametrize("use_velo", [False, True], ids=["adam", "velo"])
def test_train_restores_best_weights(rising_val_loss, use_velo):
    stopped = train(config_for(use_velo, 8, EarlyStopping(patience=2)))
    # VeLO conditions on the planned steps, so the reference plans 8 epochs too and
    # is cancelled after epoch 2.
    reference = train(
        config_for(use_velo, 8), on_epoch_end=lambda row: row["epoch"] == 2
    )
    for kept, expected in zip(
        stopped.model.get_weights(), reference.model.get_weights(), strict=True
    ):
        np.testing.assert_array_equal(kept, expected)


def test_train_without_rule_runs_every_epoch():
    result = train(config_for(False, 3))
    assert result.stopped_epoch is None
    assert result.best_epoch is None
    assert result.steps_taken == 3


def test_config_rejects_rule_of_wrong_type():
    with pytest.raises(TypeError, match="early_stopping must be an EarlyStopping"):
        TrainConfig(early_stopping={"patience": 2})
