"""Prometheus metrics of the service, read from the database and the broker per scrape.

Workers are separate processes, often on other machines, so the API does not count
events itself. Every value comes from the database (the record of all jobs and
epochs) or from the broker (messages still waiting) at the moment of the scrape, and
any API replica reports the same numbers.
"""

import logging
from collections.abc import Iterable, Iterator, Sequence

from celery import Celery
from kombu.exceptions import ChannelError
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session, sessionmaker

from db.models import JOB_STATUSES, EpochRecord, Job

logger = logging.getLogger(__name__)

QUEUES = ("cpu", "gpu")
# Upper bounds in seconds. Estimate: an epoch of the catalog's small models takes
# from milliseconds (iris, full batch) to tens of seconds on a CPU.
EPOCH_SECONDS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
JOB_SECONDS_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)
BROKER_TIMEOUT_SECONDS = 2


def render_metrics(sessions: sessionmaker[Session], celery: Celery) -> bytes:
    """Return every metric in the Prometheus text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(sessions, celery))
    return generate_latest(registry)


class ServiceCollector:
    """Collector that queries jobs, epochs and queue depths at scrape time."""

    def __init__(self, sessions: sessionmaker[Session], celery: Celery) -> None:
        self.sessions = sessions
        self.celery = celery

    def collect(self) -> Iterator[Metric]:
        with self.sessions() as session:
            yield jobs_by_status(session)
            yield epoch_duration_histogram(session)
            yield job_duration_histogram(session)
        yield from broker_metrics(self.celery, QUEUES)


def jobs_by_status(session: Session) -> GaugeMetricFamily:
    """Count jobs per status; statuses without jobs are reported as 0."""
    counts = dict.fromkeys(JOB_STATUSES, 0)
    rows = session.execute(select(Job.status, func.count()).group_by(Job.status))
    counts.update({status: count for status, count in rows})
    gauge = GaugeMetricFamily(
        "velotrain_jobs", "Jobs in the database by status", labels=["status"]
    )
    for status, count in counts.items():
        gauge.add_metric([status], count)
    return gauge


def epoch_duration_histogram(session: Session) -> HistogramMetricFamily:
    """Build the histogram of recorded epoch durations per optimizer."""
    query = select(Job.optimizer, EpochRecord.seconds).join(
        Job, Job.id == EpochRecord.job_id
    )
    return _histogram(
        session,
        query.subquery(),
        "velotrain_epoch_duration_seconds",
        "Wall-clock seconds of one training epoch, by optimizer",
        EPOCH_SECONDS_BUCKETS,
    )


def job_duration_histogram(session: Session) -> HistogramMetricFamily:
    """Build the histogram of start-to-end seconds of succeeded jobs per optimizer."""
    seconds = seconds_between(session, Job.started_at, Job.finished_at)
    query = select(Job.optimizer, seconds.label("seconds")).where(
        Job.status == "succeeded",
        Job.started_at.is_not(None),
        Job.finished_at.is_not(None),
    )
    return _histogram(
        session,
        query.subquery(),
        "velotrain_job_duration_seconds",
        "Seconds from start to end of succeeded jobs, by optimizer",
        JOB_SECONDS_BUCKETS,
    )


def seconds_between(
    session: Session, start: ColumnElement, end: ColumnElement
) -> ColumnElement:
    """Return a SQL expression for the seconds from `start` to `end`."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    if dialect == "postgresql":
        return func.extract("epoch", end - start)
    raise ValueError(
        "job durations need SQLite or PostgreSQL; point VELOTRAIN_DATABASE_URL at "
        f"one of them. Received: dialect={dialect!r}"
    )


def _histogram(
    session: Session, rows, name: str, documentation: str, bounds: Sequence[float]
) -> HistogramMetricFamily:
    # One query: per optimizer, the count at or below each bound (cumulative, as
    # Prometheus buckets are), the total count and the sum.
    seconds = rows.c.seconds
    bucket_columns = [
        func.sum(case((seconds <= bound, 1), else_=0)) for bound in bounds
    ]
    query = select(
        rows.c.optimizer, func.count(), func.sum(seconds), *bucket_columns
    ).group_by(rows.c.optimizer)
    histogram = HistogramMetricFamily(name, documentation, labels=["optimizer"])
    for optimizer, count, total, *cumulative in session.execute(query):
        buckets = [
            (_bound_label(bound), int(value or 0))
            for bound, value in zip(bounds, cumulative, strict=True)
        ]
        buckets.append(("+Inf", int(count)))
        histogram.add_metric([optimizer], buckets, sum_value=float(total or 0.0))
    return histogram


def _bound_label(bound: float) -> str:
    return str(float(bound))


def broker_metrics(celery: Celery, queues: Iterable[str]) -> Iterator[Metric]:
    """Yield broker reachability and, when reachable, each queue's waiting messages."""
    up = GaugeMetricFamily("velotrain_broker_up", "1 if the broker answered")
    depths = queue_depths(celery, queues)
    up.add_metric([], 0 if depths is None else 1)
    yield up
    if depths is None:
        return
    gauge = GaugeMetricFamily(
        "velotrain_queue_depth",
        "Messages waiting in a queue, not counting those a worker has taken",
        labels=["queue"],
    )
    for queue, depth in depths.items():
        gauge.add_metric([queue], depth)
    yield gauge


def queue_depths(celery: Celery, queues: Iterable[str]) -> dict[str, int] | None:
    """Return waiting messages per queue, or None if the broker is unreachable.

    A passive declare returns the message count. On Redis that is the LLEN of the
    queue's lists; on kombu's SQLAlchemy transport, a COUNT of the queue's visible
    rows in its message table.
    """
    try:
        with celery.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
            channel = connection.default_channel
            return {queue: _queue_depth(channel, queue) for queue in queues}
    except Exception as error:  # kombu raises many transport-specific errors
        logger.warning("queue depth unavailable: broker unreachable: %s", error)
        return None


def _queue_depth(channel, queue: str) -> int:
    try:
        return int(channel.queue_declare(queue=queue, passive=True).message_count)
    except ChannelError:
        # Redis keeps no key for an empty queue, so a missing queue has 0 messages.
        return 0
