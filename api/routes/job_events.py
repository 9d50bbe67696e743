"""Route that streams a job's status and epochs as server-sent events."""

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from api import job_events
from api.auth import CallerDep
from api.deps import get_settings
from api.errors import COMMON_ERROR_RESPONSES
from api.routes.jobs import NOT_FOUND, JobId, SessionDep
from db import jobs
from velotrain.settings import Settings

router = APIRouter(prefix="/jobs", tags=["jobs"], responses=COMMON_ERROR_RESPONSES)

STREAM_HEADERS = {
    "Cache-Control": "no-cache",
    # nginx buffers proxied responses (proxy_buffering on) unless this is "no".
    "X-Accel-Buffering": "no",
}
EpochNumber = Annotated[int, Query(ge=0, le=2**31 - 1)]


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={
        **NOT_FOUND,
        200: {
            "content": {"text/event-stream": {}},
            "description": "Events `status`, `epoch` (with `id: <epoch>`) and `end`",
        },
    },
)
def stream_job_events(
    job_id: JobId,
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    settings: Annotated[Settings, Depends(get_settings)],
    after_epoch: EpochNumber = 0,
    last_event_id: Annotated[
        int | None, Header(alias="Last-Event-ID", ge=0, le=2**31 - 1)
    ] = None,
) -> StreamingResponse:
    """Stream the job's state, its epochs after the last one seen, then its end.

    A reconnecting EventSource sends Last-Event-ID, the last epoch it received.
    `after_epoch` does the same for clients that cannot set headers.
    """
    jobs.get_job(session, job_id, caller.scope)
    # Otherwise this session would stay open until the stream ends. The stream
    # opens a short session per poll instead.
    session.close()
    read = partial(
        job_events.read_snapshot, request.app.state.sessions, job_id, caller.scope
    )
    stream = job_events.JobEventStream(
        job_id,
        read,
        after_epoch=max(after_epoch, last_event_id or 0),
        poll_seconds=settings.events_poll_seconds,
        keepalive_seconds=settings.events_keepalive_seconds,
    )
    return StreamingResponse(
        stream.events(), media_type="text/event-stream", headers=STREAM_HEADERS
    )
