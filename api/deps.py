"""FastAPI dependencies: a database session per request and the process settings."""

from collections.abc import Iterator

from celery import Celery
from fastapi import Request
from sqlalchemy.orm import Session

from velotrain.settings import Settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_celery(request: Request) -> Celery:
    return request.app.state.celery
