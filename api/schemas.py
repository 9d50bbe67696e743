"""Request and response models of the REST API."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.dataset_schemas import (
    DatasetRef,
    LayerSpecRequest,
    ModelFileConfig,
    ModelUploadRef,
    UserDatasetConfig,
)
from api.insight_schemas import (
    ClassificationPublic,
    CostPublic,
    DeviceFitPublic,
    EarlyStoppingRequest,
    PreprocessingPublic,
)
from db.models import DEFAULT_DEVICE, DEVICES
from velo_core import catalog

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
Device = Literal["cpu", "gpu"]


class TrainingRequest(BaseModel):
    """Base of the requests that start training: checks batch_size and device."""

    # Subclasses declare both fields; the checks run on the values as sent.
    @field_validator("batch_size", mode="before", check_fields=False)
    @classmethod
    def _batch_size_is_full_or_integer(cls, value: object) -> object:
        return check_batch_size_type(value)

    @field_validator("device", mode="before", check_fields=False)
    @classmethod
    def _device_is_known(cls, value: object) -> object:
        return check_device(value)


class JobCreate(TrainingRequest):
    """A training request; omitted fields take the defaults shown."""

    # Strict: true is not an epoch count and "32" is not a batch size.
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {"dataset": "digits", "model": "mlp", "use_velo": True, "epochs": 30}
            ]
        },
    )

    dataset: str | DatasetRef = Field(
        default="digits",
        description=f"One of {list(catalog.DATASETS)}, or an uploaded dataset "
        '{"id": N} (see POST /datasets)',
    )
    model: str | LayerSpecRequest | ModelUploadRef = Field(
        default="mlp",
        description=f"One of {list(catalog.MODELS)}, a layer spec "
        '{"layers": [...]}, or an uploaded .keras model {"upload": sha256}',
    )
    hidden_sizes: list[int] | None = Field(
        default=None, description="Hidden layer widths, mlp only"
    )
    use_velo: bool = Field(default=False, description="Train with VeLO instead of Adam")
    epochs: int = Field(default=catalog.DEFAULT_EPOCHS)
    batch_size: Literal["full"] | int = Field(
        default=catalog.FULL_BATCH,
        description='"full" (one step per epoch on the whole training set) '
        "or an integer",
    )
    learning_rate: float | None = Field(
        default=None,
        description=f"Adam only (default {catalog.DEFAULT_LEARNING_RATE}); "
        "VeLO sets its own step sizes",
    )
    validation_split: float = Field(default=catalog.DEFAULT_VALIDATION_SPLIT)
    seed: int = Field(default=catalog.DEFAULT_SEED)
    # PostgreSQL text cannot contain NUL characters.
    name: str | None = Field(default=None, max_length=200, pattern="^[^\x00]*$")
    time_limit_seconds: int | None = Field(
        default=None,
        description="Longest run of one attempt; at most the server's "
        "job_time_limit_seconds, which is also the default",
    )
    early_stopping: EarlyStoppingRequest | None = Field(
        default=None,
        description="Stop before `epochs` when the monitored metric stops "
        "improving, and keep the best epoch's weights. VeLO plans its schedule for "
        "`epochs`, so stopping early ends a schedule planned for longer",
    )
    device: Device | None = Field(
        default=None,
        description="Queue of the workers that train the job, cpu or gpu. "
        "Default: the server's job_queue",
    )


def check_batch_size_type(value: object) -> object:
    """Reject a batch size that is neither "full" nor an integer, in one message."""
    is_integer = isinstance(value, int) and not isinstance(value, bool)
    if value != catalog.FULL_BATCH and not is_integer:
        raise ValueError(
            f'batch_size must be "{catalog.FULL_BATCH}" or a positive integer. '
            f"Received: batch_size={value!r}"
        )
    return value


def check_device(value: object) -> object:
    """Reject a device other than null, "cpu" or "gpu", naming the allowed values."""
    if value is not None and value not in DEVICES:
        raise ValueError(
            f"device must be one of {list(DEVICES)}. Received: device={value!r}"
        )
    return value


class JobConfig(BaseModel):
    """The resolved configuration of a job: every default filled in."""

    dataset: str
    model: str
    hidden_sizes: list[int] | None
    use_velo: bool
    epochs: int
    batch_size: Literal["full"] | int
    learning_rate: float | None
    validation_split: float
    seed: int
    train_size: int
    user_dataset: UserDatasetConfig | None = None
    layers: list[dict[str, Any]] | None = None
    model_file: ModelFileConfig | None = None
    early_stopping: EarlyStoppingRequest | None = None
    # Configurations stored before jobs had a device all went to the cpu queue.
    device: Device = DEFAULT_DEVICE


class Progress(BaseModel):
    epochs_done: int
    epochs_total: int


class JobPublic(BaseModel):
    """A job as the API returns it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    project: str
    name: str | None
    status: JobStatus
    optimizer: Literal["adam", "velo"]
    device: Device = Field(description="The queue the job is sent to")
    config: JobConfig
    progress: Progress
    final_metrics: dict[str, float | None] | None
    failure_reason: str | None
    cancel_requested: bool
    weights_name: str | None
    weights_sha256: str | None
    num_steps: int | None = Field(description="Optimizer updates planned for the run")
    steps_executed: int | None = Field(
        default=None, description="Optimizer updates made; fewer after early stopping"
    )
    stopped_epoch: int | None = Field(
        default=None, description="Epoch after which early stopping ended the run"
    )
    best_epoch: int | None = Field(
        default=None,
        description="With early stopping: the epoch whose weights the model keeps "
        "and whose metrics final_metrics shows",
    )
    classification: ClassificationPublic | None = None
    cost: CostPublic | None = None
    device_fit: DeviceFitPublic | None = None
    preprocessing: PreprocessingPublic | None = Field(
        default=None,
        description="Statistics of the training split that standardise the model's "
        "inputs (and regression outputs); set when the job succeeds",
    )
    attempt: int
    worker: str | None
    time_limit_seconds: int | None
    created_at: datetime
    enqueued_at: datetime | None = Field(
        description="When the broker accepted the job; null while it waits to be sent"
    )
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None


class JobList(BaseModel):
    items: list[JobPublic]
    total: int
    limit: int
    offset: int


class EpochRow(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    epoch: int
    loss: float | None
    val_loss: float | None
    accuracy: float | None
    val_accuracy: float | None
    seconds: float


class History(BaseModel):
    job_id: int
    status: JobStatus
    epochs: list[EpochRow]


class ErrorDetail(BaseModel):
    """An error response: what went wrong and, where it helps, how to fix it."""

    detail: str


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: dict[str, Any]
    broker: dict[str, Any]
