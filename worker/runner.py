"""Run one training job: claim it, train with velo_core, record every epoch and the end.

Imported only inside the worker's task, so JAX starts in the process that trains.
"""

import logging
import os
import socket
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from db import jobs
from db.engine import make_engine, make_session_factory
from velotrain.settings import Settings, get_settings

logger = logging.getLogger(__name__)

_sessions: sessionmaker[Session] | None = None


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _session_factory(settings: Settings) -> sessionmaker[Session]:
    # One engine per worker process, created lazily after any fork.
    global _sessions
    if _sessions is None:
        _sessions = make_session_factory(make_engine(settings.resolved_database_url))
    return _sessions


def run_job_by_id(job_id: int, settings: Settings | None = None) -> None:
    """Train job `job_id` if it is still queued; do nothing otherwise."""
    settings = settings or get_settings()
    sessions = _session_factory(settings)
    if not jobs.claim_job(sessions, job_id, worker_name()):
        logger.info("job is not queued any more; skipping", extra={"job_id": job_id})
        return
    logger.info("job started", extra={"job_id": job_id})
    with sessions() as session:
        config = dict(jobs.get_job(session, job_id).config)
    try:
        outcome = _train(job_id, config, settings, sessions)
    except Exception as error:  # every failure must end the job with its reason
        reason = _failure_reason(error)
        logger.warning("job failed: %s", reason, extra={"job_id": job_id})
        jobs.finish_job(sessions, job_id, "failed", failure_reason=reason)
        return
    status, metrics = outcome
    jobs.finish_job(sessions, job_id, status, final_metrics=metrics)
    logger.info("job ended: %s", status, extra={"job_id": job_id})


def _failure_reason(error: Exception) -> str:
    message = str(error).strip() or error.__class__.__name__
    # velo_core's own errors already read as reasons; others get their type name.
    readable = ("TrainingDiverged", "WeightsUnavailableError", "WeightsFileError")
    if error.__class__.__name__ in readable:
        return message
    return f"{error.__class__.__name__}: {message}"


def _train(
    job_id: int,
    config: dict[str, Any],
    settings: Settings,
    sessions: sessionmaker[Session],
) -> tuple[str, dict[str, Any] | None]:
    from velo_core.config import TrainConfig
    from velo_core.training import train

    velo_weights = None
    if config["use_velo"]:
        velo_weights = _load_velo_weights(settings)
        jobs.record_start(
            sessions,
            job_id,
            num_steps=None,
            weights_name=velo_weights.name,
            weights_sha256=velo_weights.sha256,
        )
    train_config = TrainConfig(
        dataset=config["dataset"],
        model=config["model"],
        hidden_sizes=config.get("hidden_sizes"),
        use_velo=config["use_velo"],
        epochs=config["epochs"],
        batch_size=config["batch_size"],
        learning_rate=config.get("learning_rate") or 1e-3,
        validation_split=config["validation_split"],
        seed=config["seed"],
        velo_weights=velo_weights,
    )
    cancelled = False

    def on_epoch_end(metrics) -> bool:
        # Returning True asks the loop to stop after this epoch.
        nonlocal cancelled
        cancelled = jobs.record_epoch(sessions, job_id, _as_dict(metrics))
        return cancelled

    result = train(train_config, on_epoch_end=on_epoch_end)
    jobs.record_start(
        sessions,
        job_id,
        num_steps=result.num_steps,
        weights_name=result.optimizer.weights_name,
        weights_sha256=result.optimizer.weights_sha256,
    )
    _save_model(result.model, settings.artifacts_dir, job_id)
    if cancelled:
        return "cancelled", None
    return "succeeded", dict(result.final_metrics)


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
