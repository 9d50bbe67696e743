"""Request and response models of the comparison routes."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import (
    Device,
    EpochRow,
    JobStatus,
    Progress,
    TrainingRequest,
)
from velo_core import catalog

# Adam learning rates a sweep trains next to VeLO. The span of 1e-4 to 5e-2 lets the
# table compare VeLO with Adam at its best rate instead of one guessed rate.
SWEEP_LEARNING_RATES: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 5e-2)
MAX_COMPARED_JOBS = 12


class ComparisonCreate(TrainingRequest):
    """A comparison request: sweep fields (VeLO and Adam jobs) or job_ids alone."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {"dataset": "iris", "model": "mlp", "epochs": 20, "seed": 0},
                {"job_ids": [3, 4, 5]},
            ]
        },
    )

    job_ids: list[int] | None = Field(
        default=None,
        description=f"Compare these existing jobs (2 to {MAX_COMPARED_JOBS}) "
        "instead of creating new ones",
    )
    name: str | None = Field(default=None, max_length=200)
    dataset: str = Field(default="digits")
    model: str = Field(default="mlp")
    hidden_sizes: list[int] | None = None
    epochs: int = Field(default=catalog.DEFAULT_EPOCHS)
    batch_size: Literal["full"] | int = Field(default=catalog.FULL_BATCH)
    validation_split: float = Field(default=catalog.DEFAULT_VALIDATION_SPLIT)
    seed: int = Field(default=catalog.DEFAULT_SEED)
    adam_learning_rates: list[float] = Field(
        default=list(SWEEP_LEARNING_RATES),
        max_length=8,
        description="One Adam job per rate, next to one VeLO job (1 to 8 rates)",
    )
    device: Device | None = Field(
        default=None,
        description="Queue of every job of the sweep, cpu or gpu. "
        "Default: the server's job_queue",
    )


class ComparisonRunPublic(BaseModel):
    """One job of a comparison with its whole per-epoch history."""

    label: str
    job_id: int
    optimizer: Literal["adam", "velo"]
    learning_rate: float | None
    status: JobStatus
    failure_reason: str | None
    progress: Progress
    final_metrics: dict[str, float | None] | None
    duration_seconds: float | None
    history: list[EpochRow]


class FinalMetricsRow(BaseModel):
    """One line of the final-metrics table."""

    label: str
    job_id: int
    status: JobStatus
    loss: float | None
    val_loss: float | None
    accuracy: float | None
    val_accuracy: float | None
    train_seconds: float = Field(description="Sum of the recorded epochs' seconds")
    loss_ratio_to_best_adam: float | None = Field(
        description="Final training loss over the best Adam run's final training loss"
    )


class CostRow(BaseModel):
    """One line of the cost table: what a run's result cost in time and size."""

    label: str
    job_id: int
    optimizer: Literal["adam", "velo"]
    status: JobStatus
    val_loss: float | None
    val_accuracy: float | None
    train_seconds: float | None = Field(
        description="Wall time of the training loop, compilation included"
    )
    compile_seconds: float | None
    seconds_per_epoch: float | None = Field(
        description="Training loop time after compilation, per epoch run"
    )
    optimizer_share: float | None = Field(
        description="Fraction of the loop time after compilation spent in "
        "optimizer updates (see the job's cost for the method)"
    )
    optimizer_state_bytes: int | None
    param_count: int | None
    tflite_float32_bytes: int | None
    time_ratio_to_best_adam: float | None = Field(
        description="train_seconds over the best Adam run's train_seconds"
    )


class ComparisonPublic(BaseModel):
    id: int
    name: str | None
    kind: Literal["sweep", "jobs"]
    created_at: datetime
    finished: bool = Field(description="Whether every run has ended")
    best_adam_label: str | None = Field(
        description="The succeeded Adam run with the lowest final training loss"
    )
    runs: list[ComparisonRunPublic]
    table: list[FinalMetricsRow]
    cost_table: list[CostRow] = Field(
        default_factory=list, description="Time, optimizer share and size per run"
    )


class ComparisonRunSummary(BaseModel):
    label: str
    job_id: int
    status: JobStatus


class ComparisonSummary(BaseModel):
    id: int
    name: str | None
    kind: Literal["sweep", "jobs"]
    created_at: datetime
    finished: bool
    runs: list[ComparisonRunSummary]


class ComparisonList(BaseModel):
    items: list[ComparisonSummary]
    total: int
    limit: int
    offset: int
