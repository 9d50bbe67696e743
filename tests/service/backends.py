"""Backends the service tests run on: the embedded default and Redis + PostgreSQL.

The PostgreSQL variant reads the server addresses from VELOTRAIN_TEST_POSTGRES_URL
(a role allowed to create databases) and VELOTRAIN_TEST_REDIS_URL. Each test gets a
database of its own, created and dropped around it, and a Redis database number of
its own, so concurrent runs on one server do not see each other's jobs or messages.
"""

import os
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from velotrain.settings import Settings

POSTGRES_URL_ENV = "VELOTRAIN_TEST_POSTGRES_URL"
REDIS_URL_ENV = "VELOTRAIN_TEST_REDIS_URL"
REQUIRE_SERVERS_ENVS = ("CI", "VELOTRAIN_REQUIRE_SERVERS")
BACKEND_NAMES = ("embedded", "postgres")

# Redis has databases 0..15 by default (`databases 16`). Database 0 contains the
# claims on the others.
REDIS_DATABASES = range(1, 16)
REDIS_CLAIM_SECONDS = 3600
REDIS_CLAIM_KEY = "velotrain-test:db:{number}"


@dataclass(frozen=True)
class Backend:
    """Where a test's service keeps its jobs (database) and its messages (broker).

    `database_url` and `broker_url` are None for the embedded default, which keeps
    both in SQLite files under the data folder.
    """

    name: str
    database_url: str | None = None
    broker_url: str | None = None

    def settings(self, data_dir: Path, **overrides) -> Settings:
        """Return settings for this backend with `data_dir` for files."""
        return Settings(
            data_dir=data_dir,
            database_url=self.database_url,
            broker_url=self.broker_url,
            **overrides,
        )

    def env(self, base: Mapping[str, str]) -> dict[str, str]:
        """Return `base` plus the VELOTRAIN_* variables that select this backend."""
        env = dict(base)
        if self.database_url:
            env["VELOTRAIN_DATABASE_URL"] = self.database_url
        if self.broker_url:
            env["VELOTRAIN_BROKER_URL"] = self.broker_url
        return env


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")


def servers_required(environ: Mapping[str, str]) -> bool:
    """Tell whether missing servers must fail the tests (CI) instead of skip them."""
    return any(_truthy(environ.get(name)) for name in REQUIRE_SERVERS_ENVS)


def server_urls(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """Return (postgres_url, redis_url) from the environment, or None if unset."""
    postgres_url = environ.get(POSTGRES_URL_ENV, "").strip()
    redis_url = environ.get(REDIS_URL_ENV, "").strip()
    if not postgres_url or not redis_url:
        return None
    return postgres_url, redis_url


def require_server_urls(environ: Mapping[str, str]) -> tuple[str, str]:
    """Return the server URLs; skip the test without them, or fail it in CI."""
    urls = server_urls(environ)
    if urls is not None:
        return urls
    reason = (
        f"PostgreSQL + Redis backend needs {POSTGRES_URL_ENV} and {REDIS_URL_ENV} "
        "(`bash .ci/run services` starts local servers and prints them)"
    )
    if servers_required(environ):
        pytest.fail(
            f"{reason}; servers are required when CI or "
            "VELOTRAIN_REQUIRE_SERVERS is set",
            pytrace=False,
        )
    pytest.skip(reason)


@contextmanager
def fresh_postgres_database(admin_url: str) -> Iterator[str]:
    """Create an empty database, yield its URL, then drop it."""
    name = f"velotrain_test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield (
            make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        )
    finally:
        try:
            _drop_database(admin, name)
        finally:
            admin.dispose()


def _drop_database(admin: Engine, name: str, attempts: int = 40) -> None:
    """Drop a test database, waiting out server processes that still use it."""
    # FORCE ends connections that worker processes may still hold. It cannot end
    # an autovacuum worker without pg_signal_backend; those finish within seconds.
    statement = text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    for attempt in range(attempts):
        try:
            with admin.connect() as connection:
                connection.execute(statement)
            return
        except DBAPIError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5)


@contextmanager
def fresh_redis_database(url: str) -> Iterator[str]:
    """Claim a free Redis database number, empty it, yield its URL, release it."""
    # The number in a URL wins over a `db=` argument, so every client gets its own URL.
    control = redis.Redis.from_url(with_redis_database(url, 0))
    owner = uuid.uuid4().hex
    try:
        number = _claim_redis_database(control, owner)
        database_url = with_redis_database(url, number)
        database = redis.Redis.from_url(database_url)
        database.flushdb()
        try:
            yield database_url
        finally:
            database.flushdb()
            database.close()
            control.delete(REDIS_CLAIM_KEY.format(number=number))
    finally:
        control.close()


def _claim_redis_database(control: redis.Redis, owner: str) -> int:
    for number in REDIS_DATABASES:
        key = REDIS_CLAIM_KEY.format(number=number)
        if control.set(key, owner, nx=True, ex=REDIS_CLAIM_SECONDS):
            return number
    raise RuntimeError(
        f"all Redis databases {REDIS_DATABASES.start}..{REDIS_DATABASES.stop - 1} "
        "are claimed by other test runs; wait, or delete the "
        f"{REDIS_CLAIM_KEY.format(number='*')} keys in database 0"
    )


def with_redis_database(url: str, number: int) -> str:
    """Return the Redis `url` with its database number replaced by `number`."""
    return urlsplit(url)._replace(path=f"/{number}").geturl()


@contextmanager
def open_backend(name: str, environ: Mapping[str, str] | None = None):
    """Yield a `Backend` named `name`, with fresh server databases if it has any."""
    if name == "embedded":
        yield Backend(name)
        return
    if name != "postgres":
        raise ValueError(
            f"backend must be one of {BACKEND_NAMES}. Received: name={name!r}"
        )
    postgres_url, redis_url = require_server_urls(
        os.environ if environ is None else environ
    )
    with (
        fresh_postgres_database(postgres_url) as database_url,
        fresh_redis_database(redis_url) as broker_url,
    ):
        yield Backend(name, database_url=database_url, broker_url=broker_url)


def backend_params() -> list:
    """Return the pytest params of the `backend` fixture, with their marks."""
    return [
        pytest.param("embedded", id="embedded"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
