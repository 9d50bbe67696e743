"""The whole path on real processes: REST API, broker, Celery worker, SQL, training."""

import json

import httpx
import pytest

from tests.service.stack import ServiceStack, backend_env, wait_for_job
from velotrain.sse import read_events

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(backend, tmp_path):
    stack = ServiceStack(env=backend_env(backend, tmp_path / "var"), log_dir=tmp_path)
    try:
        stack.start_api()
        stack.start_worker()
        yield stack
    finally:
        stack.stop()


def test_adam_job_trains_digits_to_completion(stack):
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        response = client.post("/jobs", json={"dataset": "digits", "model": "mlp"})
        assert response.status_code == 201
        job_id = response.json()["id"]
        events = follow_events(client, job_id)
        job = client.get(f"/jobs/{job_id}").json()
        history = client.get(f"/jobs/{job_id}/history").json()["epochs"]
    assert job["status"] == "succeeded", stack.log("worker")
    assert events[-1] == ("end", job)
    assert [data for name, data in events if name == "epoch"] == history
    assert job["final_metrics"]["val_accuracy"] > 0.9
    assert [row["epoch"] for row in history] == list(range(1, 31))
    assert job["progress"]["epochs_done"] == 30
    assert job["num_steps"] == 30
    assert job["duration_seconds"] > 0


def test_cancel_stops_running_job(stack):
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        body = {"dataset": "digits", "model": "mlp", "epochs": 1000, "batch_size": 32}
        job_id = client.post("/jobs", json=body).json()["id"]
        wait_for_epochs(client, job_id, 1)
        assert client.post(f"/jobs/{job_id}/cancel").status_code == 200
        job = wait_for_job(client, job_id, timeout=120)
        history = client.get(f"/jobs/{job_id}/history").json()["epochs"]
    assert job["status"] == "cancelled"
    assert 1 <= len(history) < 1000


def wait_for_epochs(client, job_id, count, timeout=120):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get(f"/jobs/{job_id}").json()["progress"]["epochs_done"] >= count:
            return
        time.sleep(0.3)
    raise TimeoutError(f"job {job_id} did not finish {count} epochs")


def follow_events(client, job_id) -> list[tuple[str, dict]]:
    """Read GET /jobs/{id}/events to its end; return (name, data) of each event."""
    with client.stream("GET", f"/jobs/{job_id}/events") as response:
        assert response.status_code == 200
        events = read_events(response.iter_lines())
        return [(event.name, json.loads(event.data)) for event in events]
