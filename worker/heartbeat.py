"""Refresh a running job's heartbeat from a background thread during long epochs."""

import logging
import threading

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from db import jobs

logger = logging.getLogger(__name__)


class Heartbeat:
    """Beat every `interval` seconds while the `with` block runs.

    The reaper treats a running job whose heartbeat is older than
    `heartbeat_timeout_seconds` as lost, so an epoch may take longer than that.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        job_id: int,
        attempt: int,
        interval: float,
    ) -> None:
        self._sessions = sessions
        self._job_id = job_id
        self._attempt = attempt
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"heartbeat-{job_id}", daemon=True
        )

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stopped.set()
        self._thread.join(timeout=self._interval + 5)

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                if not jobs.heartbeat(self._sessions, self._job_id, self._attempt):
                    return
            except SQLAlchemyError as error:
                # A database hiccup must not kill the thread; the next beat retries.
                logger.warning(
                    "heartbeat failed: %s", error, extra={"job_id": self._job_id}
                )
