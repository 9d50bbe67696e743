"""Make a retried `POST /jobs` with the same Idempotency-Key return the same job.

The key is unique per project in the database, so two concurrent requests with one
key store one job. The request that loses the race returns the job of the other.
"""

import hashlib
import json

from sqlalchemy.orm import Session

from api.schemas import JobCreate
from db import jobs
from db.models import Job


class IdempotencyConflict(Exception):
    """An Idempotency-Key was reused with a different request body."""


def request_fingerprint(request: JobCreate) -> str:
    """Return the sha256 of the request with every default filled in."""
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def earlier_job(
    session: Session, project: str, key: str, fingerprint: str
) -> Job | None:
    """Return the job stored under `key`, or None; raise if its body differed."""
    job = jobs.find_by_idempotency_key(session, project, key)
    if job is not None and job.request_sha256 != fingerprint:
        raise IdempotencyConflict(
            f"Idempotency-Key {key!r} was already used for job {job.id} with a "
            "different request body; use a new key for a new job"
        )
    return job
