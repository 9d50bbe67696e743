"""The Celery application shared by the API (to enqueue) and the workers.

This module must stay free of JAX imports: the API process imports it, and JAX is not
safe to fork, so it is imported only inside the task that trains.
"""

import time

from celery import Celery
from sqlalchemy.exc import IntegrityError, OperationalError

from velotrain.settings import Settings, get_settings

RUN_JOB_TASK = "velotrain.run_job"
# Redis redelivers an unacknowledged message after the visibility timeout; it must
# exceed the longest job, or a long job runs twice.
VISIBILITY_TIMEOUT_SECONDS = 24 * 3600
DECLARE_RETRY_SECONDS = 0.5


def broker_transport_options(broker_url: str) -> dict:
    """Return transport options for Redis or for kombu's SQLAlchemy transport."""
    if broker_url.startswith("sqla+"):
        # Passed to SQLAlchemy's create_engine: wait for SQLite's write lock.
        return {"connect_args": {"timeout": 30}}
    return {"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS}


def declare_queues(celery: Celery, names: list[str], attempts: int = 3) -> None:
    """Create the broker queues `names` before a worker starts to consume them.

    kombu's SQLAlchemy transport creates its tables, then a row per queue, on first
    use. Two workers that start together on a new broker database both create them,
    and the one that loses fails ("table kombu_queue already exists", or the unique
    constraint on the queue name). Here the loser retries and then finds them.
    """
    for attempt in range(1, attempts + 1):
        try:
            with celery.connection_for_write() as connection:
                channel = connection.default_channel
                for name in names:
                    channel.queue_declare(queue=name)
            return
        except (IntegrityError, OperationalError):
            if attempt == attempts:
                raise
            time.sleep(DECLARE_RETRY_SECONDS)


def make_celery(settings: Settings) -> Celery:
    settings.ensure_data_dir()
    app = Celery("velotrain", broker=settings.resolved_broker_url)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # Each job names its queue when it is sent (api/queue.py), so this default
        # applies only to a task sent without a queue.
        task_default_queue=settings.job_queue,
        broker_transport_options=broker_transport_options(settings.resolved_broker_url),
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_ignore_result=True,
    )
    return app


app = make_celery(get_settings())
