"""Every change of a job's state, each in one committed transaction.

State machine: queued -> running -> succeeded | failed | cancelled,
queued -> cancelled, and running -> queued when the reaper requeues the job of a lost
worker. Each running attempt is identified by the job's `attempt` number: updates
from a worker carry it, so a worker that was given up on cannot touch the next
attempt, and a redelivered task finds nothing queued to claim.

A requeued job restarts from epoch 1 (there are no checkpoints), so requeueing
deletes the epoch history of the lost attempt; `attempt` counts the runs that began.
When the broker accepted a queued job's task is tracked in `db.job_dispatch`.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from db.models import (
    DEFAULT_DEVICE,
    DEFAULT_PROJECT,
    TERMINAL_STATUSES,
    EpochRecord,
    Job,
    utc_now,
)

ACTIVE_STATUSES = ("queued", "running")


class JobNotFound(LookupError):
    """No job has the requested id (in the caller's project)."""


class JobStateConflict(RuntimeError):
    """The job's current status does not allow the requested change."""


@dataclass(frozen=True)
class JobPage:
    items: Sequence[Job]
    total: int


@dataclass(frozen=True)
class RunningJob:
    """The fields of one running attempt that the reaper checks."""

    id: int
    device: str
    attempt: int
    worker: str | None
    started_at: datetime | None
    heartbeat_at: datetime | None
    cancel_requested: bool
    time_limit_seconds: int | None


def create_job(
    session: Session,
    config: dict[str, Any],
    name: str | None,
    *,
    project: str = DEFAULT_PROJECT,
    idempotency_key: str | None = None,
    request_sha256: str | None = None,
    time_limit_seconds: int | None = None,
) -> Job:
    """Store a queued job; raises IntegrityError if the idempotency key is taken."""
    job = new_job(
        config,
        name=name,
        project=project,
        idempotency_key=idempotency_key,
        request_sha256=request_sha256,
        time_limit_seconds=time_limit_seconds,
    )
    session.add(job)
    session.commit()
    return job


def new_job(
    config: dict[str, Any],
    *,
    name: str | None = None,
    project: str = DEFAULT_PROJECT,
    idempotency_key: str | None = None,
    request_sha256: str | None = None,
    time_limit_seconds: int | None = None,
) -> Job:
    """Build a queued, unsaved job for a resolved configuration."""
    return Job(
        project=project,
        idempotency_key=idempotency_key,
        request_sha256=request_sha256,
        name=name,
        status="queued",
        config=config,
        dataset=str(config["dataset"]),
        model=str(config["model"]),
        use_velo=bool(config["use_velo"]),
        optimizer="velo" if config["use_velo"] else "adam",
        device=str(config.get("device", DEFAULT_DEVICE)),
        epochs_total=int(config["epochs"]),
        epochs_done=0,
        cancel_requested=False,
        attempt=0,
        time_limit_seconds=time_limit_seconds,
    )


def find_by_idempotency_key(session: Session, project: str, key: str) -> Job | None:
    return session.scalar(
        select(Job).where(Job.project == project, Job.idempotency_key == key)
    )


def count_active_jobs(session: Session, project: str) -> int:
    """Count the queued and running jobs of `project`."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.project == project, Job.status.in_(ACTIVE_STATUSES))
        )
        or 0
    )


def get_job(session: Session, job_id: int, project: str | None = None) -> Job:
    """Return job `job_id`; a job of another project than `project` is not found.

    `project` None reads any project (authentication off, or internal callers).
    """
    job = session.get(Job, job_id)
    if job is None or (project is not None and job.project != project):
        raise JobNotFound(f"Job {job_id} not found")
    return job


def list_jobs(
    session: Session,
    *,
    status: str | None = None,
    use_velo: bool | None = None,
    device: str | None = None,
    project: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> JobPage:
    """List jobs newest first, filtered by status, optimizer, device, project."""
    query = select(Job)
    if status is not None:
        query = query.where(Job.status == status)
    if use_velo is not None:
        query = query.where(Job.use_velo == use_velo)
    if device is not None:
        query = query.where(Job.device == device)
    if project is not None:
        query = query.where(Job.project == project)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    items = session.scalars(
        query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit).offset(offset)
    ).all()
    return JobPage(items=items, total=int(total or 0))


def get_history(
    session: Session, job_id: int, project: str | None = None
) -> Sequence[EpochRecord]:
    get_job(session, job_id, project)
    return session.scalars(
        select(EpochRecord)
        .where(EpochRecord.job_id == job_id)
        .order_by(EpochRecord.epoch)
    ).all()


def claim_job(sessions: sessionmaker[Session], job_id: int, worker: str) -> int | None:
    """Move a queued job to running; return its attempt number, or None if not queued.

    Only one of several deliveries of the same task can win this update.
    """
    now = utc_now()
    with sessions() as session:
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "queued")
            .values(
                status="running",
                started_at=now,
                heartbeat_at=now,
                worker=worker,
                attempt=Job.attempt + 1,
            )
        )
        session.commit()
        if result.rowcount != 1:
            return None
        return session.scalar(select(Job.attempt).where(Job.id == job_id))


def _this_attempt(job_id: int, attempt: int | None):
    conditions = [Job.id == job_id, Job.status == "running"]
    if attempt is not None:
        conditions.append(Job.attempt == attempt)
    return conditions


def heartbeat(sessions: sessionmaker[Session], job_id: int, attempt: int) -> bool:
    """Refresh heartbeat_at; return False when the attempt is no longer running."""
    with sessions() as session:
        result = session.execute(
            update(Job)
            .where(*_this_attempt(job_id, attempt))
            .values(heartbeat_at=utc_now())
        )
        session.commit()
        return result.rowcount == 1


def record_start(
    sessions: sessionmaker[Session],
    job_id: int,
    *,
    num_steps: int | None,
    weights_name: str | None,
    weights_sha256: str | None,
    attempt: int | None = None,
) -> None:
    with sessions() as session:
        session.execute(
            update(Job)
            .where(*_this_attempt(job_id, attempt))
            .values(
                num_steps=num_steps,
                weights_name=weights_name,
                weights_sha256=weights_sha256,
            )
        )
        session.commit()


def _finite_or_none(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def record_epoch(
    sessions: sessionmaker[Session],
    job_id: int,
    metrics: dict[str, Any],
    attempt: int | None = None,
) -> bool:
    """Store one epoch's metrics; return whether the worker should stop.

    It should stop when a cancel was requested. It should also stop when this
    attempt is no longer running because the reaper requeued or ended it, and then
    nothing is stored.
    Non-finite floats are stored as null because JSON cannot carry them.
    """
    with sessions() as session:
        result = session.execute(
            update(Job)
            .where(*_this_attempt(job_id, attempt))
            .values(epochs_done=int(metrics["epoch"]), heartbeat_at=utc_now())
        )
        if result.rowcount != 1:
            session.rollback()
            return True
        session.add(_epoch_row(job_id, metrics))
        session.commit()
        cancel = session.scalar(select(Job.cancel_requested).where(Job.id == job_id))
        return bool(cancel)


def _epoch_row(job_id: int, metrics: dict[str, Any]) -> EpochRecord:
    return EpochRecord(
        job_id=job_id,
        epoch=int(metrics["epoch"]),
        loss=_finite_or_none(metrics.get("loss")),
        val_loss=_finite_or_none(metrics.get("val_loss")),
        accuracy=_finite_or_none(metrics.get("accuracy")),
        val_accuracy=_finite_or_none(metrics.get("val_accuracy")),
        seconds=float(metrics["seconds"]),
    )


def finish_job(
    sessions: sessionmaker[Session],
    job_id: int,
    status: str,
    *,
    final_metrics: dict[str, Any] | None = None,
    failure_reason: str | None = None,
    attempt: int | None = None,
) -> bool:
    """Move a running job (attempt `attempt` if given) to a terminal status.

    Returns False, changing nothing, when that attempt is not running any more.
    """
    if status not in TERMINAL_STATUSES:
        raise ValueError(f"status must be one of {TERMINAL_STATUSES}; got {status!r}")
    clean_metrics = None
    if final_metrics is not None:
        clean_metrics = {k: _finite_or_none(v) for k, v in final_metrics.items()}
    with sessions() as session:
        result = session.execute(
            update(Job)
            .where(*_this_attempt(job_id, attempt))
            .values(
                status=status,
                finished_at=utc_now(),
                final_metrics=clean_metrics,
                failure_reason=failure_reason,
            )
        )
        session.commit()
        return result.rowcount == 1


def running_jobs(session: Session) -> list[RunningJob]:
    """Return every running attempt, for the reaper's checks."""
    rows = session.scalars(select(Job).where(Job.status == "running")).all()
    return [
        RunningJob(
            id=job.id,
            device=job.device,
            attempt=job.attempt,
            worker=job.worker,
            started_at=job.started_at,
            heartbeat_at=job.heartbeat_at,
            cancel_requested=job.cancel_requested,
            time_limit_seconds=job.time_limit_seconds,
        )
        for job in rows
    ]


def requeue_job(sessions: sessionmaker[Session], job_id: int, attempt: int) -> bool:
    """Put running attempt `attempt` back in the queue, dropping its epoch history.

    Returns False, changing nothing, when that attempt is not running any more.
    """
    with sessions() as session:
        result = session.execute(
            update(Job)
            .where(*_this_attempt(job_id, attempt))
            .values(
                status="queued",
                epochs_done=0,
                num_steps=None,
                worker=None,
                started_at=None,
                heartbeat_at=None,
                enqueued_at=None,
            )
        )
        if result.rowcount != 1:
            session.rollback()
            return False
        session.execute(delete(EpochRecord).where(EpochRecord.job_id == job_id))
        session.commit()
        return True


def request_cancel(session: Session, job_id: int, project: str | None = None) -> Job:
    """Cancel a queued job at once, or ask a running one to stop after its epoch."""
    job = get_job(session, job_id, project)
    if job.status in TERMINAL_STATUSES:
        raise JobStateConflict(
            f"Job {job_id} already ended with status {job.status!r}; "
            "only queued or running jobs can be cancelled"
        )
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "queued")
        .values(status="cancelled", cancel_requested=True, finished_at=utc_now())
    )
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "running")
        .values(cancel_requested=True)
    )
    session.commit()
    session.refresh(job)
    return job
