"""Tell which project a request acts for, from its API key.

With `VELOTRAIN_AUTH=on` every /jobs request needs a key (`Authorization: Bearer
<key>` or `X-API-Key: <key>`) and can read only its project's jobs. With `off` (the
embedded default) there are no keys: jobs go to project "default" and every client
sees every job.
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.deps import get_session
from db.api_keys import hash_token, project_for_token
from db.models import DEFAULT_PROJECT

bearer_scheme = HTTPBearer(auto_error=False, description="A project API key")
api_key_scheme = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="A project API key"
)


class NotAuthenticated(Exception):
    """The request carries no valid API key while authentication is on."""


@dataclass(frozen=True)
class Caller:
    """The sender of a request.

    Attributes:
        project: the project new jobs are stored under.
        scope: the only project whose jobs the caller may see; None for all.
        client_id: what the submit rate limit counts requests by.
    """

    project: str
    scope: str | None
    client_id: str


def get_caller(
    request: Request,
    session: Annotated[Session, Depends(get_session)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    api_key: Annotated[str | None, Security(api_key_scheme)],
) -> Caller:
    """Resolve the caller of `request`; raise NotAuthenticated for a bad key."""
    if request.app.state.settings.auth == "off":
        host = request.client.host if request.client else "unknown"
        return Caller(project=DEFAULT_PROJECT, scope=None, client_id=f"host:{host}")
    token = bearer.credentials if bearer is not None else api_key
    if not token:
        raise NotAuthenticated(
            "This server requires an API key (VELOTRAIN_AUTH=on): send "
            "'Authorization: Bearer <key>' or 'X-API-Key: <key>'. "
            "Create one with `velotrain keys create --project NAME`."
        )
    project = project_for_token(session, token)
    if project is None:
        raise NotAuthenticated("The API key is unknown or revoked.")
    return Caller(project=project, scope=project, client_id=f"key:{hash_token(token)}")


CallerDep = Annotated[Caller, Depends(get_caller)]
