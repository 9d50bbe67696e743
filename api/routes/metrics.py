"""Prometheus scrape endpoint."""

from typing import Annotated

from celery import Celery
from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.deps import get_celery
from api.metrics import render_metrics

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response)
def metrics(request: Request, celery: Annotated[Celery, Depends(get_celery)]):
    """Return job counts, queue depths and duration histograms for Prometheus."""
    body = render_metrics(request.app.state.sessions, celery)
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)
