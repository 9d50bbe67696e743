"""Meta-train a compact VeLO with evolution strategies on a family of small tasks.

`meta_train(minutes, config)` runs antithetic ES over whole inner training runs
from a hand-built Adam-like start and returns the weights that score best on a
validation set of tasks; `velotrain metatrain` wraps it and writes the weights
file and its JSON card. `evaluate_weights` compares weights with Adam on tasks
outside the family (in `velo_core.metatrain.evaluate`, which imports Keras).
"""

from velo_core.metatrain.es import EsConfig
from velo_core.metatrain.run import MetaTrainConfig, MetaTrainResult, meta_train
from velo_core.metatrain.tasks import FAMILY, TaskBucket

__all__ = [
    "FAMILY",
    "EsConfig",
    "MetaTrainConfig",
    "MetaTrainResult",
    "TaskBucket",
    "meta_train",
]
