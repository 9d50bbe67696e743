"""Repair jobs that no worker will finish: lost workers, overruns, lost tasks.

One pass (`Reaper.run_once`):
- a running job past its time limit fails with "timed out";
- a running job whose heartbeat is older than `heartbeat_timeout_seconds` lost its
  worker: it is requeued and sent again, or fails with "worker lost" once it used
  `max_attempts` attempts (a lost job whose cancel was requested ends cancelled);
- a queued job the broker never accepted (the broker was down) is sent again;
- a queued job whose task the broker accepted more than `redelivery_seconds` ago and
  no worker claimed is sent again when the broker's queue for its device is empty.
  The task was lost (a Redis flush, a broker restart without persistence, a worker
  killed between taking the message and claiming the job). Behind a non-empty queue
  the job may be waiting for a busy worker, so it is left alone there.

The loop runs in every API process as a background thread (`reaper_in_api`) and as
`velotrain reaper`. Several reapers at once are safe: each change is a guarded update
of one attempt or of one send, and a task delivered twice finds nothing queued the
second time.
This module imports no JAX: the API process runs it.
"""

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from celery import Celery
from sqlalchemy.orm import Session, sessionmaker

from api.metrics import queue_depths
from api.queue import enqueue_job, send_job
from db import job_dispatch, jobs
from db.models import utc_now
from velotrain.settings import Settings

logger = logging.getLogger(__name__)

REQUEUE = "requeue"
FAIL = "fail"
CANCEL = "cancel"


@dataclass(frozen=True)
class Verdict:
    """The repair one running attempt needs, and the reason it is given."""

    action: str
    reason: str | None = None


@dataclass
class PassReport:
    """Job ids each kind of repair touched in one pass."""

    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    resent: list[int] = field(default_factory=list)


def judge(job: jobs.RunningJob, now: datetime, settings: Settings) -> Verdict | None:
    """Decide whether a running attempt is overdue or lost; None leaves it alone."""
    limit = job.time_limit_seconds or settings.job_time_limit_seconds
    if job.started_at is not None and now - job.started_at > timedelta(seconds=limit):
        return Verdict(FAIL, f"timed out: ran longer than its time limit of {limit} s")
    last_beat = job.heartbeat_at or job.started_at
    if last_beat is None:
        return None
    silence = (now - last_beat).total_seconds()
    if silence <= settings.heartbeat_timeout_seconds:
        return None
    if job.cancel_requested:
        return Verdict(CANCEL)
    if job.attempt >= settings.max_attempts:
        return Verdict(
            FAIL,
            f"worker lost: {job.worker} sent no heartbeat for {silence:.0f} s "
            f"(heartbeat_timeout_seconds={settings.heartbeat_timeout_seconds:g}); "
            f"gave up after {job.attempt} attempts "
            f"(max_attempts={settings.max_attempts})",
        )
    return Verdict(REQUEUE)


def due_for_redelivery(
    job: job_dispatch.QueuedJob,
    now: datetime,
    depths: Mapping[str, int] | None,
    settings: Settings,
) -> bool:
    """Decide whether the sent task of a queued job was lost and must be sent again.

    `depths` contains the number of messages waiting per queue. It is None when the
    broker could not be reached, and then nothing is sent.
    """
    if job.enqueued_at is None or depths is None:
        return False
    if now - job.enqueued_at <= timedelta(seconds=settings.redelivery_seconds):
        return False
    return depths.get(job.device) == 0


class Reaper:
    """Runs repair passes over the jobs of one database."""

    def __init__(
        self, settings: Settings, sessions: sessionmaker[Session], celery: Celery
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._celery = celery

    def run_once(self) -> PassReport:
        """Repair every overdue, lost and unsent job once; return what changed."""
        report = PassReport()
        now = utc_now()
        with self._sessions() as session:
            running = jobs.running_jobs(session)
        for job in running:
            verdict = judge(job, now, self._settings)
            if verdict is not None:
                self._apply(job, verdict, report)
        self._send_unsent(now, report)
        self._resend_lost(now, report)
        return report

    def _apply(self, job: jobs.RunningJob, verdict: Verdict, report: PassReport):
        extra = {"job_id": job.id, "attempt": job.attempt, "worker": job.worker}
        if verdict.action == REQUEUE:
            if jobs.requeue_job(self._sessions, job.id, job.attempt):
                logger.warning("worker lost; job requeued", extra=extra)
                report.requeued.append(job.id)
                if send_job(self._celery, self._sessions, job.id, job.device):
                    report.sent.append(job.id)
            return
        status = "cancelled" if verdict.action == CANCEL else "failed"
        ended = jobs.finish_job(
            self._sessions,
            job.id,
            status,
            failure_reason=verdict.reason,
            attempt=job.attempt,
        )
        if not ended:
            return
        logger.warning("job ended by the reaper: %s", verdict.reason, extra=extra)
        if status == "cancelled":
            report.cancelled.append(job.id)
        else:
            report.failed.append(job.id)

    def _send_unsent(self, now: datetime, report: PassReport) -> None:
        created_before = now - timedelta(seconds=self._settings.enqueue_grace_seconds)
        with self._sessions() as session:
            unsent = job_dispatch.unsent_jobs(session, created_before)
        for job in unsent:
            if not send_job(self._celery, self._sessions, job.id, job.device):
                return  # the broker is still down; the next pass tries again
            report.sent.append(job.id)

    def _resend_lost(self, now: datetime, report: PassReport) -> None:
        sent_before = now - timedelta(seconds=self._settings.redelivery_seconds)
        with self._sessions() as session:
            stale = job_dispatch.stale_queued_jobs(session, sent_before)
        if not stale:
            return
        depths = queue_depths(self._celery, sorted({job.device for job in stale}))
        for job in stale:
            if due_for_redelivery(job, now, depths, self._settings):
                self._resend(job, now, report)

    def _resend(self, job: job_dispatch.QueuedJob, now: datetime, report: PassReport):
        # The guarded restamp lets one of several reapers send the task.
        if not job_dispatch.restamp_enqueued(self._sessions, job.id, job.enqueued_at):
            return
        age = (now - job.enqueued_at).total_seconds()
        extra = {"job_id": job.id, "queue": job.device}
        logger.warning(
            "job still unclaimed %.0f s after it was sent, and queue %s is empty, "
            "so the task was lost: sending it again",
            age,
            job.device,
            extra=extra,
        )
        if enqueue_job(self._celery, job.id, job.device):
            report.resent.append(job.id)
        else:
            # Sent as an unsent job once the broker is back.
            job_dispatch.mark_unsent(self._sessions, job.id)

    def run_forever(self, stop: threading.Event) -> None:
        """Run a pass every `reaper_interval_seconds` until `stop` is set."""
        while True:
            try:
                self.run_once()
            except Exception as error:  # the database may be down; retry next pass
                logger.error("reaper pass failed: %s", error)
            if stop.wait(self._settings.reaper_interval_seconds):
                return


class ReaperThread:
    """Run a `Reaper` in a daemon thread, as the API process does."""

    def __init__(self, reaper: Reaper) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=reaper.run_forever, args=(self._stop,), name="reaper", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
