"""The broker loses a sent task, and the reaper sends it again so that it runs once."""

import sqlite3
from pathlib import Path

import httpx
import pytest
import redis

from tests.service.backends import Backend
from tests.service.fault_stack import FAST_REAPER, job_reader, wait_until
from tests.service.stack import ServiceStack, backend_env, wait_for_job
from tests.service.test_scaling import log_events

EPOCHS = 3


def drop_queue(backend: Backend, data_dir: Path, queue: str) -> int:
    """Delete and count the messages waiting in `queue`, as a broker losing them."""
    if backend.broker_url:
        broker = redis.Redis.from_url(backend.broker_url)
        try:
            # kombu keeps a Redis queue's messages in a list named after the queue.
            count = broker.llen(queue)
            broker.delete(queue)
        finally:
            broker.close()
        return count
    with sqlite3.connect(data_dir / "broker.db") as broker:
        deleted = broker.execute(
            "DELETE FROM kombu_message WHERE queue_id IN "
            "(SELECT id FROM kombu_queue WHERE name = ?)",
            (queue,),
        )
        return deleted.rowcount


@pytest.mark.slow
def test_lost_task_is_sent_again_and_runs_once(backend, tmp_path):
    env = backend_env(backend, tmp_path / "var")
    env.update(FAST_REAPER, VELOTRAIN_REDELIVERY_SECONDS="2")
    stack = ServiceStack(env=env, log_dir=tmp_path)
    body = {"dataset": "iris", "model": "linear", "epochs": EPOCHS}
    try:
        stack.start_api()
        with httpx.Client(base_url=stack.base_url, timeout=30) as client:
            sent = client.post("/jobs", json=body).json()
            dropped = drop_queue(backend, tmp_path / "var", "cpu")
            resent = wait_until(
                job_reader(client, sent["id"]),
                lambda job: job["enqueued_at"] != sent["enqueued_at"],
                30,
                f"resend of job {sent['id']}",
            )
            stack.start_worker()
            job = wait_for_job(client, sent["id"], timeout=120)
            epochs = client.get(f"/jobs/{sent['id']}/history").json()["epochs"]
    finally:
        stack.stop()
    starts = log_events(stack.log("worker"), "job started")
    assert dropped == 1
    assert resent["status"] == "queued"
    assert "sending it again" in stack.log("api")
    assert job["status"] == "succeeded"
    assert job["attempt"] == 1
    assert [event["job_id"] for event in starts] == [sent["id"]]
    assert [row["epoch"] for row in epochs] == list(range(1, EPOCHS + 1))
