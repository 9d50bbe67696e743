import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from db import jobs as job_store


def submit(client, **fields):
    return client.post("/jobs", json=fields)


def test_submit_returns_queued_job_with_defaults(client):
    response = submit(client, dataset="iris", model="mlp", epochs=5)
    assert response.status_code == 201
    job = response.json()
    assert job["status"] == "queued"
    assert job["optimizer"] == "adam"
    assert job["config"]["batch_size"] == "full"
    assert job["config"]["learning_rate"] == pytest.approx(1e-2)
    assert job["config"]["hidden_sizes"] == [128]
    assert job["config"]["train_size"] == 120
    assert job["progress"] == {"epochs_done": 0, "epochs_total": 5}
    assert job["created_at"].endswith("Z") or "+00:00" in job["created_at"]


def test_submit_velo_has_no_learning_rate(client):
    job = submit(client, use_velo=True).json()
    assert job["optimizer"] == "velo"
    assert job["config"]["learning_rate"] is None


def test_submit_clamps_batch_size(client):
    job = submit(client, dataset="iris", batch_size=100000).json()
    assert job["config"]["batch_size"] == 120


@pytest.mark.parametrize(
    ("fields", "field", "hint"),
    [
        ({"dataset": "mnist"}, "dataset", "digits"),
        ({"model": "resnet"}, "model", "mlp"),
        ({"dataset": "iris", "model": "conv"}, "model", "8x8"),
        ({"epochs": 0}, "epochs", "between 1 and 200"),
        ({"epochs": 201}, "epochs", "between 1 and 200"),
        ({"batch_size": 0}, "batch_size", "positive integer"),
        ({"use_velo": True, "learning_rate": 0.01}, "learning_rate", "Adam only"),
        ({"learning_rate": -1.0}, "learning_rate", "above 0"),
        ({"validation_split": 0.0}, "validation_split", "(0, 0.5]"),
        ({"validation_split": 0.6}, "validation_split", "(0, 0.5]"),
        ({"model": "linear", "hidden_sizes": [8]}, "hidden_sizes", "mlp"),
    ],
)
def test_submit_rejects_invalid_field(client, fields, field, hint):
    response = submit(client, **fields)
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", field]
    assert hint in error["msg"]


def test_submit_rejects_unknown_field(client):
    response = submit(client, optimizer="sgd")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "optimizer"]


def test_invalid_submit_stores_nothing(client):
    submit(client, epochs=3)
    submit(client, dataset="mnist")
    assert client.get("/jobs").json()["total"] == 1


def test_unknown_job_is_404(client):
    assert client.get("/jobs/999").status_code == 404
    assert client.get("/jobs/999/history").status_code == 404
    assert client.post("/jobs/999/cancel").status_code == 404


def test_list_is_newest_first_and_paginated(client):
    ids = [submit(client, epochs=1).json()["id"] for _ in range(3)]
    page = client.get("/jobs", params={"limit": 2}).json()
    assert [job["id"] for job in page["items"]] == [ids[2], ids[1]]
    assert page["total"] == 3
    rest = client.get("/jobs", params={"limit": 2, "offset": 2}).json()
    assert [job["id"] for job in rest["items"]] == [ids[0]]


def test_list_filters_by_optimizer_and_status(client):
    velo_id = submit(client, use_velo=True).json()["id"]
    adam_id = submit(client).json()["id"]
    client.post(f"/jobs/{adam_id}/cancel")
    velo_only = client.get("/jobs", params={"use_velo": "true"}).json()
    assert [job["id"] for job in velo_only["items"]] == [velo_id]
    cancelled = client.get("/jobs", params={"status": "cancelled"}).json()
    assert [job["id"] for job in cancelled["items"]] == [adam_id]


def test_cancel_queued_job(client):
    job_id = submit(client).json()["id"]
    response = client.post(f"/jobs/{job_id}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"


def test_cancel_finished_job_is_409(client):
    job_id = submit(client).json()["id"]
    client.post(f"/jobs/{job_id}/cancel")
    response = client.post(f"/jobs/{job_id}/cancel")
    assert response.status_code == 409
    assert "already ended" in response.json()["detail"]


def test_history_lists_recorded_epochs(client):
    job_id = submit(client, epochs=2).json()["id"]
    sessions = client.app.state.sessions
    assert job_store.claim_job(sessions, job_id, "test-worker")
    job_store.record_epoch(
        sessions, job_id, {"epoch": 1, "loss": 1.5, "val_loss": 1.6, "seconds": 0.1}
    )
    history = client.get(f"/jobs/{job_id}/history").json()
    assert history["status"] == "running"
    assert [row["epoch"] for row in history["epochs"]] == [1]
    assert history["epochs"][0]["accuracy"] is None


def test_health_reports_database_and_broker(client):
    body = client.get("/health").json()
    assert body["database"]["reachable"] is True
    assert body["broker"]["reachable"] is True
    assert body["status"] == "ok"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"epochs": True}, "epochs"),
        ({"batch_size": True}, "batch_size"),
        ({"batch_size": "32"}, "batch_size"),
        ({"use_velo": "yes"}, "use_velo"),
        ({"learning_rate": "0.1"}, "learning_rate"),
        ({"hidden_sizes": [True]}, "hidden_sizes"),
    ],
)
def test_submit_rejects_wrong_json_types(client, fields, field):
    response = submit(client, **fields)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][:2] == ["body", field]


def test_submit_batch_size_word_gets_one_message(client):
    response = submit(client, batch_size="huge")
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "batch_size"]
    assert 'must be "full" or a positive integer' in error["msg"]


def test_submit_device_defaults_to_job_queue(settings):
    gpu_settings = settings.model_copy(update={"job_queue": "gpu"})
    with TestClient(create_app(gpu_settings)) as client:
        job = submit(client, dataset="iris").json()
    assert job["device"] == "gpu"
    assert job["config"]["device"] == "gpu"


def test_submit_device_overrides_job_queue(client):
    job_id = submit(client, dataset="iris", device="gpu").json()["id"]
    job = client.get(f"/jobs/{job_id}").json()
    assert job["device"] == "gpu"
    assert job["config"]["device"] == "gpu"


@pytest.mark.parametrize("device", ["tpu", "GPU", 1, ""])
def test_submit_rejects_unknown_device(client, device):
    response = submit(client, device=device)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "device"]
    assert "['cpu', 'gpu']" in error["msg"]


def test_list_filters_by_device(client):
    gpu_id = submit(client, device="gpu").json()["id"]
    cpu_id = submit(client).json()["id"]
    gpu_only = client.get("/jobs", params={"device": "gpu"}).json()
    cpu_only = client.get("/jobs", params={"device": "cpu"}).json()
    assert [job["id"] for job in gpu_only["items"]] == [gpu_id]
    assert [job["id"] for job in cpu_only["items"]] == [cpu_id]
    assert client.get("/jobs", params={"device": "tpu"}).status_code == 422
