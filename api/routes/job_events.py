"""Route that streams a job's status and epochs as server-sent events."""

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.exceptions import RequestValidationError
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
            "description": "Events `status`, `epoch` (with `id: <attempt>:<epoch>`) "
            "and `end`",
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
    attempt: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """Stream the job's state, its epochs after the last one seen, then its end.

    A reconnecting EventSource sends Last-Event-ID, the id `<attempt>:<epoch>` of
    the last epoch it received. `after_epoch` and `attempt` do the same for clients
    that cannot set headers. Epochs of an attempt other than the one seen are all
    sent again, from epoch 1.
    """
    seen_attempt, seen_epoch = attempt, after_epoch
    if last_event_id is not None:
        header_attempt, header_epoch = _parse_last_event_id(last_event_id)
        if header_epoch >= seen_epoch:
            seen_attempt = header_attempt or seen_attempt
            seen_epoch = header_epoch
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
        after_epoch=seen_epoch,
        seen_attempt=seen_attempt,
        poll_seconds=settings.events_poll_seconds,
        keepalive_seconds=settings.events_keepalive_seconds,
    )
    return StreamingResponse(
        stream.events(), media_type="text/event-stream", headers=STREAM_HEADERS
    )


def _parse_last_event_id(value: str) -> tuple[int | None, int]:
    try:
        return job_events.parse_event_id(value)
    except ValueError as error:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("header", "Last-Event-ID"),
                    "msg": str(error),
                    "input": value,
                }
            ]
        ) from None
