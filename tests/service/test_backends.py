import os

import pytest
import redis
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from db.engine import make_engine
from tests.service.backends import (
    open_backend,
    require_server_urls,
    servers_required,
    with_redis_database,
)

SERVERS = {
    "VELOTRAIN_TEST_POSTGRES_URL": "postgresql+psycopg://u:p@127.0.0.1/db",
    "VELOTRAIN_TEST_REDIS_URL": "redis://127.0.0.1:6379/0",
}


@pytest.mark.parametrize(
    "environ", [{"CI": "true"}, {"VELOTRAIN_REQUIRE_SERVERS": "1"}]
)
def test_servers_required_in_ci(environ):
    assert servers_required(environ)


@pytest.mark.parametrize("environ", [{}, {"CI": "0"}, {"CI": "false"}])
def test_servers_optional_elsewhere(environ):
    assert not servers_required(environ)


def test_missing_servers_skip_on_dev_machine():
    with pytest.raises(pytest.skip.Exception, match="VELOTRAIN_TEST_POSTGRES_URL"):
        require_server_urls({})


def test_missing_servers_fail_in_ci():
    with pytest.raises(pytest.fail.Exception, match="required"):
        require_server_urls({"CI": "true", "VELOTRAIN_TEST_REDIS_URL": "redis://x"})


def test_server_urls_read_from_environment():
    assert require_server_urls(SERVERS) == tuple(SERVERS.values())


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/7"),
        ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379/7"),
        ("redis://:secret@127.0.0.1/3", "redis://:secret@127.0.0.1/7"),
    ],
)
def test_with_redis_database_replaces_number(url, expected):
    assert with_redis_database(url, 7) == expected


def test_unknown_backend_is_rejected():
    with pytest.raises(ValueError, match="embedded"), open_backend("mysql"):
        pass


def test_backend_database_starts_empty(backend, tmp_path):
    url = backend.settings(tmp_path).resolved_database_url
    engine = make_engine(url)
    tables = inspect(engine).get_table_names()
    engine.dispose()
    assert tables == []


@pytest.mark.postgres
def test_postgres_backend_uses_both_servers():
    with open_backend("postgres") as backend:
        assert make_url(backend.database_url).get_backend_name() == "postgresql"
        client = redis.Redis.from_url(backend.broker_url)
        assert client.ping()
        client.close()


@pytest.mark.postgres
def test_postgres_backends_are_isolated():
    with open_backend("postgres") as first, open_backend("postgres") as second:
        assert first.database_url != second.database_url
        assert first.broker_url != second.broker_url


@pytest.mark.postgres
def test_postgres_database_is_dropped_after_use():
    admin_url, _ = require_server_urls(os.environ)
    with open_backend("postgres") as backend:
        name = make_url(backend.database_url).database
    engine = make_engine(admin_url)
    with engine.connect() as connection:
        names = connection.exec_driver_sql("SELECT datname FROM pg_database")
        existing = {row[0] for row in names}
    engine.dispose()
    assert name not in existing
