import math

import pytest

from velo_core.divergence import (
    BLOW_UP_FACTOR,
    TrainingDiverged,
    check_losses,
    constant_prediction_loss,
)


def test_reference_loss_classification_is_log_classes():
    assert constant_prediction_loss(10) == pytest.approx(math.log(10))


def test_reference_loss_regression_is_one():
    assert constant_prediction_loss(None) == 1.0


def test_reference_loss_rejects_one_class():
    with pytest.raises(ValueError, match="num_classes=1"):
        constant_prediction_loss(1)


def test_check_losses_passes_high_but_bounded_loss():
    check_losses(3, {"loss": 0.9 * BLOW_UP_FACTOR, "val_loss": 2.0}, 1.0)


def test_check_losses_nan_names_loss():
    with pytest.raises(TrainingDiverged, match="^diverged at epoch 2: loss is nan$"):
        check_losses(2, {"loss": float("nan"), "val_loss": 1.0}, 1.0)


def test_check_losses_infinite_val_loss():
    with pytest.raises(
        TrainingDiverged, match="^diverged at epoch 4: val_loss is inf$"
    ):
        check_losses(4, {"loss": 1.0, "val_loss": float("inf")}, 1.0)


def test_check_losses_blow_up_names_loss_and_reference():
    with pytest.raises(TrainingDiverged) as caught:
        check_losses(5, {"loss": 1.0, "val_loss": 3e16}, 2.3)
    assert caught.value.epoch == 5
    assert str(caught.value) == (
        "diverged at epoch 5: val_loss 3e+16 is over 1e+06 times the loss of a "
        "constant prediction (2.3)"
    )
