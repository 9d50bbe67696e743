"""Store a finished training attempt's results beyond the final metrics."""

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from db.models import Job

INSIGHT_FIELDS = (
    "steps_executed",
    "stopped_epoch",
    "best_epoch",
    "classification",
    "cost",
    "device_fit",
    "preprocessing",
)


def record_insights(
    sessions: sessionmaker[Session],
    job_id: int,
    insights: dict[str, Any],
    attempt: int | None = None,
) -> bool:
    """Store `insights` on the running attempt `attempt` of job `job_id`.

    Returns False, storing nothing, when that attempt is not running any more.
    Raises ValueError for a key outside INSIGHT_FIELDS.
    """
    unknown = sorted(set(insights) - set(INSIGHT_FIELDS))
    if unknown:
        raise ValueError(
            f"insights may only hold {list(INSIGHT_FIELDS)}. Received: {unknown}"
        )
    conditions = [Job.id == job_id, Job.status == "running"]
    if attempt is not None:
        conditions.append(Job.attempt == attempt)
    with sessions() as session:
        result = session.execute(update(Job).where(*conditions).values(**insights))
        session.commit()
        return result.rowcount == 1
