"""declare_queues: workers that start together on a new SQLite broker."""

import pytest
from kombu.transport import sqlalchemy as kombu_sqlalchemy
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError, OperationalError

from velotrain.settings import Settings
from worker.celery_app import declare_queues, make_celery


@pytest.fixture
def celery(tmp_path):
    return make_celery(Settings(data_dir=tmp_path / "var"))


def queue_names(celery) -> list[str]:
    url = celery.conf.broker_url.removeprefix("sqla+")
    with create_engine(url).connect() as connection:
        return list(connection.execute(text("SELECT name FROM kombu_queue")).scalars())


def fail_first_insert(monkeypatch) -> list[str]:
    """Make the first queue creation fail as if another worker won the insert."""
    original = kombu_sqlalchemy.Channel._get_or_create
    calls = []

    def racing(channel, queue):
        calls.append(queue)
        if len(calls) == 1:
            original(channel, queue)
            raise IntegrityError("INSERT INTO kombu_queue", {}, Exception("UNIQUE"))
        return original(channel, queue)

    monkeypatch.setattr(kombu_sqlalchemy.Channel, "_get_or_create", racing)
    return calls


def test_declare_queues_creates_rows(celery):
    declare_queues(celery, ["cpu", "gpu"])
    assert sorted(queue_names(celery)) == ["cpu", "gpu"]


def test_declare_queues_retries_lost_race(celery, monkeypatch):
    calls = fail_first_insert(monkeypatch)
    declare_queues(celery, ["cpu"])
    # The first attempt failed, so queue creation ran again.
    assert len(calls) > 1
    assert queue_names(celery) == ["cpu"]


def test_declare_queues_gives_up_after_attempts(celery, monkeypatch):
    def always_fails(channel, queue):
        raise IntegrityError("INSERT INTO kombu_queue", {}, Exception("UNIQUE"))

    monkeypatch.setattr(kombu_sqlalchemy.Channel, "_get_or_create", always_fails)
    with pytest.raises(IntegrityError):
        declare_queues(celery, ["cpu"], attempts=2)


def test_declare_queues_retries_table_race(celery, monkeypatch):
    original = kombu_sqlalchemy.Channel._get_or_create
    calls = []

    def table_race(channel, queue):
        calls.append(queue)
        if len(calls) == 1:
            raise OperationalError("CREATE TABLE kombu_queue", {}, Exception("exists"))
        return original(channel, queue)

    monkeypatch.setattr(kombu_sqlalchemy.Channel, "_get_or_create", table_race)
    declare_queues(celery, ["cpu"])
    assert queue_names(celery) == ["cpu"]
