"""Map domain errors to HTTP responses in one place."""

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from api.auth import NotAuthenticated
from api.idempotency import IdempotencyConflict
from api.job_config import InvalidField
from api.limits import LimitExceeded, retry_after_header
from api.schemas import ErrorDetail
from db.datasets import DatasetInUse, DatasetNotFound
from db.jobs import JobNotFound, JobStateConflict

logger = logging.getLogger(__name__)

# Error responses every /jobs route may give, for the OpenAPI schema.
COMMON_ERROR_RESPONSES = {
    401: {"model": ErrorDetail, "description": "Missing or unknown API key"},
    503: {"model": ErrorDetail, "description": "The database is unreachable"},
}


class ModelFileMissing(LookupError):
    """The job ended but its model file in the requested format was not written."""


def _invalid_field(_request: Request, error: InvalidField) -> JSONResponse:
    # Same shape as FastAPI's own validation errors, so clients parse one format.
    detail = [
        {
            "loc": ["body", error.field],
            "msg": error.message,
            "type": "value_error",
        }
    ]
    return JSONResponse(status_code=422, content={"detail": detail})


def _not_found(_request: Request, error: LookupError) -> JSONResponse:
    return JSONResponse(status_code=404, content={"detail": str(error)})


def _conflict(_request: Request, error: Exception) -> JSONResponse:
    return JSONResponse(status_code=409, content={"detail": str(error)})


def _not_authenticated(request: Request, error: NotAuthenticated) -> JSONResponse:
    logger.info("rejected %s %s: %s", request.method, request.url.path, error)
    return JSONResponse(
        status_code=401,
        content={"detail": str(error)},
        headers={"WWW-Authenticate": "Bearer"},
    )


def _limit_exceeded(request: Request, error: LimitExceeded) -> JSONResponse:
    logger.info("rejected %s %s: %s", request.method, request.url.path, error)
    headers = {}
    if error.retry_after is not None:
        headers["Retry-After"] = retry_after_header(error.retry_after)
    return JSONResponse(
        status_code=error.status_code,
        content={"detail": error.message},
        headers=headers,
    )


def _database_down(request: Request, error: OperationalError) -> JSONResponse:
    logger.error(
        "database unreachable during %s %s: %s",
        request.method,
        request.url.path,
        error.orig,
    )
    return JSONResponse(
        status_code=503,
        content={
            "detail": "The database is unreachable; nothing was stored. "
            "Retry the request later."
        },
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(InvalidField, _invalid_field)
    app.add_exception_handler(JobNotFound, _not_found)
    app.add_exception_handler(JobStateConflict, _conflict)
    app.add_exception_handler(DatasetNotFound, _not_found)
    app.add_exception_handler(ModelFileMissing, _not_found)
    app.add_exception_handler(DatasetInUse, _conflict)
    app.add_exception_handler(IdempotencyConflict, _conflict)
    app.add_exception_handler(NotAuthenticated, _not_authenticated)
    app.add_exception_handler(LimitExceeded, _limit_exceeded)
    app.add_exception_handler(OperationalError, _database_down)
