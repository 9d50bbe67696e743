"""Celery task entry point: carries only the job id; the SQL row is the truth."""

from worker.celery_app import RUN_JOB_TASK, app


@app.task(name=RUN_JOB_TASK)
def run_job(job_id: int) -> None:
    """Run training job `job_id` to its end and record the outcome."""
    # Imported here so that JAX starts only in the process that trains.
    from worker.runner import run_job_by_id

    run_job_by_id(job_id)
