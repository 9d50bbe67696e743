"""Routes for training jobs: submit, list, read, history, cancel."""

from typing import Annotated

from celery import Celery
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from api.auth import Caller, CallerDep
from api.deps import get_celery, get_session, get_settings
from api.errors import COMMON_ERROR_RESPONSES
from api.idempotency import IdempotencyKeyHeader, earlier_job, request_fingerprint
from api.job_config import resolve_job_config, resolve_time_limit
from api.limits import (
    TokenBucketLimiter,
    check_active_jobs,
    check_resource_limits,
)
from api.presenters import job_to_public
from api.queue import send_job
from api.schemas import (
    Device,
    EpochRow,
    ErrorDetail,
    History,
    JobCreate,
    JobList,
    JobPublic,
    JobStatus,
)
from api.user_sources import resolve_sources
from db import jobs
from db.models import Job
from velotrain.settings import Settings

router = APIRouter(prefix="/jobs", tags=["jobs"], responses=COMMON_ERROR_RESPONSES)

SessionDep = Annotated[Session, Depends(get_session)]
# Bounded by the 32-bit integer column of PostgreSQL.
JobId = Annotated[int, Path(ge=1, le=2**31 - 1)]
NOT_FOUND = {404: {"model": ErrorDetail, "description": "No such job here"}}


def get_session_factory(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions


def get_submit_limiter(request: Request) -> TokenBucketLimiter:
    return request.app.state.submit_limiter


@router.post(
    "",
    status_code=201,
    response_model=JobPublic,
    responses={
        200: {
            "model": JobPublic,
            "description": "The job of an earlier request "
            "with the same Idempotency-Key",
        },
        409: {
            "model": ErrorDetail,
            "description": "Idempotency-Key reused with another body",
        },
        413: {"model": ErrorDetail, "description": "Request body too large"},
        429: {"model": ErrorDetail, "description": "Rate or active-job limit"},
    },
)
def submit_job(
    request: JobCreate,
    response: Response,
    session: SessionDep,
    caller: CallerDep,
    settings: Annotated[Settings, Depends(get_settings)],
    celery: Annotated[Celery, Depends(get_celery)],
    sessions: Annotated[sessionmaker[Session], Depends(get_session_factory)],
    limiter: Annotated[TokenBucketLimiter, Depends(get_submit_limiter)],
    idempotency_key: IdempotencyKeyHeader = None,
) -> JobPublic:
    """Store a training job as queued, then hand it to the workers.

    A retry with an Idempotency-Key already used in this project returns the job
    of the first request (200) instead of storing another.
    """
    limiter.check(caller.client_id)
    sources = resolve_sources(request, session, caller.project, settings)
    config = resolve_job_config(
        request, settings.max_epochs, sources, default_device=settings.job_queue
    )
    check_resource_limits(config, settings)
    time_limit = resolve_time_limit(request, settings.job_time_limit_seconds)
    fingerprint = request_fingerprint(request, settings.job_queue)
    key = (idempotency_key, fingerprint)
    if idempotency_key is not None:
        earlier = earlier_job(session, caller.project, idempotency_key, fingerprint)
        if earlier is not None:
            response.status_code = 200
            return job_to_public(earlier)
    active = jobs.count_active_jobs(session, caller.project)
    check_active_jobs(caller.project, active, settings)
    stored = _store(session, caller, request, config.model_dump(), time_limit, key)
    job, created = stored
    if not created:
        response.status_code = 200
        return job_to_public(job)
    send_job(celery, sessions, job.id, job.device)
    session.refresh(job)
    return job_to_public(job)


def _store(
    session: Session,
    caller: Caller,
    request: JobCreate,
    config: dict,
    time_limit: int,
    key: tuple[str | None, str],
) -> tuple[Job, bool]:
    """Store the job and return (job, True); after losing a race for the same
    Idempotency-Key, return (the winner's job, False)."""
    idempotency_key, fingerprint = key
    try:
        job = jobs.create_job(
            session,
            config,
            request.name,
            project=caller.project,
            idempotency_key=idempotency_key,
            request_sha256=fingerprint,
            time_limit_seconds=time_limit,
        )
    except IntegrityError:
        session.rollback()
        if idempotency_key is None:
            raise
        earlier = earlier_job(session, caller.project, idempotency_key, fingerprint)
        if earlier is None:
            raise
        return earlier, False
    return job, True


@router.get("", response_model=JobList)
def list_jobs(
    session: SessionDep,
    caller: CallerDep,
    status: JobStatus | None = None,
    use_velo: bool | None = None,
    device: Device | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> JobList:
    """List the caller's jobs, newest first."""
    page = jobs.list_jobs(
        session,
        status=status,
        use_velo=use_velo,
        device=device,
        project=caller.scope,
        limit=limit,
        offset=offset,
    )
    return JobList(
        items=[job_to_public(job) for job in page.items],
        total=page.total,
        limit=limit,
        offset=offset,
    )


@router.get("/{job_id}", response_model=JobPublic, responses=NOT_FOUND)
def read_job(job_id: JobId, session: SessionDep, caller: CallerDep) -> JobPublic:
    return job_to_public(jobs.get_job(session, job_id, caller.scope))


@router.get("/{job_id}/history", response_model=History, responses=NOT_FOUND)
def read_history(job_id: JobId, session: SessionDep, caller: CallerDep) -> History:
    """Return one row per finished epoch."""
    rows = jobs.get_history(session, job_id, caller.scope)
    job = jobs.get_job(session, job_id, caller.scope)
    return History(
        job_id=job_id,
        status=job.status,
        epochs=[EpochRow.model_validate(row) for row in rows],
    )


@router.post(
    "/{job_id}/cancel",
    response_model=JobPublic,
    responses={
        **NOT_FOUND,
        409: {"model": ErrorDetail, "description": "The job already ended"},
    },
)
def cancel_job(job_id: JobId, session: SessionDep, caller: CallerDep) -> JobPublic:
    """Cancel a queued job, or stop a running one after its current epoch."""
    return job_to_public(jobs.request_cancel(session, job_id, caller.scope))
