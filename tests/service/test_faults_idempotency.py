"""Idempotency-Key on POST /jobs: a retry returns the same job, never a second."""

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from db.api_keys import create_api_key
from tests.service.fault_stack import fault_stack

JOB = {"dataset": "iris", "model": "linear", "epochs": 1}


def submit(client, key: str, body=JOB, **headers):
    return client.post("/jobs", json=body, headers={"Idempotency-Key": key, **headers})


def test_retry_with_same_key_returns_same_job(client):
    first = submit(client, "retry-1")
    second = submit(client, "retry-1")
    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert client.get("/jobs").json()["total"] == 1


def test_same_key_with_other_body_is_409(client):
    submit(client, "retry-2")
    response = submit(client, "retry-2", {**JOB, "epochs": 2})
    assert response.status_code == 409
    assert "Idempotency-Key 'retry-2'" in response.json()["detail"]
    assert "different request body" in response.json()["detail"]
    assert client.get("/jobs").json()["total"] == 1


def test_body_with_defaults_spelled_out_is_a_retry(client):
    first = submit(client, "retry-3", {"dataset": "iris"})
    second = submit(client, "retry-3", {"dataset": "iris", "seed": 0})
    assert second.json()["id"] == first.json()["id"]


def test_default_device_spelled_out_is_a_retry(client):
    first = submit(client, "retry-device", {"dataset": "iris"})
    second = submit(client, "retry-device", {"dataset": "iris", "device": "cpu"})
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]


def test_other_device_with_same_key_is_409(client):
    submit(client, "retry-gpu", {"dataset": "iris"})
    response = submit(client, "retry-gpu", {"dataset": "iris", "device": "gpu"})
    assert response.status_code == 409


def test_requests_without_key_are_not_deduplicated(client):
    client.post("/jobs", json=JOB)
    client.post("/jobs", json=JOB)
    assert client.get("/jobs").json()["total"] == 2


def test_overlong_key_is_422(client):
    response = submit(client, "k" * 201)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]


def test_same_key_in_two_projects_makes_two_jobs(settings):
    app = create_app(settings.model_copy(update={"auth": "on"}))
    with TestClient(app) as client:
        with app.state.sessions() as session:
            alpha = create_api_key(session, "alpha")
            beta = create_api_key(session, "beta")
        first = submit(client, "shared", **{"X-API-Key": alpha})
        second = submit(client, "shared", **{"X-API-Key": beta})
    assert second.status_code == 201
    assert second.json()["id"] != first.json()["id"]


@pytest.mark.slow
def test_concurrent_retries_store_one_job(tmp_path):
    stack = fault_stack(tmp_path)
    try:
        stack.start_api()
        with httpx.Client(base_url=stack.base_url, timeout=60) as client:
            with ThreadPoolExecutor(max_workers=8) as pool:
                responses = list(pool.map(lambda _: submit(client, "burst"), range(16)))
            total = client.get("/jobs").json()["total"]
    finally:
        stack.stop()
    statuses = sorted(response.status_code for response in responses)
    bodies = [response.text[:200] for response in responses]
    assert statuses == [200] * 15 + [201], (bodies, stack.log("api")[-2000:])
    assert len({response.json()["id"] for response in responses}) == 1
    assert total == 1
