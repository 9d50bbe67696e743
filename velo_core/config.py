"""Define the plain configuration of one training run.

Pure Python like the catalog, so callers can validate a run without importing JAX.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from velo_core import catalog
from velo_core.early_stopping import EarlyStopping
from velo_core.layer_spec import KerasModelFile, LayerSpec
from velo_core.user_data import UserDatasetSource


@dataclass(frozen=True)
class TrainConfig:
    """Describes one training run of a preset model on a bundled dataset.

    Attributes:
        dataset: a name from `catalog.DATASETS`, or a `UserDatasetSource`.
        model: a name from `catalog.MODELS` that supports `dataset`, a
            `LayerSpec`, or a `KerasModelFile`.
        hidden_sizes: units per hidden layer of `mlp`; None means the default.
        use_velo: train with VeLO instead of Adam.
        epochs: passes over the training split.
        batch_size: "full" (one optimizer step per epoch) or samples per step.
        learning_rate: Adam's learning rate; VeLO has none and ignores it.
        validation_split: fraction of the samples held out, in (0, 0.5].
        seed: seeds the split, the initial weights and the minibatch order.
        velo_weights: VeLO weights: loaded `VeloWeights`, a registered name or a
            file path; None means the bundled default.
        early_stopping: when to stop before `epochs`; None trains every epoch.
    """

    dataset: str | UserDatasetSource = "digits"
    model: str | LayerSpec | KerasModelFile = "mlp"
    hidden_sizes: tuple[int, ...] | None = None
    use_velo: bool = False
    epochs: int = catalog.DEFAULT_EPOCHS
    batch_size: int | str = catalog.DEFAULT_BATCH_SIZE
    learning_rate: float = catalog.DEFAULT_LEARNING_RATE
    validation_split: float = catalog.DEFAULT_VALIDATION_SPLIT
    seed: int = catalog.DEFAULT_SEED
    velo_weights: Any = None
    early_stopping: EarlyStopping | None = None

    def __post_init__(self) -> None:
        _check_model_and_dataset(self.model, self.dataset)
        if not isinstance(self.model, str) and self.hidden_sizes is not None:
            raise ValueError(
                "hidden_sizes applies only to model 'mlp'. Received: "
                f"hidden_sizes={self.hidden_sizes!r} with a layer spec or model file"
            )
        if isinstance(self.model, str):
            catalog.check_hidden_sizes(self.model, self.hidden_sizes)
        if self.hidden_sizes is not None:
            object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        if not isinstance(self.use_velo, bool):
            raise ValueError(
                f"use_velo must be True or False. Received: use_velo={self.use_velo!r}"
            )
        catalog.check_epochs(self.epochs)
        catalog.check_batch_size(self.batch_size)
        catalog.check_learning_rate(self.learning_rate)
        catalog.check_validation_split(self.validation_split)
        catalog.check_seed(self.seed)
        if self.early_stopping is not None and not isinstance(
            self.early_stopping, EarlyStopping
        ):
            raise TypeError(
                "early_stopping must be an EarlyStopping or None. "
                f"Received: early_stopping={self.early_stopping!r}"
            )

    @property
    def resolved_hidden_sizes(self) -> tuple[int, ...] | None:
        """Returns the hidden sizes `mlp` is built with; None for other presets."""
        if self.model != "mlp":
            return None
        return self.hidden_sizes or catalog.DEFAULT_HIDDEN_SIZES


def _check_model_and_dataset(model: object, dataset: object) -> None:
    if not isinstance(dataset, str | UserDatasetSource):
        raise TypeError(
            "dataset must be a catalog name or a UserDatasetSource. "
            f"Received: dataset of type {type(dataset).__name__}"
        )
    if not isinstance(model, str | LayerSpec | KerasModelFile):
        raise TypeError(
            "model must be a preset name, a LayerSpec or a KerasModelFile. "
            f"Received: model of type {type(model).__name__}"
        )
    if isinstance(model, str) and isinstance(dataset, str):
        catalog.check_model_for_dataset(model, dataset)
    elif isinstance(model, str) and catalog.model_preset(model).needs_images:
        raise ValueError(
            f"model {model!r} needs the 8x8 images of 'digits'; for your own "
            f"data use 'linear', 'mlp' or a layer spec. Received: model={model!r}"
        )
