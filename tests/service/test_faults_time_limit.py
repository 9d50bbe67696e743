"""A job over its time limit ends failed with "timed out", keeping its history."""

import httpx
import pytest

from tests.service.fault_stack import fault_stack, history_epochs
from tests.service.stack import wait_for_job


@pytest.mark.slow
def test_job_over_time_limit_fails_between_epochs(tmp_path):
    # One reaper pass at start only, so that the worker's own check ends the job.
    stack = fault_stack(tmp_path, reaper_interval_seconds="600")
    body = {
        "dataset": "digits",
        "model": "mlp",
        "batch_size": 8,
        "epochs": 500,
        "time_limit_seconds": 3,
    }
    try:
        stack.start_api()
        stack.start_worker()
        with httpx.Client(base_url=stack.base_url, timeout=30) as client:
            job_id = client.post("/jobs", json=body).json()["id"]
            job = wait_for_job(client, job_id, timeout=120)
            epochs = history_epochs(client, job_id)
    finally:
        stack.stop()
    assert job["status"] == "failed"
    assert job["failure_reason"] == ("timed out: ran longer than its time limit of 3 s")
    assert job["time_limit_seconds"] == 3
    assert 1 <= len(epochs) < 500


def test_time_limit_defaults_to_setting(client):
    job = client.post("/jobs", json={"dataset": "iris"}).json()
    assert job["time_limit_seconds"] == 3600


@pytest.mark.parametrize("limit", [0, 3601])
def test_time_limit_over_setting_is_422(client, limit):
    response = client.post("/jobs", json={"time_limit_seconds": limit})
    error = response.json()["detail"][0]
    assert response.status_code == 422
    assert error["loc"] == ["body", "time_limit_seconds"]
    assert "job_time_limit_seconds=3600" in error["msg"]
