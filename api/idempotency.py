"""Make a retried `POST /jobs` or `POST /comparisons` with the same Idempotency-Key
return what the first request created.

The key is unique per project in the database (one set of keys for jobs, one for
comparisons), so two concurrent requests with one key store one job or comparison.
The request that loses the race returns the one of the other.
"""

import hashlib
import json
from typing import Annotated

from fastapi import Header
from pydantic import BaseModel
from sqlalchemy.orm import Session

from db import comparisons, jobs
from db.models import Comparison, Job

IdempotencyKeyHeader = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)
]


class IdempotencyConflict(Exception):
    """An Idempotency-Key was reused with a different request body."""


def request_fingerprint(request: BaseModel, default_device: str) -> str:
    """Return the sha256 of the request with every default filled in.

    A request without `device` counts as one naming `default_device`, the queue
    the server sends it to.
    """
    fields = request.model_dump(mode="json")
    if "device" in fields and fields["device"] is None:
        fields["device"] = default_device
    canonical = json.dumps(fields, sort_keys=True)
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


def earlier_comparison(
    session: Session, project: str, key: str, fingerprint: str
) -> Comparison | None:
    """Return the comparison stored under `key`, or None; raise if its body differed."""
    comparison = comparisons.find_by_idempotency_key(session, project, key)
    if comparison is not None and comparison.request_sha256 != fingerprint:
        raise IdempotencyConflict(
            f"Idempotency-Key {key!r} was already used for comparison "
            f"{comparison.id} with a different request body; use a new key for a "
            "new comparison"
        )
    return comparison
