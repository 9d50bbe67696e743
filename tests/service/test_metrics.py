from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from api.app import create_app
from db import jobs as job_store
from db.engine import make_engine, make_session_factory
from db.models import Job, utc_now

ADAM = {"dataset": "iris", "model": "linear", "use_velo": False, "epochs": 3}
VELO = dict(ADAM, use_velo=True)


@pytest.fixture
def sessions(settings):
    engine = make_engine(settings.resolved_database_url)
    yield make_session_factory(engine)
    engine.dispose()


def new_job(sessions, config=ADAM) -> int:
    with sessions() as session:
        return job_store.create_job(session, config, None).id


def running_job(sessions, config=ADAM) -> int:
    job_id = new_job(sessions, config)
    assert job_store.claim_job(sessions, job_id, "worker")
    return job_id


def scrape(client) -> dict:
    """Return {(sample name, labels as sorted tuple): value} of one scrape."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_jobs_counted_by_status(client, sessions):
    for _ in range(2):
        new_job(sessions)
    running_job(sessions)

    samples = scrape(client)

    assert samples[("velotrain_jobs", (("status", "queued"),))] == 2
    assert samples[("velotrain_jobs", (("status", "running"),))] == 1
    assert samples[("velotrain_jobs", (("status", "failed"),))] == 0


def test_epoch_durations_histogram_by_optimizer(client, sessions):
    adam, velo = running_job(sessions), running_job(sessions, VELO)
    for epoch, seconds in enumerate((0.2, 0.7, 3.0), start=1):
        job_store.record_epoch(sessions, adam, {"epoch": epoch, "seconds": seconds})
    job_store.record_epoch(sessions, velo, {"epoch": 1, "seconds": 0.02})

    samples = scrape(client)

    def bucket(optimizer, le):
        name = "velotrain_epoch_duration_seconds_bucket"
        return samples[(name, (("le", le), ("optimizer", optimizer)))]

    assert bucket("adam", "0.1") == 0
    assert bucket("adam", "0.25") == 1
    assert bucket("adam", "1.0") == 2
    assert bucket("adam", "+Inf") == 3
    assert bucket("velo", "0.05") == 1
    adam_labels = (("optimizer", "adam"),)
    assert samples[("velotrain_epoch_duration_seconds_count", adam_labels)] == 3
    assert samples[
        ("velotrain_epoch_duration_seconds_sum", adam_labels)
    ] == pytest.approx(3.9)


def test_job_durations_count_succeeded_jobs(client, sessions):
    started = utc_now() - timedelta(hours=1)
    durations = {"succeeded": 90.0, "failed": 5.0}
    for status, seconds in durations.items():
        job_id = running_job(sessions)
        job_store.finish_job(sessions, job_id, status)
        with sessions() as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(
                    started_at=started,
                    finished_at=started + timedelta(seconds=seconds),
                )
            )
            session.commit()

    samples = scrape(client)

    labels = (("optimizer", "adam"),)
    name = "velotrain_job_duration_seconds"
    assert samples[(f"{name}_count", labels)] == 1
    assert samples[(f"{name}_sum", labels)] == pytest.approx(90.0, abs=1e-3)
    assert samples[(f"{name}_bucket", (("le", "60.0"), *labels))] == 0
    assert samples[(f"{name}_bucket", (("le", "120.0"), *labels))] == 1


def test_queue_depth_counts_submitted_jobs(client):
    for _ in range(2):
        response = client.post("/jobs", json={"dataset": "iris", "epochs": 2})
        assert response.status_code == 201

    samples = scrape(client)

    assert samples[("velotrain_broker_up", ())] == 1
    assert samples[("velotrain_queue_depth", (("queue", "cpu"),))] == 2
    assert samples[("velotrain_queue_depth", (("queue", "gpu"),))] == 0


def test_queue_depth_follows_job_queue(settings):
    gpu_settings = settings.model_copy(update={"job_queue": "gpu"})
    with TestClient(create_app(gpu_settings)) as client:
        client.post("/jobs", json={"dataset": "iris", "epochs": 2})
        samples = scrape(client)

    assert samples[("velotrain_queue_depth", (("queue", "gpu"),))] == 1
    assert samples[("velotrain_queue_depth", (("queue", "cpu"),))] == 0


def test_queue_depth_follows_job_device(client):
    client.post("/jobs", json={"dataset": "iris", "epochs": 2, "device": "gpu"})
    client.post("/jobs", json={"dataset": "iris", "epochs": 2, "device": "gpu"})
    client.post("/jobs", json={"dataset": "iris", "epochs": 2})

    samples = scrape(client)

    assert samples[("velotrain_queue_depth", (("queue", "gpu"),))] == 2
    assert samples[("velotrain_queue_depth", (("queue", "cpu"),))] == 1


def test_unreachable_broker_omits_queue_depth(settings):
    # Port 9 (discard) on loopback, where no test server listens.
    down = settings.model_copy(update={"broker_url": "redis://127.0.0.1:9/0"})
    with TestClient(create_app(down)) as client:
        samples = scrape(client)

    assert samples[("velotrain_broker_up", ())] == 0
    assert not any(name == "velotrain_queue_depth" for name, _ in samples)
    assert ("velotrain_jobs", (("status", "queued"),)) in samples


def test_metrics_need_no_api_key(settings):
    with TestClient(create_app(settings.model_copy(update={"auth": "on"}))) as client:
        response = client.get("/metrics")

    assert response.status_code == 200
    assert "velotrain_jobs" in response.text
