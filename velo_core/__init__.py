"""Train small Keras models on bundled datasets with Adam or the VeLO optimizer.

Names load lazily: importing `velo_core` or `velo_core.catalog` imports neither JAX
nor Keras, so processes that only validate requests stay light.
"""

from __future__ import annotations

import importlib
from typing import Any

# Public name -> module that defines it.
_EXPORTS = {
    "DATASETS": "velo_core.catalog",
    "MODELS": "velo_core.catalog",
    "Dataset": "velo_core.datasets",
    "OptimizerInfo": "velo_core.optimizers",
    "TrainConfig": "velo_core.config",
    "TrainResult": "velo_core.training",
    "TrainingDiverged": "velo_core.divergence",
    "build_model": "velo_core.models",
    "build_optimizer": "velo_core.optimizers",
    "load_dataset": "velo_core.datasets",
    "steps_per_epoch": "velo_core.training",
    "train": "velo_core.training",
    "train_keras_model_with_velo": "velo_core.keras",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'velo_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
