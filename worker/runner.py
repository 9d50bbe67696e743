"""Run one training job: claim it, train with velo_core, record every epoch and the end.

Imported only inside the worker's task, so JAX starts in the process that trains.
"""

import gc
import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from db import jobs
from db.engine import make_engine, make_session_factory
from db.insights import record_insights
from velotrain.settings import Settings, get_settings
from worker.heartbeat import Heartbeat

logger = logging.getLogger(__name__)

_sessions: sessionmaker[Session] | None = None

# Errors whose message already reads as a reason ("diverged at epoch 3").
_SELF_EXPLAINING_ERRORS = ("TrainingDiverged", "WeightsNotAvailable", "JobTimedOut")
MAX_REASON_CHARS = 500


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _session_factory(settings: Settings) -> sessionmaker[Session]:
    # One engine per worker process, created lazily after any fork.
    global _sessions
    if _sessions is None:
        _sessions = make_session_factory(make_engine(settings.resolved_database_url))
    return _sessions


class JobTimedOut(RuntimeError):
    """The job ran longer than its time limit."""

    def __init__(self, limit_seconds: int) -> None:
        super().__init__(
            f"timed out: ran longer than its time limit of {limit_seconds} s"
        )


@dataclass(frozen=True)
class Attempt:
    """One claimed run of a job, and the monotonic clock time it must end by."""

    job_id: int
    number: int
    sessions: sessionmaker[Session]
    time_limit_seconds: int
    deadline: float


def run_job_by_id(job_id: int, settings: Settings | None = None) -> None:
    """Train job `job_id` if it is still queued; do nothing otherwise."""
    settings = settings or get_settings()
    sessions = _session_factory(settings)
    number = jobs.claim_job(sessions, job_id, worker_name())
    if number is None:
        logger.info("job is not queued any more; skipping", extra={"job_id": job_id})
        return
    logger.info("job started", extra={"job_id": job_id, "attempt": number})
    with sessions() as session:
        job = jobs.get_job(session, job_id)
        config = dict(job.config)
        limit = job.time_limit_seconds or settings.job_time_limit_seconds
    attempt = Attempt(job_id, number, sessions, limit, time.monotonic() + limit)
    with Heartbeat(sessions, job_id, number, settings.heartbeat_seconds):
        status, metrics, reason = _run_attempt(attempt, config, settings)
    ended = jobs.finish_job(
        sessions,
        job_id,
        status,
        final_metrics=metrics,
        failure_reason=reason,
        attempt=number,
    )
    if ended:
        logger.info("job ended: %s", status, extra={"job_id": job_id})
    else:
        logger.info("job was ended elsewhere first", extra={"job_id": job_id})


def _run_attempt(
    attempt: Attempt, config: dict[str, Any], settings: Settings
) -> tuple[str, dict[str, Any] | None, str | None]:
    try:
        status, metrics = _train(attempt, config, settings)
    except Exception as error:  # every failure must end the job with its reason
        reason = failure_reason(error)
        logger.warning("job failed: %s", reason, extra={"job_id": attempt.job_id})
    else:
        return status, metrics, None
    # Free what the failed run left behind (after an out-of-memory error, possibly
    # large buffers) once the traceback is gone, so the next job starts clean.
    gc.collect()
    return "failed", None, reason


def failure_reason(error: BaseException) -> str:
    """Describe why a job failed in one readable line of at most 500 characters."""
    message = str(error).strip() or error.__class__.__name__
    if is_out_of_memory(error):
        reason = f"out of memory: {message.splitlines()[0]}"
    elif error.__class__.__name__ in _SELF_EXPLAINING_ERRORS:
        reason = message
    else:
        reason = f"{error.__class__.__name__}: {message}"
    return reason[:MAX_REASON_CHARS]


def is_out_of_memory(error: BaseException) -> bool:
    """Tell host and accelerator allocation failures (XLA RESOURCE_EXHAUSTED)."""
    return isinstance(error, MemoryError) or "RESOURCE_EXHAUSTED" in str(error)


def _train(
    attempt: Attempt, config: dict[str, Any], settings: Settings
) -> tuple[str, dict[str, Any] | None]:
    from velo_core.config import TrainConfig
    from velo_core.training import train
    from worker.exports import export_artifacts
    from worker.insights import collect_insights, early_stopping_rule
    from worker.sources import train_sources

    velo_weights = None
    if config["use_velo"]:
        velo_weights = _load_velo_weights(settings)
        _record_start(attempt, None, velo_weights.name, velo_weights.sha256)
    train_config = TrainConfig(
        **train_sources(config, settings),
        use_velo=config["use_velo"],
        epochs=config["epochs"],
        batch_size=config["batch_size"],
        learning_rate=config.get("learning_rate") or 1e-3,
        validation_split=config["validation_split"],
        seed=config["seed"],
        velo_weights=velo_weights,
        early_stopping=early_stopping_rule(config),
    )
    stopped = False

    def on_epoch_end(metrics) -> bool:
        # Returning True stops the training loop after this epoch.
        nonlocal stopped
        stopped = jobs.record_epoch(
            attempt.sessions, attempt.job_id, _as_dict(metrics), attempt.number
        )
        if not stopped and time.monotonic() > attempt.deadline:
            raise JobTimedOut(attempt.time_limit_seconds)
        return stopped

    result = train(train_config, on_epoch_end=on_epoch_end, measure_cost=True)
    info = result.optimizer
    _record_start(attempt, result.num_steps, info.weights_name, info.weights_sha256)
    _save_model(result.model, settings.artifacts_dir, attempt.job_id)
    insights = collect_insights(result, settings, attempt.job_id, cancelled=stopped)
    record_insights(attempt.sessions, attempt.job_id, insights, attempt.number)
    if stopped:
        return "cancelled", None
    if settings.export_tflite:
        keras_path = settings.artifacts_dir / f"job-{attempt.job_id}.keras"
        export_artifacts(keras_path, result.dataset, attempt.job_id)
    return "succeeded", dict(result.final_metrics)


def _record_start(attempt: Attempt, num_steps, weights_name, weights_sha256) -> None:
    jobs.record_start(
        attempt.sessions,
        attempt.job_id,
        num_steps=num_steps,
        weights_name=weights_name,
        weights_sha256=weights_sha256,
        attempt=attempt.number,
    )


def _load_velo_weights(settings: Settings):
    from velo_core.velo import resolve_weights

    return resolve_weights(settings.velo_weights, cache_dir=settings.weights_cache_dir)


def _as_dict(metrics) -> dict[str, Any]:
    if isinstance(metrics, dict):
        return metrics
    return {
        key: getattr(metrics, key, None)
        for key in ("epoch", "loss", "val_loss", "accuracy", "val_accuracy", "seconds")
    }


def _save_model(model, artifacts_dir: Path, job_id: int) -> None:
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    path = artifacts_dir / f"job-{job_id}.keras"
    try:
        model.save(path)
    except Exception as error:  # the job still succeeded; only the artifact is missing
        logger.error("could not save model: %s", error, extra={"job_id": job_id})
