"""Start and stop what runs beside the API's requests: the reaper loop."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from worker.reaper import Reaper, ReaperThread

logger = logging.getLogger(__name__)


@asynccontextmanager
async def service_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Warn when authentication is off, and run the reaper while the app serves."""
    settings = app.state.settings
    if settings.auth == "off":
        logger.warning(
            "authentication is off (VELOTRAIN_AUTH=off): every client can read and "
            "cancel every job; set VELOTRAIN_AUTH=on and create keys with "
            "`velotrain keys create --project NAME`"
        )
    reaper = None
    if settings.reaper_in_api:
        reaper = ReaperThread(Reaper(settings, app.state.sessions, app.state.celery))
        reaper.start()
    try:
        yield
    finally:
        if reaper is not None:
            reaper.stop()
