"""Resolve a job's uploaded dataset and custom model into stored configuration.

A job names an uploaded dataset as `{"id": N}` and a custom model as a layer spec
or `{"upload": sha256}`. This module looks them up and checks them against each
other, without importing JAX: the layer spec is checked in pure Python, and a
`.keras` upload was checked in a child process when it was uploaded.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from api.dataset_schemas import (
    DatasetRef,
    LayerSpecRequest,
    ModelFileConfig,
    ModelUploadRef,
    UserDatasetConfig,
)
from api.job_config import InvalidField
from api.schemas import JobConfig, JobCreate
from db import datasets
from velo_core import catalog, layer_spec, user_data
from velotrain.settings import Settings

LAYERS_MODEL = "layers"
UPLOADED_MODEL = "upload"


@dataclass(frozen=True)
class UserSources:
    """The uploaded dataset and custom model of one request, when it names them."""

    dataset: UserDatasetConfig | None = None
    layers: layer_spec.LayerSpec | None = None
    model_file: ModelFileConfig | None = None

    def dataset_info(self) -> catalog.DatasetInfo | None:
        """Return the uploaded dataset as a catalog entry, or None."""
        return None if self.dataset is None else user_dataset_info(self.dataset)


def user_dataset_info(dataset: UserDatasetConfig) -> catalog.DatasetInfo:
    """Describe an uploaded dataset the way the catalog describes bundled ones."""
    return catalog.DatasetInfo(
        name=datasets.job_dataset_name(dataset.id),
        task=dataset.task,
        num_samples=dataset.num_rows,
        num_features=dataset.num_features,
        num_classes=dataset.num_classes,
        is_image_8x8=False,
    )


def config_dataset_info(config: JobConfig) -> catalog.DatasetInfo:
    """Return the dataset of a resolved job config: uploaded or from the catalog."""
    if config.user_dataset is not None:
        return user_dataset_info(config.user_dataset)
    return catalog.dataset_info(config.dataset)


def resolve_sources(
    request: JobCreate, session: Session, project: str, settings: Settings
) -> UserSources:
    """Look up what `request` names besides catalog entries; raise InvalidField."""
    dataset = None
    if isinstance(request.dataset, DatasetRef):
        dataset = _dataset_config(request.dataset, session, project, settings)
    if isinstance(request.model, LayerSpecRequest):
        try:
            spec = layer_spec.parse_layer_spec(request.model.model_dump())
        except ValueError as error:
            raise InvalidField("model", str(error)) from None
        return UserSources(dataset=dataset, layers=spec)
    if isinstance(request.model, ModelUploadRef):
        model_file = load_model_upload(settings, request.model.upload)
        return UserSources(dataset=dataset, model_file=model_file)
    return UserSources(dataset=dataset)


def _dataset_config(
    ref: DatasetRef, session: Session, project: str, settings: Settings
) -> UserDatasetConfig:
    try:
        row = datasets.get_dataset(session, ref.id, project)
    except datasets.DatasetNotFound as error:
        message = f"{error}; upload it with POST /datasets"
        raise InvalidField("dataset", message) from None
    config = UserDatasetConfig.model_validate(row, from_attributes=True)
    if ref.task is None or ref.task == row.task:
        return config
    # Another task changes the classes, so read the stored table again.
    path = settings.datasets_dir / row.file_name
    content = path.read_bytes()
    try:
        table = user_data.parse_table(content, row.format, row.label)
        summary = user_data.validate_table(table, ref.task)
    except user_data.UserDataError as error:
        raise InvalidField("dataset", error.message) from None
    return config.model_copy(
        update={"task": ref.task, "num_classes": summary.num_classes}
    )


def load_model_upload(settings: Settings, sha256: str) -> ModelFileConfig:
    """Return the description stored beside uploaded model `sha256`."""
    summary = model_upload_paths(settings, sha256)[1]
    if not summary.exists():
        raise InvalidField(
            "model",
            f"no uploaded model has sha256 {sha256}; upload it with POST /models",
        )
    return ModelFileConfig(sha256=sha256, **json.loads(summary.read_text()))


def model_upload_paths(settings: Settings, sha256: str) -> tuple[Path, Path]:
    """Return the stored `.keras` file of an uploaded model and its description."""
    return (
        settings.models_dir / f"{sha256}.keras",
        settings.models_dir / f"{sha256}.json",
    )


def model_fields(
    request: JobCreate, info: catalog.DatasetInfo, sources: UserSources
) -> dict:
    """Return the model part of a job config: preset, layer spec or upload."""
    outputs = info.num_classes or 1
    if sources.layers is not None:
        return {"model": LAYERS_MODEL, "layers": sources.layers.to_json()["layers"]}
    if sources.model_file is not None:
        described = sources.model_file
        if (described.input_size, described.output_size) != (
            info.num_features,
            outputs,
        ):
            raise InvalidField(
                "model",
                f"the uploaded model maps {described.input_size} inputs to "
                f"{described.output_size} outputs, but the dataset has "
                f"{info.num_features} features and needs {outputs} outputs",
            )
        return {"model": UPLOADED_MODEL, "model_file": described}
    return {"model": request.model}


def custom_parameter_count(config: JobConfig) -> int | None:
    """Count the trainable parameters of a layer spec or upload; None for presets."""
    info = config_dataset_info(config)
    if config.layers is not None:
        spec = layer_spec.parse_layer_spec({"layers": config.layers})
        return layer_spec.count_parameters(
            spec, info.num_features, info.num_classes or 1
        )
    if config.model_file is not None:
        return config.model_file.num_params
    return None
