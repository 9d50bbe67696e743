"""Cancel a queued and a running job on a real worker; a finished job is 409."""

import httpx
import pytest

from tests.service.fault_stack import fault_stack, history_epochs, wait_for_epochs
from tests.service.stack import wait_for_job

pytestmark = pytest.mark.slow

# About 0.3 s an epoch on one CPU core, so one epoch is long enough to measure.
SLOW_JOB = {
    "dataset": "digits",
    "model": "mlp",
    "hidden_sizes": [512, 512],
    "batch_size": 8,
    "epochs": 200,
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Run one job, queue a second behind it, cancel both; return what was seen."""
    tmp_path = tmp_path_factory.mktemp("cancel")
    stack = fault_stack(tmp_path)
    try:
        stack.start_api()
        stack.start_worker()
        with httpx.Client(base_url=stack.base_url, timeout=30) as client:
            running_id = client.post("/jobs", json=SLOW_JOB).json()["id"]
            wait_for_epochs(client, running_id, 2)
            queued_id = client.post("/jobs", json=SLOW_JOB).json()["id"]
            queued_cancel = client.post(f"/jobs/{queued_id}/cancel")
            running_cancel = client.post(f"/jobs/{running_id}/cancel")
            yield {
                "queued_cancel": queued_cancel,
                "running_cancel": running_cancel,
                "running": wait_for_job(client, running_id, timeout=60),
                "running_epochs": history_epochs(client, running_id),
                "queued": wait_for_job(client, queued_id, timeout=10),
                "queued_epochs": history_epochs(client, queued_id),
                "again": client.post(f"/jobs/{running_id}/cancel"),
            }
    finally:
        stack.stop()


def test_cancel_queued_ends_it_at_once(results):
    assert results["queued_cancel"].status_code == 200
    assert results["queued_cancel"].json()["status"] == "cancelled"


def test_cancelled_queued_job_never_starts(results):
    assert results["queued"]["status"] == "cancelled"
    assert results["queued"]["attempt"] == 0
    assert results["queued_epochs"] == []


def test_cancel_running_stops_within_one_epoch(results):
    at_cancel = results["running_cancel"].json()["progress"]["epochs_done"]
    assert results["running"]["status"] == "cancelled"
    assert len(results["running_epochs"]) <= at_cancel + 1


def test_cancelled_running_job_keeps_its_history(results):
    epochs = results["running_epochs"]
    assert epochs == list(range(1, len(epochs) + 1))
    assert len(epochs) >= 2


def test_cancel_finished_job_is_409(results):
    assert results["again"].status_code == 409
    assert "already ended" in results["again"].json()["detail"]
