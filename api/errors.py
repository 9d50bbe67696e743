"""Map domain errors to HTTP responses in one place."""

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from api.job_config import InvalidField
from db.jobs import JobNotFound, JobStateConflict


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


def _not_found(_request: Request, error: JobNotFound) -> JSONResponse:
    return JSONResponse(status_code=404, content={"detail": str(error)})


def _conflict(_request: Request, error: JobStateConflict) -> JSONResponse:
    return JSONResponse(status_code=409, content={"detail": str(error)})


def _database_down(_request: Request, _error: OperationalError) -> JSONResponse:
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
    app.add_exception_handler(OperationalError, _database_down)
