"""Build the FastAPI application."""

import logging

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.lifespan import service_lifespan
from api.limits import BodySizeLimit, TokenBucketLimiter
from api.routes import (
    catalog,
    comparisons,
    datasets,
    exports,
    health,
    job_events,
    jobs,
    metrics,
    models,
    pages,
)
from db.engine import make_engine, make_session_factory
from velotrain.settings import Settings, get_settings
from worker.celery_app import make_celery

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Create the app for `settings` (default: read from the environment).

    The database must already be at the latest migration (`velotrain migrate`).
    """
    settings = settings or get_settings()
    settings.ensure_data_dir()
    app = FastAPI(
        title="velotrain",
        summary="Train small models with the VeLO learned optimizer or with Adam.",
        version="0.1.0",
        lifespan=service_lifespan,
    )
    engine = make_engine(settings.resolved_database_url)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = make_session_factory(engine)
    app.state.celery = make_celery(settings)
    app.state.submit_limiter = TokenBucketLimiter(
        settings.submit_rate_per_second, settings.submit_burst
    )
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_request_bytes,
        upload_paths=("/datasets", "/models"),
        max_upload_bytes=settings.max_upload_bytes,
    )
    install_error_handlers(app)
    app.include_router(jobs.router)
    app.include_router(job_events.router)
    app.include_router(exports.router)
    app.include_router(datasets.router)
    app.include_router(models.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(catalog.router)
    app.include_router(comparisons.router)
    app.include_router(pages.router)
    return app
