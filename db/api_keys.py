"""Store project API keys as sha256 digests; the token itself is shown only once."""

import hashlib
import re
import secrets
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.models import ApiKey, utc_now

TOKEN_PREFIX = "vt_"
# Shown in listings so that people can tell keys apart without the secret part.
VISIBLE_CHARS = 10
PROJECT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def hash_token(token: str) -> str:
    """Return the sha256 hex digest under which key `token` is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def check_project_name(project: str) -> None:
    """Raise ValueError unless `project` is 1-100 letters, digits, '_', '.', '-'."""
    if not PROJECT_PATTERN.match(project):
        raise ValueError(
            "project must be 1 to 100 letters, digits, '_', '.' or '-', starting "
            f"with a letter or digit. Received: project={project!r}"
        )


def create_api_key(session: Session, project: str) -> str:
    """Store a new key of `project` and return its token (not stored anywhere)."""
    check_project_name(project)
    # 32 random bytes: 256 bits, beyond guessing; sha256 needs no salt for those.
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiKey(
            project=project,
            key_sha256=hash_token(token),
            prefix=token[:VISIBLE_CHARS],
        )
    )
    session.commit()
    return token


def project_for_token(session: Session, token: str) -> str | None:
    """Return the project of a valid, unrevoked key `token`, else None."""
    return session.scalar(
        select(ApiKey.project).where(
            ApiKey.key_sha256 == hash_token(token), ApiKey.revoked_at.is_(None)
        )
    )


def list_api_keys(session: Session) -> Sequence[ApiKey]:
    return session.scalars(select(ApiKey).order_by(ApiKey.id)).all()


def revoke_api_keys(session: Session, prefix: str) -> int:
    """Revoke the unrevoked keys whose visible prefix is `prefix`; return how many."""
    result = session.execute(
        update(ApiKey)
        .where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utc_now())
    )
    session.commit()
    return result.rowcount
