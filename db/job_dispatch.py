"""When the broker last accepted each queued job's task, for the API and the reaper.

`enqueued_at` is empty until the broker accepts a job's task. The reaper sends jobs
that stay unsent and resends jobs whose task the broker accepted long ago but no
worker claimed. Every change is a guarded update of a queued job.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from db.models import Job, utc_now


@dataclass(frozen=True)
class QueuedJob:
    """A queued job, the queue it goes to, and when the broker last accepted it."""

    id: int
    device: str
    enqueued_at: datetime | None


def mark_enqueued(sessions: sessionmaker[Session], job_id: int) -> None:
    """Record that the broker accepted the task of a queued job."""
    with sessions() as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "queued")
            .values(enqueued_at=utc_now())
        )
        session.commit()


def unsent_jobs(session: Session, created_before: datetime) -> list[QueuedJob]:
    """Return queued jobs created before `created_before` that were never sent."""
    return _queued_jobs(
        session, Job.enqueued_at.is_(None), Job.created_at < created_before
    )


def stale_queued_jobs(session: Session, sent_before: datetime) -> list[QueuedJob]:
    """Return queued jobs whose task the broker accepted before `sent_before`."""
    return _queued_jobs(session, Job.enqueued_at < sent_before)


def _queued_jobs(session: Session, *conditions) -> list[QueuedJob]:
    rows = session.execute(
        select(Job.id, Job.device, Job.enqueued_at)
        .where(Job.status == "queued", *conditions)
        .order_by(Job.id)
    )
    return [QueuedJob(*row) for row in rows]


def restamp_enqueued(
    sessions: sessionmaker[Session], job_id: int, sent_at: datetime
) -> bool:
    """Move a queued job's enqueued_at from `sent_at` to now, before a resend.

    Returns False, changing nothing, when the job was claimed or another reaper
    restamped it first. Only the reaper that gets True sends the task again.
    """
    with sessions() as session:
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "queued", Job.enqueued_at == sent_at)
            .values(enqueued_at=utc_now())
        )
        session.commit()
        return result.rowcount == 1


def mark_unsent(sessions: sessionmaker[Session], job_id: int) -> None:
    """Clear a queued job's enqueued_at, so the reaper sends it as an unsent job."""
    with sessions() as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "queued")
            .values(enqueued_at=None)
        )
        session.commit()
