"""Routes for training jobs: submit, list, read, history, cancel."""

from typing import Annotated

from celery import Celery
from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from api.deps import get_celery, get_session, get_settings
from api.job_config import resolve_job_config
from api.presenters import job_to_public
from api.queue import enqueue_job
from api.schemas import EpochRow, History, JobCreate, JobList, JobPublic, JobStatus
from db import jobs
from velotrain.settings import Settings

router = APIRouter(prefix="/jobs", tags=["jobs"])

SessionDep = Annotated[Session, Depends(get_session)]


@router.post("", status_code=201, response_model=JobPublic)
def submit_job(
    request: JobCreate,
    session: SessionDep,
    settings: Annotated[Settings, Depends(get_settings)],
    celery: Annotated[Celery, Depends(get_celery)],
) -> JobPublic:
    """Store a training job as queued, then hand it to the workers."""
    config = resolve_job_config(request, settings.max_epochs)
    job = jobs.create_job(session, config.model_dump(), request.name)
    enqueue_job(celery, job.id)
    return job_to_public(job)


@router.get("", response_model=JobList)
def list_jobs(
    session: SessionDep,
    status: JobStatus | None = None,
    use_velo: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JobList:
    """List jobs, newest first."""
    page = jobs.list_jobs(
        session, status=status, use_velo=use_velo, limit=limit, offset=offset
    )
    return JobList(
        items=[job_to_public(job) for job in page.items],
        total=page.total,
        limit=limit,
        offset=offset,
    )


@router.get("/{job_id}", response_model=JobPublic)
def read_job(job_id: int, session: SessionDep) -> JobPublic:
    return job_to_public(jobs.get_job(session, job_id))


@router.get("/{job_id}/history", response_model=History)
def read_history(job_id: int, session: SessionDep) -> History:
    """Return one row per finished epoch."""
    rows = jobs.get_history(session, job_id)
    job = jobs.get_job(session, job_id)
    return History(
        job_id=job_id,
        status=job.status,
        epochs=[EpochRow.model_validate(row) for row in rows],
    )


@router.post("/{job_id}/cancel", response_model=JobPublic)
def cancel_job(job_id: int, session: SessionDep) -> JobPublic:
    """Cancel a queued job, or stop a running one after its current epoch."""
    return job_to_public(jobs.request_cancel(session, job_id))
