"""SQLAlchemy models: training jobs and their per-epoch history."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utc_now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC timestamp, also on SQLite, which drops the offset."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime}


DEFAULT_PROJECT = "default"
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
TERMINAL_STATUSES = ("succeeded", "failed", "cancelled")
# A job's device is the name of the broker queue it is sent to. Each worker consumes
# one of these queues.
DEVICES = ("cpu", "gpu")
DEFAULT_DEVICE = "cpu"


class Job(Base):
    """One training run: its request, its state and its outcome."""

    __tablename__ = "jobs"
    # NULL keys never collide, so only requests that carry a key are deduplicated.
    __table_args__ = (
        UniqueConstraint(
            "project", "idempotency_key", name="uq_jobs_project_idempotency_key"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project: Mapped[str] = mapped_column(
        String(100), index=True, default=DEFAULT_PROJECT, server_default=DEFAULT_PROJECT
    )
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    # sha256 of the canonical request body, to tell a retry from a reused key.
    request_sha256: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), index=True, default="queued")
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    dataset: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(100))
    use_velo: Mapped[bool] = mapped_column(Boolean, index=True)
    optimizer: Mapped[str] = mapped_column(String(16))
    device: Mapped[str] = mapped_column(
        String(8), index=True, default=DEFAULT_DEVICE, server_default=DEFAULT_DEVICE
    )
    epochs_total: Mapped[int] = mapped_column(Integer)
    epochs_done: Mapped[int] = mapped_column(Integer, default=0)
    num_steps: Mapped[int | None] = mapped_column(Integer)
    weights_name: Mapped[str | None] = mapped_column(String(200))
    weights_sha256: Mapped[str | None] = mapped_column(String(64))
    final_metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    heartbeat_at: Mapped[datetime | None] = mapped_column()
    # Set when the broker accepted the task; NULL while the job waits to be sent.
    enqueued_at: Mapped[datetime | None] = mapped_column()
    time_limit_seconds: Mapped[int | None] = mapped_column(Integer)
    # Optimizer updates made; fewer than num_steps when early stopping ended the run.
    steps_executed: Mapped[int | None] = mapped_column(Integer)
    stopped_epoch: Mapped[int | None] = mapped_column(Integer)
    best_epoch: Mapped[int | None] = mapped_column(Integer)
    # What the finished job tells its user, as JSON objects (see api/insight_schemas).
    classification: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    cost: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    device_fit: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Training-split statistics that standardise the model's inputs and outputs.
    preprocessing: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    epochs: Mapped[list["EpochRecord"]] = relationship(
        back_populates="job",
        order_by="EpochRecord.epoch",
        cascade="all, delete-orphan",
    )


class EpochRecord(Base):
    """Metrics of one finished epoch of a job."""

    __tablename__ = "epoch_history"
    __table_args__ = (UniqueConstraint("job_id", "epoch", name="uq_epoch_job_epoch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), index=True
    )
    epoch: Mapped[int] = mapped_column(Integer)
    loss: Mapped[float | None] = mapped_column(Float)
    val_loss: Mapped[float | None] = mapped_column(Float)
    accuracy: Mapped[float | None] = mapped_column(Float)
    val_accuracy: Mapped[float | None] = mapped_column(Float)
    seconds: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    job: Mapped[Job] = relationship(back_populates="epochs")


class Comparison(Base):
    """A named set of jobs whose curves and final metrics are shown side by side."""

    __tablename__ = "comparisons"
    __table_args__ = (
        UniqueConstraint(
            "project",
            "idempotency_key",
            name="uq_comparisons_project_idempotency_key",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # A comparison lives in the project of its jobs, and only that project sees it.
    project: Mapped[str] = mapped_column(
        String(100), index=True, default=DEFAULT_PROJECT, server_default=DEFAULT_PROJECT
    )
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_sha256: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    # "sweep": VeLO and Adam jobs created together; "jobs": chosen existing jobs.
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)

    runs: Mapped[list["ComparisonRun"]] = relationship(
        back_populates="comparison",
        order_by="ComparisonRun.position",
        cascade="all, delete-orphan",
    )


class ComparisonRun(Base):
    """One job of a comparison, with the label its curves carry."""

    __tablename__ = "comparison_runs"
    __table_args__ = (
        UniqueConstraint("comparison_id", "job_id", name="uq_comparison_run_job"),
        UniqueConstraint("comparison_id", "label", name="uq_comparison_run_label"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    comparison_id: Mapped[int] = mapped_column(
        ForeignKey("comparisons.id", ondelete="CASCADE"), index=True
    )
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    label: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer)

    comparison: Mapped[Comparison] = relationship(back_populates="runs")
    job: Mapped[Job] = relationship()


class ApiKey(Base):
    """An API key of one project; only the sha256 of the secret token is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project: Mapped[str] = mapped_column(String(100), index=True)
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the key, so that people can tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    revoked_at: Mapped[datetime | None] = mapped_column()


class Dataset(Base):
    """An uploaded table (CSV or NPZ) that jobs of its project can train on."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project: Mapped[str] = mapped_column(
        String(100), index=True, default=DEFAULT_PROJECT, server_default=DEFAULT_PROJECT
    )
    # The uploaded file's name, for people; the stored file is named by `id`.
    name: Mapped[str] = mapped_column(String(200))
    format: Mapped[str] = mapped_column(String(8))
    label: Mapped[str | None] = mapped_column(String(200))
    task: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    num_rows: Mapped[int] = mapped_column(Integer)
    num_features: Mapped[int] = mapped_column(Integer)
    num_classes: Mapped[int | None] = mapped_column(Integer)
    class_names: Mapped[list[str]] = mapped_column(JSON)
    feature_names: Mapped[list[str]] = mapped_column(JSON)
    file_name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
