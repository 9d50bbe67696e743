"""Every change of a job's state, each in one committed transaction.

State machine: queued -> running -> succeeded | failed | cancelled, and
queued -> cancelled. The guarded updates here make a redelivered task harmless.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from db.models import TERMINAL_STATUSES, EpochRecord, Job, utc_now


class JobNotFound(LookupError):
    """No job has the requested id."""


class JobStateConflict(RuntimeError):
    """The job's current status does not allow the requested change."""


@dataclass(frozen=True)
class JobPage:
    items: Sequence[Job]
    total: int


def create_job(session: Session, config: dict[str, Any], name: str | None) -> Job:
    job = Job(
        name=name,
        status="queued",
        config=config,
        dataset=str(config["dataset"]),
        model=str(config["model"]),
        use_velo=bool(config["use_velo"]),
        optimizer="velo" if config["use_velo"] else "adam",
        epochs_total=int(config["epochs"]),
        epochs_done=0,
    )
    session.add(job)
    session.commit()
    return job


def get_job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise JobNotFound(f"Job {job_id} not found")
    return job


def list_jobs(
    session: Session,
    *,
    status: str | None = None,
    use_velo: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> JobPage:
    """List jobs newest first, optionally filtered by status and optimizer."""
    query = select(Job)
    if status is not None:
        query = query.where(Job.status == status)
    if use_velo is not None:
        query = query.where(Job.use_velo == use_velo)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    items = session.scalars(
        query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit).offset(offset)
    ).all()
    return JobPage(items=items, total=int(total or 0))


def get_history(session: Session, job_id: int) -> Sequence[EpochRecord]:
    get_job(session, job_id)
    return session.scalars(
        select(EpochRecord)
        .where(EpochRecord.job_id == job_id)
        .order_by(EpochRecord.epoch)
    ).all()


def claim_job(sessions: sessionmaker[Session], job_id: int, worker: str) -> bool:
    """Move a queued job to running; return False if another state holds it."""
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
        return result.rowcount == 1


def record_start(
    sessions: sessionmaker[Session],
    job_id: int,
    *,
    num_steps: int,
    weights_name: str | None,
    weights_sha256: str | None,
) -> None:
    with sessions() as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id)
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
    sessions: sessionmaker[Session], job_id: int, metrics: dict[str, Any]
) -> bool:
    """Store one epoch's metrics; return whether a cancel was requested.

    Non-finite floats are stored as null because JSON cannot carry them.
    """
    with sessions() as session:
        session.add(
            EpochRecord(
                job_id=job_id,
                epoch=int(metrics["epoch"]),
                loss=_finite_or_none(metrics.get("loss")),
                val_loss=_finite_or_none(metrics.get("val_loss")),
                accuracy=_finite_or_none(metrics.get("accuracy")),
                val_accuracy=_finite_or_none(metrics.get("val_accuracy")),
                seconds=float(metrics["seconds"]),
            )
        )
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(epochs_done=int(metrics["epoch"]), heartbeat_at=utc_now())
        )
        session.commit()
        cancel = session.scalar(select(Job.cancel_requested).where(Job.id == job_id))
        return bool(cancel)


def finish_job(
    sessions: sessionmaker[Session],
    job_id: int,
    status: str,
    *,
    final_metrics: dict[str, Any] | None = None,
    failure_reason: str | None = None,
) -> None:
    """Move a running job to a terminal status."""
    if status not in TERMINAL_STATUSES:
        raise ValueError(f"status must be one of {TERMINAL_STATUSES}; got {status!r}")
    clean_metrics = None
    if final_metrics is not None:
        clean_metrics = {k: _finite_or_none(v) for k, v in final_metrics.items()}
    with sessions() as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "running")
            .values(
                status=status,
                finished_at=utc_now(),
                final_metrics=clean_metrics,
                failure_reason=failure_reason,
            )
        )
        session.commit()


def request_cancel(session: Session, job_id: int) -> Job:
    """Cancel a queued job at once, or ask a running one to stop after its epoch."""
    job = get_job(session, job_id)
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
