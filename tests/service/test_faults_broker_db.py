"""The broker or the database is down when a job is submitted."""

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from api.app import create_app
from tests.service.fault_stack import fault_stack
from tests.service.stack import ServiceStack, embedded_env, free_port, wait_for_job

DATABASE_DOWN = "The database is unreachable"


@pytest.mark.slow
def test_broker_down_job_runs_later(tmp_path):
    # The embedded broker is a SQLite file; while its folder is missing, every
    # broker connection fails just as a stopped Redis server's would.
    broker_dir = tmp_path / "broker"
    stack = fault_stack(
        tmp_path, broker_url=f"sqla+sqlite:///{broker_dir / 'broker.db'}"
    )
    try:
        stack.start_api()
        with httpx.Client(base_url=stack.base_url, timeout=30) as client:
            response = client.post("/jobs", json={"dataset": "iris", "epochs": 2})
            broker_dir.mkdir()
            stack.start_worker()
            job = wait_for_job(client, response.json()["id"], timeout=120)
    finally:
        stack.stop()
    assert response.status_code == 201
    assert response.json()["status"] == "queued"
    assert response.json()["enqueued_at"] is None
    assert job["status"] == "succeeded"
    assert job["enqueued_at"] is not None
    assert "could not enqueue job" in stack.log("api")


@pytest.mark.slow
def test_database_down_is_503_with_reason(tmp_path):
    env = embedded_env(tmp_path / "var")
    # Nothing listens on this loopback port: every connection is refused.
    env["VELOTRAIN_DATABASE_URL"] = (
        f"postgresql+psycopg://velotrain@127.0.0.1:{free_port()}/velotrain"
    )
    stack = ServiceStack(env=env, log_dir=tmp_path)
    try:
        stack._spawn("api", "api")
        with httpx.Client(base_url=stack.base_url, timeout=30) as client:
            health = wait_for_answer(client, "/health")
            submit = client.post("/jobs", json={"dataset": "iris"})
            listing = client.get("/jobs")
    finally:
        stack.stop()
    assert health.json()["database"]["reachable"] is False
    assert submit.status_code == 503
    assert DATABASE_DOWN in submit.json()["detail"]
    assert listing.status_code == 503


def wait_for_answer(client: httpx.Client, path: str) -> httpx.Response:
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            return client.get(path)
        except httpx.TransportError:
            time.sleep(0.3)
    raise TimeoutError(f"no answer on {path}")


def test_database_failing_at_commit_stores_no_job(settings, monkeypatch):
    app = create_app(settings.model_copy(update={"reaper_in_api": False}))
    real_commit = Session.commit

    def failing_commit(session):
        raise OperationalError("COMMIT", {}, ConnectionError("connection lost"))

    with TestClient(app) as client:
        monkeypatch.setattr(Session, "commit", failing_commit)
        response = client.post("/jobs", json={"dataset": "iris"})
        monkeypatch.setattr(Session, "commit", real_commit)
        listing = client.get("/jobs").json()
    assert response.status_code == 503
    assert DATABASE_DOWN in response.json()["detail"]
    assert listing["total"] == 0
