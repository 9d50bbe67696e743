"""Request and response models for uploaded datasets and custom models."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from velo_core.layer_spec import MAX_LAYERS

Task = Literal["classification", "regression"]


class DatasetRef(BaseModel):
    """Selects an uploaded dataset for a job instead of a catalog name."""

    model_config = ConfigDict(extra="forbid")

    id: int = Field(ge=1, le=2**31 - 1, description="The id POST /datasets returned")
    task: Task | None = Field(
        default=None, description="Overrides the task inferred at upload"
    )


class LayerSpecRequest(BaseModel):
    """Hidden layers from an allow-list; the output layer is added to fit the data."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"layers": [{"type": "dense", "units": 64, "activation": "relu"}]}
            ]
        },
    )

    layers: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_LAYERS,
        description="Each {'type': dense|dropout|batch_normalization|"
        "layer_normalization|activation, ...}",
    )


class ModelUploadRef(BaseModel):
    """Selects a `.keras` model uploaded with POST /models."""

    model_config = ConfigDict(extra="forbid")

    upload: str = Field(pattern="^[0-9a-f]{64}$", description="Its sha256")


class UserDatasetConfig(BaseModel):
    """The uploaded dataset a job trains on, as it was when the job was stored."""

    id: int
    name: str
    format: str
    label: str | None
    task: Task
    sha256: str
    file_name: str
    num_rows: int
    num_features: int
    num_classes: int | None


class ModelFileConfig(BaseModel):
    """The uploaded `.keras` model a job trains."""

    sha256: str
    input_size: int
    output_size: int
    num_params: int


class DatasetPublic(BaseModel):
    """An uploaded dataset as the API returns it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    project: str
    name: str
    format: str
    label: str | None
    task: Task
    sha256: str
    size_bytes: int
    num_rows: int
    num_features: int
    num_classes: int | None
    class_names: list[str]
    feature_names: list[str]
    created_at: datetime


class DatasetList(BaseModel):
    items: list[DatasetPublic]
    total: int
    limit: int
    offset: int


class ModelUploadPublic(BaseModel):
    """An uploaded `.keras` model: pass `{"upload": sha256}` as a job's model."""

    sha256: str
    input_size: int
    output_size: int
    num_params: int
    size_bytes: int
