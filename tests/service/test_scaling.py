"""Several workers consume one queue; each job runs once, on one of them."""

import argparse
import json
import os
from collections import Counter

import httpx
import pytest
from sqlalchemy import func, select

from db.engine import make_engine, make_session_factory
from db.models import EpochRecord, Job
from tests.service.stack import ServiceStack, backend_env, wait_for_job
from velotrain.commands import service

JOB_COUNT = 6
EPOCHS = 15
WORKERS = ("worker-a", "worker-b")


@pytest.fixture
def stack(backend, tmp_path):
    stack = ServiceStack(env=backend_env(backend, tmp_path / "var"), log_dir=tmp_path)
    try:
        stack.start_api()
        for name in WORKERS:
            stack.start_worker(name)
        for name in WORKERS:
            stack.wait_for_worker(name)
        yield stack
    finally:
        stack.stop()


def job_rows(backend, data_dir):
    engine = make_engine(backend.settings(data_dir).resolved_database_url)
    sessions = make_session_factory(engine)
    with sessions() as session:
        jobs = session.scalars(select(Job).order_by(Job.id)).all()
        epoch_counts = dict(
            session.execute(
                select(EpochRecord.job_id, func.count()).group_by(EpochRecord.job_id)
            ).all()
        )
    engine.dispose()
    return jobs, epoch_counts


def log_events(log: str, message: str) -> list[dict]:
    """Return the JSON log events whose message is `message`."""
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return [event for event in events if event.get("message") == message]


@pytest.mark.slow
def test_two_workers_share_queue(stack, backend, tmp_path):
    body = {"dataset": "iris", "model": "linear", "epochs": EPOCHS}
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        job_ids = [
            client.post("/jobs", json=body).json()["id"] for _ in range(JOB_COUNT)
        ]
        finished = [wait_for_job(client, job_id, timeout=240) for job_id in job_ids]
    jobs, epoch_counts = job_rows(backend, tmp_path / "var")
    logs = stack.log("worker-a") + stack.log("worker-b")

    assert [job["status"] for job in finished] == ["succeeded"] * JOB_COUNT, logs
    assert len({job.worker for job in jobs}) == len(WORKERS)
    assert [job.attempt for job in jobs] == [1] * JOB_COUNT
    assert [epoch_counts.get(job.id) for job in jobs] == [EPOCHS] * JOB_COUNT
    starts = Counter(event["job_id"] for event in log_events(logs, "job started"))
    assert starts == Counter(job_ids)
    assert overlapping_runs(jobs) == []


@pytest.mark.slow
def test_gpu_job_waits_for_gpu_worker(backend, tmp_path):
    stack = ServiceStack(env=backend_env(backend, tmp_path / "var"), log_dir=tmp_path)
    body = {"dataset": "iris", "model": "linear", "epochs": 3}
    try:
        stack.start_api()
        stack.start_worker("worker-cpu")
        stack.wait_for_worker("worker-cpu")
        with httpx.Client(base_url=stack.base_url, timeout=30) as client:
            gpu_id = client.post("/jobs", json={**body, "device": "gpu"}).json()["id"]
            cpu_id = client.post("/jobs", json=body).json()["id"]
            cpu_job = wait_for_job(client, cpu_id, timeout=120)
            waiting = client.get(f"/jobs/{gpu_id}").json()
            gpu_worker = stack.start_worker("worker-gpu", queue="gpu")
            gpu_job = wait_for_job(client, gpu_id, timeout=120)
    finally:
        stack.stop()
    cpu_worker = stack.processes["worker-cpu"]
    assert cpu_job["status"] == "succeeded"
    assert cpu_job["worker"].endswith(f":{cpu_worker.pid}")
    assert waiting["status"] == "queued"
    assert waiting["attempt"] == 0
    assert gpu_job["status"] == "succeeded"
    assert gpu_job["worker"].endswith(f":{gpu_worker.pid}")


def overlapping_runs(jobs) -> list[tuple[int, int]]:
    """Return pairs of job ids that one worker ran at the same time."""
    overlaps = []
    by_worker = sorted(jobs, key=lambda job: (job.worker, job.started_at))
    for before, after in zip(by_worker, by_worker[1:], strict=False):
        if before.worker == after.worker and after.started_at < before.finished_at:
            overlaps.append((before.id, after.id))
    return overlaps


def test_worker_runs_one_job_at_a_time(monkeypatch):
    calls = []
    monkeypatch.setattr(service, "configure_logging", lambda level: None)
    monkeypatch.delenv("XLA_PYTHON_CLIENT_PREALLOCATE", raising=False)
    from worker.celery_app import app

    monkeypatch.setattr(app, "worker_main", calls.append)
    service.run_worker(argparse.Namespace(queue="gpu", name="gpu0@%h"))

    (argv,) = calls
    assert "--pool=solo" in argv
    assert "--concurrency=1" in argv
    assert "--queues=gpu" in argv
    assert "--hostname=gpu0@%h" in argv
    assert os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"


def test_worker_keeps_explicit_preallocation(monkeypatch):
    monkeypatch.setattr(service, "configure_logging", lambda level: None)
    monkeypatch.setenv("XLA_PYTHON_CLIENT_PREALLOCATE", "true")
    from worker.celery_app import app

    monkeypatch.setattr(app, "worker_main", lambda argv: None)
    service.run_worker(argparse.Namespace(queue=None, name=None))

    assert os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] == "true"
