"""Routes for comparisons: VeLO against an Adam learning-rate sweep, or chosen jobs."""

import logging
from typing import Annotated

from celery import Celery
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from api.auth import Caller, CallerDep
from api.comparison_presenters import comparison_to_public, comparison_to_summary
from api.comparison_schemas import (
    MAX_COMPARED_JOBS,
    ComparisonCreate,
    ComparisonList,
    ComparisonPublic,
)
from api.deps import get_celery, get_session, get_settings
from api.errors import COMMON_ERROR_RESPONSES
from api.idempotency import (
    IdempotencyKeyHeader,
    earlier_comparison,
    request_fingerprint,
)
from api.job_config import InvalidField, resolve_job_config
from api.limits import LimitExceeded, check_resource_limits
from api.queue import send_job
from api.schemas import ErrorDetail, JobConfig, JobCreate
from db import comparisons, jobs
from db.models import Comparison
from velotrain.settings import Settings

logger = logging.getLogger(__name__)

router = APIRouter(
    prefix="/comparisons", tags=["comparisons"], responses=COMMON_ERROR_RESPONSES
)

SessionDep = Annotated[Session, Depends(get_session)]
ComparisonId = Annotated[int, Path(ge=1, le=2**31 - 1)]
SWEEP_FIELDS = set(ComparisonCreate.model_fields) - {"job_ids", "name"}


def get_session_factory(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions


def _job_request(request: ComparisonCreate, learning_rate: float | None) -> JobCreate:
    return JobCreate(
        dataset=request.dataset,
        model=request.model,
        hidden_sizes=request.hidden_sizes,
        use_velo=learning_rate is None,
        epochs=request.epochs,
        batch_size=request.batch_size,
        learning_rate=learning_rate,
        validation_split=request.validation_split,
        seed=request.seed,
        device=request.device,
    )


def sweep_configs(
    request: ComparisonCreate, max_epochs: int, default_device: str
) -> list[JobConfig]:
    """Resolve the VeLO job and one Adam job per rate, or raise InvalidField.

    `default_device` is the queue of a request that names none.
    """
    rates = request.adam_learning_rates
    if not rates or len(set(rates)) != len(rates):
        raise InvalidField(
            "adam_learning_rates",
            "adam_learning_rates must be a non-empty list of distinct rates. "
            f"Received: adam_learning_rates={rates}",
        )
    configs = []
    for rate in (None, *rates):
        try:
            configs.append(
                resolve_job_config(
                    _job_request(request, rate),
                    max_epochs,
                    default_device=default_device,
                )
            )
        except InvalidField as error:
            if error.field != "learning_rate":
                raise
            raise InvalidField("adam_learning_rates", error.message) from None
    return configs


def check_job_ids(
    session: Session, request: ComparisonCreate, scope: str | None
) -> list[int]:
    """Return the requested job ids, or raise InvalidField unless 2 to 12 known ones."""
    job_ids = request.job_ids or []
    mixed = sorted(request.model_fields_set & SWEEP_FIELDS)
    if mixed:
        raise InvalidField(
            "job_ids",
            "job_ids compares existing jobs and takes no training fields; "
            f"remove {mixed} or remove job_ids.",
        )
    if not 2 <= len(job_ids) <= MAX_COMPARED_JOBS:
        raise InvalidField(
            "job_ids",
            f"job_ids must list 2 to {MAX_COMPARED_JOBS} jobs. "
            f"Received: job_ids={job_ids}",
        )
    if len(set(job_ids)) != len(job_ids):
        raise InvalidField(
            "job_ids", f"job_ids must not repeat a job. Received: job_ids={job_ids}"
        )
    missing = comparisons.missing_job_ids(session, job_ids, scope)
    if missing:
        raise InvalidField(
            "job_ids",
            f"Unknown job ids: {missing}. List existing jobs with GET /jobs.",
        )
    return job_ids


def check_room_for_jobs(
    session: Session, caller: Caller, count: int, settings: Settings
) -> None:
    """Raise LimitExceeded (429) unless `count` more jobs fit the active-job limit."""
    active = jobs.count_active_jobs(session, caller.project)
    limit = settings.max_active_jobs_per_project
    if active + count > limit:
        raise LimitExceeded(
            429,
            f"a sweep creates {count} jobs, and project {caller.project!r} has "
            f"{active} queued or running jobs of max_active_jobs_per_project="
            f"{limit}; wait for some to end",
        )


@router.post(
    "",
    status_code=201,
    response_model=ComparisonPublic,
    responses={
        200: {
            "model": ComparisonPublic,
            "description": "The comparison of an earlier request "
            "with the same Idempotency-Key",
        },
        409: {
            "model": ErrorDetail,
            "description": "Idempotency-Key reused with another body",
        },
        429: {"model": ErrorDetail, "description": "Rate or active-job limit"},
    },
)
def create_comparison(
    request: ComparisonCreate,
    http_request: Request,
    response: Response,
    session: SessionDep,
    caller: CallerDep,
    settings: Annotated[Settings, Depends(get_settings)],
    celery: Annotated[Celery, Depends(get_celery)],
    sessions: Annotated[sessionmaker[Session], Depends(get_session_factory)],
    idempotency_key: IdempotencyKeyHeader = None,
) -> ComparisonPublic:
    """Compare existing jobs, or create and enqueue a VeLO job and an Adam sweep.

    A retry with an Idempotency-Key already used in this project returns the
    comparison of the first request (200) and creates no jobs.
    """
    http_request.app.state.submit_limiter.check(caller.client_id)
    fingerprint = request_fingerprint(request, settings.job_queue)
    if idempotency_key is not None:
        earlier = earlier_comparison(
            session, caller.project, idempotency_key, fingerprint
        )
        if earlier is not None:
            response.status_code = 200
            return _read(session, earlier.id, caller.scope)
    key = {"idempotency_key": idempotency_key, "request_sha256": fingerprint}
    try:
        comparison = _create(session, request, caller, settings, key)
    except IntegrityError:
        session.rollback()
        if idempotency_key is None:
            raise
        # Another request with this key stored its comparison first.
        earlier = earlier_comparison(
            session, caller.project, idempotency_key, fingerprint
        )
        if earlier is None:
            raise
        logger.info(
            "comparison %s was stored first by a concurrent request with "
            "Idempotency-Key %r",
            earlier.id,
            idempotency_key,
            extra={"comparison_id": earlier.id, "project": caller.project},
        )
        response.status_code = 200
        return _read(session, earlier.id, caller.scope)
    if comparison.kind == comparisons.SWEEP:
        for run in comparison.runs:
            send_job(celery, sessions, run.job_id, run.job.device)
    return _read(session, comparison.id, caller.scope)


def _create(
    session: Session,
    request: ComparisonCreate,
    caller: Caller,
    settings: Settings,
    key: dict[str, str | None],
) -> Comparison:
    if request.job_ids is not None:
        job_ids = check_job_ids(session, request, caller.scope)
        return comparisons.create_from_jobs(
            session, job_ids, request.name, project=caller.project, **key
        )
    configs = sweep_configs(request, settings.max_epochs, settings.job_queue)
    for config in configs:
        check_resource_limits(config, settings)
    check_room_for_jobs(session, caller, len(configs), settings)
    return comparisons.create_sweep(
        session,
        [config.model_dump() for config in configs],
        request.name,
        project=caller.project,
        time_limit_seconds=settings.job_time_limit_seconds,
        **key,
    )


def _read(session: Session, comparison_id: int, scope: str | None) -> ComparisonPublic:
    try:
        comparison = comparisons.get_comparison(session, comparison_id, scope)
    except comparisons.ComparisonNotFound as error:
        raise HTTPException(status_code=404, detail=str(error)) from None
    job_ids = [run.job_id for run in comparison.runs]
    return comparison_to_public(comparison, comparisons.histories(session, job_ids))


@router.get("", response_model=ComparisonList)
def list_comparisons(
    session: SessionDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> ComparisonList:
    """List comparisons newest first, with each run's label and status."""
    page = comparisons.list_comparisons(
        session, project=caller.scope, limit=limit, offset=offset
    )
    return ComparisonList(
        items=[comparison_to_summary(item) for item in page.items],
        total=page.total,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/{comparison_id}",
    response_model=ComparisonPublic,
    responses={404: {"model": ErrorDetail, "description": "No such comparison"}},
)
def read_comparison(
    comparison_id: ComparisonId, session: SessionDep, caller: CallerDep
) -> ComparisonPublic:
    """Return every run's status and history, and the final-metrics table."""
    return _read(session, comparison_id, caller.scope)
