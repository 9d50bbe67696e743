"""Follow one job in the database and describe its changes as server-sent events.

The worker writes the database and the API only reads it, so the stream polls: each
poll opens a session, reads the job and its new epoch rows, and closes the session
before waiting again. Events:

- `status`: the job as GET /jobs/{id} returns it; sent on connect and whenever it
  changes while the job is active.
- `epoch`: one row as GET /jobs/{id}/history returns it, with `id: <attempt>:<epoch>`
  so that a reconnecting client can resume with Last-Event-ID. A requeued job starts
  again from epoch 1, so a client that saw another attempt gets every epoch again.
- `end`: the job in its terminal status; the stream ends after it.
"""

import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import anyio
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from api.presenters import job_to_public
from api.schemas import EpochRow, JobPublic
from db import jobs
from db.models import TERMINAL_STATUSES, EpochRecord

logger = logging.getLogger(__name__)

# How long a browser waits before reconnecting after the connection drops.
RECONNECT_MILLISECONDS = 3000
# Attempts and epochs are 32-bit integer columns in PostgreSQL.
MAX_EVENT_NUMBER = 2**31 - 1


@dataclass(frozen=True)
class JobSnapshot:
    """A job and the epoch rows stored after a given epoch, read at one time."""

    job: JobPublic
    epochs: list[EpochRow]


def read_snapshot(
    sessions: sessionmaker[Session], job_id: int, scope: str | None, after_epoch: int
) -> JobSnapshot:
    """Read job `job_id` and its epoch rows after `after_epoch` in a short session.

    The job is read first: a worker stores every epoch row before it stores the
    terminal status, so a terminal job read here comes with all of its rows.
    """
    with sessions() as session:
        job = job_to_public(jobs.get_job(session, job_id, scope))
        rows = session.scalars(
            select(EpochRecord)
            .where(EpochRecord.job_id == job_id, EpochRecord.epoch > after_epoch)
            .order_by(EpochRecord.epoch)
        ).all()
        return JobSnapshot(job, [EpochRow.model_validate(row) for row in rows])


def parse_event_id(value: str) -> tuple[int | None, int]:
    """Return (attempt, epoch) from an event id `<attempt>:<epoch>` or `<epoch>`.

    Raises:
        ValueError: naming the accepted forms, for any other text or a number over
            2**31 - 1.
    """
    parts = value.strip().split(":")
    if len(parts) > 2 or not all(part.isascii() and part.isdigit() for part in parts):
        raise ValueError(
            f"expected '<attempt>:<epoch>' or '<epoch>' with whole numbers, as the "
            f"stream's event ids are. Received: {value!r}"
        )
    numbers = [int(part) for part in parts]
    if max(numbers) > MAX_EVENT_NUMBER:
        raise ValueError(
            f"numbers must be at most {MAX_EVENT_NUMBER}. Received: {value!r}"
        )
    if len(numbers) == 1:
        return None, numbers[0]
    return numbers[0], numbers[1]


def format_event(name: str, data: str, event_id: str | None = None) -> str:
    """Return one server-sent event. `data` must be a single line (compact JSON)."""
    lines = [f"event: {name}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"data: {data}")
    return "\n".join(lines) + "\n\n"


KEEPALIVE = ": keep-alive\n\n"


class JobEventStream:
    """Turn successive snapshots of one job into server-sent events.

    Args:
        job_id: the job followed, for log lines.
        read: returns the snapshot after a given epoch. It blocks, so it runs in a
            worker thread.
        after_epoch: the last epoch the client has already seen.
        seen_attempt: the attempt that epoch belongs to, or None if unknown. When
            the job is on another attempt, the stream starts again from epoch 1.
        poll_seconds: wait between two reads of the database.
        keepalive_seconds: maximum seconds without output before a keep-alive
            comment.
    """

    def __init__(
        self,
        job_id: int,
        read: Callable[[int], JobSnapshot],
        after_epoch: int = 0,
        seen_attempt: int | None = None,
        poll_seconds: float = 0.5,
        keepalive_seconds: float = 15.0,
    ) -> None:
        self.job_id = job_id
        self.read = read
        self.last_epoch = after_epoch
        self.poll_seconds = poll_seconds
        self.keepalive_seconds = keepalive_seconds
        self.last_status: str | None = None
        self.attempt = seen_attempt

    async def events(self) -> AsyncIterator[str]:
        """Yield events until the job ends. Cancelling the task stops it at once."""
        yield f"retry: {RECONNECT_MILLISECONDS}\n\n"
        last_sent = time.monotonic()
        while True:
            snapshot = await self._read()
            if snapshot is not None and self._new_attempt(snapshot.job.attempt):
                # A requeued job starts again from epoch 1, and the rows of its
                # earlier attempt are deleted.
                self.last_epoch = 0
                snapshot = await self._read()
            chunks = self.changes(snapshot) if snapshot is not None else []
            for chunk in chunks:
                yield chunk
            if chunks:
                last_sent = time.monotonic()
            if snapshot is not None and snapshot.job.status in TERMINAL_STATUSES:
                return
            await anyio.sleep(self.poll_seconds)
            if time.monotonic() - last_sent >= self.keepalive_seconds:
                yield KEEPALIVE
                last_sent = time.monotonic()

    async def _read(self) -> JobSnapshot | None:
        try:
            return await run_in_threadpool(self.read, self.last_epoch)
        except OperationalError as error:
            # The client keeps its connection, and the next poll reads again.
            logger.warning(
                "reading job %s for its event stream failed, retrying in %s s: %s",
                self.job_id,
                self.poll_seconds,
                error,
                extra={"job_id": self.job_id},
            )
            return None

    def changes(self, snapshot: JobSnapshot) -> list[str]:
        """Return the events that bring the client from its last state to `snapshot`."""
        job = snapshot.job
        events = []
        status = job.model_dump_json()
        terminal = job.status in TERMINAL_STATUSES
        if self.last_status is None or (status != self.last_status and not terminal):
            events.append(format_event("status", status))
        self.last_status = status
        for row in snapshot.epochs:
            event_id = f"{job.attempt}:{row.epoch}"
            events.append(format_event("epoch", row.model_dump_json(), event_id))
            self.last_epoch = row.epoch
        if terminal:
            events.append(format_event("end", status))
        return events

    def _new_attempt(self, attempt: int) -> bool:
        changed = self.attempt is not None and attempt != self.attempt
        self.attempt = attempt
        return changed
