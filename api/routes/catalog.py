"""GET /catalog: datasets, model presets and defaults to build forms from."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from api.comparison_schemas import SWEEP_LEARNING_RATES
from api.deps import get_settings
from api.job_config import training_set_size
from api.schemas import Device, JobCreate
from velo_core import catalog
from velotrain.settings import Settings

router = APIRouter(tags=["catalog"])


class DatasetEntry(BaseModel):
    name: str
    task: str
    num_samples: int
    num_features: int
    num_classes: int | None
    output_size: int
    train_size: int
    models: list[str]


class ModelEntry(BaseModel):
    name: str
    description: str
    takes_hidden_sizes: bool
    needs_images: bool


class Defaults(BaseModel):
    dataset: str
    model: str
    epochs: int
    batch_size: Literal["full"] | int
    learning_rate: float
    validation_split: float
    seed: int
    hidden_sizes: list[int]


class Catalog(BaseModel):
    datasets: list[DatasetEntry]
    models: list[ModelEntry]
    defaults: Defaults
    max_epochs: int
    comparison_learning_rates: list[float]
    default_device: Device = Field(
        description="Queue of a job whose request names no device (job_queue setting)"
    )


def _dataset_entry(info: catalog.DatasetInfo) -> DatasetEntry:
    return DatasetEntry(
        name=info.name,
        task=info.task,
        num_samples=info.num_samples,
        num_features=info.num_features,
        num_classes=info.num_classes,
        # Regression predicts one value.
        output_size=info.num_classes or 1,
        train_size=training_set_size(info.name, catalog.DEFAULT_VALIDATION_SPLIT),
        models=catalog.supported_models(info.name),
    )


@router.get("/catalog", response_model=Catalog)
def read_catalog(settings: Annotated[Settings, Depends(get_settings)]) -> Catalog:
    """List what the service trains; train_size assumes the default validation split."""
    return Catalog(
        datasets=[_dataset_entry(info) for info in catalog.DATASETS.values()],
        models=[
            ModelEntry(
                name=preset.name,
                description=preset.description,
                takes_hidden_sizes=preset.takes_hidden_sizes,
                needs_images=preset.needs_images,
            )
            for preset in catalog.MODELS.values()
        ],
        defaults=Defaults(
            dataset=JobCreate.model_fields["dataset"].default,
            model=JobCreate.model_fields["model"].default,
            epochs=catalog.DEFAULT_EPOCHS,
            batch_size=catalog.DEFAULT_BATCH_SIZE,
            learning_rate=catalog.DEFAULT_LEARNING_RATE,
            validation_split=catalog.DEFAULT_VALIDATION_SPLIT,
            seed=catalog.DEFAULT_SEED,
            hidden_sizes=list(catalog.DEFAULT_HIDDEN_SIZES),
        ),
        max_epochs=settings.max_epochs,
        comparison_learning_rates=list(SWEEP_LEARNING_RATES),
        default_device=settings.job_queue,
    )
