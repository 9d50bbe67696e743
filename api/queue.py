"""Enqueue jobs on the broker by task name, so the API never imports the trainer."""

import logging

from celery import Celery
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from db import job_dispatch
from worker.celery_app import RUN_JOB_TASK

logger = logging.getLogger(__name__)


def enqueue_job(celery: Celery, job_id: int, device: str) -> bool:
    """Send job `job_id` to the workers of queue `device` (cpu or gpu).

    Returns False if the broker is unreachable, and the job then stays queued in
    the database.
    """
    extra = {"job_id": job_id, "queue": device}
    try:
        celery.send_task(RUN_JOB_TASK, args=[job_id], queue=device, retry=False)
    except Exception as error:  # kombu raises many transport-specific errors
        logger.error("could not enqueue job: %s", error, extra=extra)
        return False
    logger.info("job enqueued", extra=extra)
    return True


def send_job(
    celery: Celery, sessions: sessionmaker[Session], job_id: int, device: str
) -> bool:
    """Send job `job_id` to queue `device` and record that the broker has it.

    Returns False if the broker is down. A job left unsent keeps enqueued_at
    empty, and the reaper sends it later.
    """
    if not enqueue_job(celery, job_id, device):
        return False
    try:
        job_dispatch.mark_enqueued(sessions, job_id)
    except SQLAlchemyError as error:
        # The task is on the broker; at worst the reaper sends it once more, and
        # the second delivery finds the job claimed already.
        logger.error("could not mark job sent: %s", error, extra={"job_id": job_id})
    return True


def ping_broker(celery: Celery) -> tuple[bool, str | None]:
    """Open and close one broker connection; return (reachable, error)."""
    try:
        with celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
    except Exception as error:  # transport-specific errors
        return False, str(error)
    return True, None
