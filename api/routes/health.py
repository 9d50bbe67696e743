"""Health check: can the API reach its database and its broker?"""

from typing import Annotated

from celery import Celery
from fastapi import APIRouter, Depends, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from api.deps import get_celery, get_session
from api.queue import ping_broker
from api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def health(
    response: Response,
    session: Annotated[Session, Depends(get_session)],
    celery: Annotated[Celery, Depends(get_celery)],
) -> Health:
    """Report database and broker reachability; 503 when either is down."""
    try:
        session.execute(text("SELECT 1"))
        database = {"reachable": True}
    except SQLAlchemyError as error:
        database = {"reachable": False, "error": str(error.__class__.__name__)}
    broker_ok, broker_error = ping_broker(celery)
    broker = {"reachable": broker_ok}
    if broker_error:
        broker["error"] = broker_error
    healthy = database["reachable"] and broker_ok
    if not healthy:
        response.status_code = 503
    return Health(
        status="ok" if healthy else "degraded", database=database, broker=broker
    )
