"""A worker killed with SIGKILL mid-job: the job runs again elsewhere, or fails."""

import signal

import httpx
import pytest

from tests.service.fault_stack import (
    fault_stack,
    history_epochs,
    wait_for_epochs,
    wait_until,
)
from tests.service.stack import wait_for_job

pytestmark = pytest.mark.slow

# About 0.3 s an epoch on one CPU core: long enough to be killed in the middle.
SLOW_JOB = {
    "dataset": "digits",
    "model": "mlp",
    "hidden_sizes": [512, 512],
    "batch_size": 8,
    "epochs": 30,
}


def kill_mid_job(stack, client, worker_name: str) -> int:
    job_id = client.post("/jobs", json=SLOW_JOB).json()["id"]
    wait_for_epochs(client, job_id, 2)
    worker = stack.processes[worker_name]
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    return job_id


def test_killed_job_reruns_as_attempt_two(tmp_path):
    stack = fault_stack(tmp_path)
    try:
        stack.start_api()
        stack.start_worker("worker-a")
        with httpx.Client(base_url=stack.base_url, timeout=30) as client:
            job_id = kill_mid_job(stack, client, "worker-a")
            worker_b = stack.start_worker("worker-b")
            job = wait_for_job(client, job_id, timeout=240)
            epochs = history_epochs(client, job_id)
    finally:
        stack.stop()
    assert job["status"] == "succeeded", stack.log("api")
    assert job["attempt"] == 2
    assert job["worker"].endswith(f":{worker_b.pid}")
    assert epochs == list(range(1, 31))
    assert "worker lost; job requeued" in stack.log("api")


def test_killed_job_fails_after_max_attempts(tmp_path):
    stack = fault_stack(tmp_path, max_attempts="1")
    try:
        stack.start_api()
        stack.start_worker("worker-a")
        with httpx.Client(base_url=stack.base_url, timeout=30) as client:
            job_id = kill_mid_job(stack, client, "worker-a")
            job = wait_until(
                lambda: client.get(f"/jobs/{job_id}").json(),
                lambda job: job["status"] != "running",
                timeout=60,
                description="reaping the lost job",
            )
            epochs = history_epochs(client, job_id)
    finally:
        stack.stop()
    assert job["status"] == "failed"
    assert job["failure_reason"].startswith("worker lost")
    assert "max_attempts=1" in job["failure_reason"]
    assert job["attempt"] == 1
    assert len(epochs) >= 2


def test_epoch_longer_than_heartbeat_timeout_is_not_reaped(tmp_path):
    # The first VeLO epoch compiles for about 3 s on a quiet 2-core machine; only
    # the heartbeat thread keeps the job alive through it.
    stack = fault_stack(
        tmp_path, heartbeat_seconds="0.2", heartbeat_timeout_seconds="1.0"
    )
    try:
        stack.start_api()
        stack.start_worker()
        with httpx.Client(base_url=stack.base_url, timeout=30) as client:
            body = {"dataset": "digits", "model": "mlp", "epochs": 2, "use_velo": True}
            job_id = client.post("/jobs", json=body).json()["id"]
            job = wait_for_job(client, job_id, timeout=120)
            first_epoch = client.get(f"/jobs/{job_id}/history").json()["epochs"][0]
    finally:
        stack.stop()
    assert first_epoch["seconds"] > 1.0
    assert job["status"] == "succeeded"
    assert job["attempt"] == 1
