"""Stop training when a validation metric stops improving, keeping the best state.

Pure Python like the catalog, so the API can validate a request without JAX.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# Monitored metric -> whether larger values are better.
MONITORS = {"val_loss": False, "loss": False, "val_accuracy": True}
CLASSIFICATION_MONITORS = ("val_accuracy",)


@dataclass(frozen=True)
class EarlyStopping:
    """Describes when a run stops early.

    Training stops after `patience` epochs in a row without an improvement of the
    monitored metric by more than `min_delta`, and the model gets the weights of the
    best epoch back.

    Attributes:
        patience: epochs without improvement to tolerate, at least 1.
        min_delta: smallest change that counts as an improvement, at least 0.
        monitor: "val_loss", "loss" or "val_accuracy" (classification only).
    """

    patience: int = 5
    min_delta: float = 0.0
    monitor: str = "val_loss"

    def __post_init__(self) -> None:
        if isinstance(self.patience, bool) or not isinstance(self.patience, int):
            raise ValueError(
                "patience must be a positive integer. "
                f"Received: patience={self.patience!r}"
            )
        if self.patience < 1:
            raise ValueError(
                f"patience must be at least 1. Received: patience={self.patience}"
            )
        if not _is_finite_number(self.min_delta) or self.min_delta < 0:
            raise ValueError(
                "min_delta must be a finite number of at least 0. "
                f"Received: min_delta={self.min_delta!r}"
            )
        if self.monitor not in MONITORS:
            raise ValueError(
                f"monitor must be one of {sorted(MONITORS)}. "
                f"Received: monitor={self.monitor!r}"
            )

    def check_task(self, task: str) -> None:
        """Raises ValueError when the monitored metric does not exist for `task`."""
        if self.monitor in CLASSIFICATION_MONITORS and task != "classification":
            raise ValueError(
                f"monitor {self.monitor!r} exists for classification only; use "
                f"'val_loss' for a {task} dataset. Received: monitor={self.monitor!r}"
            )


def _is_finite_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value)


class EarlyStopper:
    """Follows one run's epochs and remembers the state of the best one."""

    def __init__(self, rule: EarlyStopping):
        self._rule = rule
        self._larger_is_better = MONITORS[rule.monitor]
        self._best_value: float | None = None
        self._epochs_without_improvement = 0
        self.best_epoch: int | None = None
        self.best_state: Any = None
        self.stopped_epoch: int | None = None

    def update(self, epoch: int, row: dict[str, float], state: Any) -> bool:
        """Records epoch `epoch` and its `state`; returns whether to stop after it."""
        value = row[self._rule.monitor]
        if self._improves(value):
            self._best_value = value
            self.best_epoch = epoch
            self.best_state = state
            self._epochs_without_improvement = 0
            return False
        self._epochs_without_improvement += 1
        if self._epochs_without_improvement >= self._rule.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def _improves(self, value: float) -> bool:
        if self._best_value is None:
            return True
        change = value - self._best_value
        if not self._larger_is_better:
            change = -change
        return change > self._rule.min_delta
