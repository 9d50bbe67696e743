"""Convert database rows into API response models."""

from api.schemas import JobConfig, JobPublic, Progress
from db.models import Job


def job_to_public(job: Job) -> JobPublic:
    duration = None
    if job.started_at is not None and job.finished_at is not None:
        duration = (job.finished_at - job.started_at).total_seconds()
    return JobPublic(
        id=job.id,
        project=job.project,
        name=job.name,
        status=job.status,
        optimizer=job.optimizer,
        device=job.device,
        config=JobConfig.model_validate({**job.config, "device": job.device}),
        progress=Progress(epochs_done=job.epochs_done, epochs_total=job.epochs_total),
        final_metrics=job.final_metrics,
        failure_reason=job.failure_reason,
        cancel_requested=job.cancel_requested,
        weights_name=job.weights_name,
        weights_sha256=job.weights_sha256,
        num_steps=job.num_steps,
        steps_executed=job.steps_executed,
        stopped_epoch=job.stopped_epoch,
        best_epoch=job.best_epoch,
        classification=job.classification,
        cost=job.cost,
        device_fit=job.device_fit,
        preprocessing=job.preprocessing,
        attempt=job.attempt,
        worker=job.worker,
        time_limit_seconds=job.time_limit_seconds,
        created_at=job.created_at,
        enqueued_at=job.enqueued_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        duration_seconds=duration,
    )
