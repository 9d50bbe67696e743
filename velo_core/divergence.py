"""Decide when a training run has diverged.

A run diverges when a loss is NaN or infinite, or when it grows past
`BLOW_UP_FACTOR` times the loss of a constant prediction. That reference is
log(num_classes) for classification (uniform probabilities) and 1 for regression
(targets are standardised, so predicting the training mean scores 1). No useful
model sits a million times above it, and finite losses near 1e16 otherwise pass
for a finished run.
"""

import math

BLOW_UP_FACTOR = 1e6


class TrainingDiverged(RuntimeError):
    """Error raised when a loss is NaN, infinite or blows up, naming the epoch."""

    def __init__(self, epoch: int, detail: str | None = None):
        message = f"diverged at epoch {epoch}"
        super().__init__(f"{message}: {detail}" if detail else message)
        self.epoch = epoch


def constant_prediction_loss(num_classes: int | None) -> float:
    """Returns the loss of a constant prediction: log(classes), or 1 for regression."""
    if num_classes is None:
        return 1.0
    if num_classes < 2:
        raise ValueError(
            f"A classification task needs at least 2 classes. Received: "
            f"num_classes={num_classes}"
        )
    return math.log(num_classes)


def check_losses(epoch: int, losses: dict[str, float], reference: float) -> None:
    """Raises `TrainingDiverged` if any loss in `losses` is not finite or blew up.

    Args:
        epoch: the epoch the losses come from, counted from 1.
        losses: loss name (for example "loss", "val_loss") to value.
        reference: the loss of a constant prediction on this task.
    """
    limit = BLOW_UP_FACTOR * reference
    for name, value in losses.items():
        if not math.isfinite(value):
            raise TrainingDiverged(epoch, f"{name} is {value}")
        if value > limit:
            raise TrainingDiverged(
                epoch,
                f"{name} {value:.3g} is over {BLOW_UP_FACTOR:g} times the loss of a "
                f"constant prediction ({reference:.3g})",
            )
