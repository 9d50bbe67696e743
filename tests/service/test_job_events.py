"""GET /jobs/{id}/events: replay, live following, resuming, errors and auth."""

import json
import threading

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from db import jobs as job_store
from db.api_keys import create_api_key
from velotrain.sse import read_events

JOB = {"dataset": "iris", "model": "linear", "epochs": 3}


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"events_poll_seconds": 0.02})


def new_job(client, headers=None) -> int:
    return client.post("/jobs", json=JOB, headers=headers or {}).json()["id"]


def run_worker(sessions, job_id, epochs=3, status="succeeded") -> None:
    """Record `epochs` epochs and a terminal status as a worker does."""
    attempt = job_store.claim_job(sessions, job_id, "test-worker")
    for epoch in range(1, epochs + 1):
        row = {"epoch": epoch, "loss": 1.0 / epoch, "val_loss": 1.1, "seconds": 0.01}
        job_store.record_epoch(sessions, job_id, row, attempt)
    job_store.finish_job(
        sessions, job_id, status, final_metrics={"val_loss": 1.1}, attempt=attempt
    )


def read_stream(client, job_id, **kwargs) -> list:
    with client.stream("GET", f"/jobs/{job_id}/events", **kwargs) as response:
        assert response.status_code == 200
        return list(read_events(response.iter_lines()))


def epoch_numbers(events) -> list[int]:
    return [json.loads(e.data)["epoch"] for e in events if e.name == "epoch"]


def test_events_replay_finished_job(client):
    job_id = new_job(client)
    run_worker(client.app.state.sessions, job_id)
    events = read_stream(client, job_id)
    assert [e.name for e in events] == ["status", "epoch", "epoch", "epoch", "end"]
    assert json.loads(events[0].data) == client.get(f"/jobs/{job_id}").json()
    assert json.loads(events[-1].data)["status"] == "succeeded"


def test_events_epochs_match_history(client):
    job_id = new_job(client)
    run_worker(client.app.state.sessions, job_id)
    events = read_stream(client, job_id)
    rows = [json.loads(e.data) for e in events if e.name == "epoch"]
    assert rows == client.get(f"/jobs/{job_id}/history").json()["epochs"]


def test_events_response_headers(client):
    job_id = new_job(client)
    run_worker(client.app.state.sessions, job_id, epochs=1)
    with client.stream("GET", f"/jobs/{job_id}/events") as response:
        response.read()
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"


def test_events_follow_running_job(client):
    job_id = new_job(client)
    sessions = client.app.state.sessions
    writer = threading.Thread(target=run_worker, args=(sessions, job_id, 4))
    events = []
    with client.stream("GET", f"/jobs/{job_id}/events") as response:
        for event in read_events(response.iter_lines()):
            events.append(event)
            if len(events) == 1:
                writer.start()
    writer.join()
    assert json.loads(events[0].data)["status"] == "queued"
    assert epoch_numbers(events) == [1, 2, 3, 4]
    assert events[-1].name == "end"
    assert json.loads(events[-1].data)["progress"]["epochs_done"] == 4


def test_events_status_follows_cancel(client):
    job_id = new_job(client)
    sessions = client.app.state.sessions
    job_store.claim_job(sessions, job_id, "test-worker")
    events = []
    with client.stream("GET", f"/jobs/{job_id}/events") as response:
        for event in read_events(response.iter_lines()):
            events.append(event)
            if len(events) == 1:
                client.post(f"/jobs/{job_id}/cancel")
            if len(events) == 2:
                job_store.finish_job(sessions, job_id, "cancelled")
    statuses = [json.loads(e.data)["cancel_requested"] for e in events]
    assert [e.name for e in events] == ["status", "status", "end"]
    assert statuses == [False, True, True]
    assert json.loads(events[-1].data)["status"] == "cancelled"


def test_events_last_event_id_skips_seen_epochs(client):
    job_id = new_job(client)
    run_worker(client.app.state.sessions, job_id)
    events = read_stream(client, job_id, headers={"Last-Event-ID": "1:2"})
    assert epoch_numbers(events) == [3]


def test_events_epoch_ids_name_attempt(client):
    job_id = new_job(client)
    run_worker(client.app.state.sessions, job_id)
    events = read_stream(client, job_id)
    assert [e.id for e in events if e.name == "epoch"] == ["1:1", "1:2", "1:3"]


def test_events_plain_epoch_last_event_id(client):
    job_id = new_job(client)
    run_worker(client.app.state.sessions, job_id)
    events = read_stream(client, job_id, headers={"Last-Event-ID": "2"})
    assert epoch_numbers(events) == [3]


def test_events_other_attempt_replays_every_epoch(client):
    job_id = new_job(client)
    run_worker(client.app.state.sessions, job_id)
    events = read_stream(client, job_id, headers={"Last-Event-ID": "2:2"})
    assert epoch_numbers(events) == [1, 2, 3]


def test_events_attempt_query_replays_every_epoch(client):
    job_id = new_job(client)
    run_worker(client.app.state.sessions, job_id)
    params = {"after_epoch": 2, "attempt": 3}
    events = read_stream(client, job_id, params=params)
    assert epoch_numbers(events) == [1, 2, 3]


def test_events_after_epoch_skips_seen_epochs(client):
    job_id = new_job(client)
    run_worker(client.app.state.sessions, job_id)
    events = read_stream(client, job_id, params={"after_epoch": 1})
    assert epoch_numbers(events) == [2, 3]


@pytest.mark.parametrize("value", ["x", "1:2:3", "-1", "1:", "2147483648"])
def test_events_bad_last_event_id_is_422(client, value):
    job_id = new_job(client)
    response = client.get(f"/jobs/{job_id}/events", headers={"Last-Event-ID": value})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "Last-Event-ID"]


def test_events_unknown_job_is_404(client):
    response = client.get("/jobs/999/events")
    assert response.status_code == 404
    assert response.json() == {"detail": "Job 999 not found"}


@pytest.fixture
def auth_client(settings):
    with TestClient(create_app(settings.model_copy(update={"auth": "on"}))) as client:
        yield client


def test_events_need_api_key(auth_client):
    assert auth_client.get("/jobs/1/events").status_code == 401


def test_events_of_other_project_are_404(auth_client):
    with auth_client.app.state.sessions() as session:
        alpha = {"X-API-Key": create_api_key(session, "alpha")}
        beta = {"X-API-Key": create_api_key(session, "beta")}
    job_id = new_job(auth_client, alpha)
    assert auth_client.get(f"/jobs/{job_id}/events", headers=beta).status_code == 404
