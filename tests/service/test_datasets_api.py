import io

import numpy as np
import pytest


def blob_csv(num_rows=40, header="f1,f2,kind"):
    lines = [header]
    for i in range(num_rows):
        kind = "left" if i % 2 else "right"
        lines.append(f"{i * 0.1:.2f},{(i % 7) * 1.5},{kind}")
    return ("\n".join(lines) + "\n").encode()


def numeric_csv(num_rows=40, lonely_class=False):
    lines = ["f1,count"] + [f"{i * 0.1:.2f},{i % 3}" for i in range(num_rows)]
    if lonely_class:
        lines.append("9.5,7")
    return ("\n".join(lines) + "\n").encode()


def upload(client, content, name="blobs.csv", **form):
    files = {"file": (name, content, "text/csv")}
    return client.post("/datasets", files=files, data=form)


def test_upload_csv_returns_summary(client):
    response = upload(client, blob_csv(), label="kind")
    assert response.status_code == 201
    dataset = response.json()
    assert dataset["task"] == "classification"
    assert dataset["num_rows"] == 40
    assert dataset["num_features"] == 2
    assert dataset["class_names"] == ["left", "right"]
    assert len(dataset["sha256"]) == 64


def test_upload_stores_file_by_sha256(client, settings):
    dataset = upload(client, blob_csv(), label="kind").json()
    stored = settings.datasets_dir / f"{dataset['sha256']}.csv"
    assert stored.read_bytes() == blob_csv()


def test_upload_npz_infers_regression(client):
    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    np.savez(buffer, x=rng.normal(size=(30, 3)), y=rng.normal(size=30))
    response = upload(client, buffer.getvalue(), name="sensors.npz")
    assert response.status_code == 201
    assert response.json()["task"] == "regression"
    assert response.json()["num_classes"] is None


@pytest.mark.parametrize(
    ("content", "form", "field", "hint"),
    [
        (blob_csv(), {"label": "missing"}, "label", "is not in the header"),
        (blob_csv().replace(b"0.30,", b"abc,"), {"label": "kind"}, "file", "line 5"),
        (blob_csv().replace(b"0.30,", b","), {"label": "kind"}, "file", "empty cell"),
        (blob_csv().replace(b"0.30,", b"nan,"), {"label": "kind"}, "file", "NaN"),
        (blob_csv(num_rows=4), {"label": "kind"}, "file", "at least 10"),
        (numeric_csv(lonely_class=True), {"label": "count"}, "file", "single row"),
        (blob_csv(), {"label": "kind", "task": "regression"}, "task", "numeric"),
        (blob_csv(), {}, "label", "label column"),
    ],
)
def test_upload_rejects_bad_table(client, content, form, field, hint):
    response = upload(client, content, **form)
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", field]
    assert hint in error["msg"]


def test_upload_rejects_single_class(client):
    content = blob_csv().replace(b"left", b"right")
    response = upload(client, content, label="kind")
    assert response.status_code == 422
    assert "single class" in response.json()["detail"][0]["msg"]


def test_upload_too_large(settings):
    from fastapi.testclient import TestClient

    from api.app import create_app

    small = settings.model_copy(update={"max_upload_bytes": 1024})
    with TestClient(create_app(small)) as client:
        response = upload(client, blob_csv(num_rows=200), label="kind")
    assert response.status_code == 413
    assert "max_upload_bytes=1024" in response.json()["detail"]


def test_list_and_read(client):
    first = upload(client, blob_csv(), label="kind").json()
    listed = client.get("/datasets").json()
    assert listed["total"] == 1
    assert listed["items"][0]["id"] == first["id"]
    assert client.get(f"/datasets/{first['id']}").json()["name"] == "blobs.csv"


def test_read_unknown_is_404(client):
    assert client.get("/datasets/999").status_code == 404


def test_delete_removes_row_and_file(client, settings):
    dataset = upload(client, blob_csv(), label="kind").json()
    assert client.delete(f"/datasets/{dataset['id']}").status_code == 204
    assert client.get(f"/datasets/{dataset['id']}").status_code == 404
    assert not (settings.datasets_dir / f"{dataset['sha256']}.csv").exists()


def test_delete_while_job_queued_is_409(client):
    dataset = upload(client, blob_csv(), label="kind").json()
    job = client.post("/jobs", json={"dataset": {"id": dataset["id"]}}).json()
    response = client.delete(f"/datasets/{dataset['id']}")
    assert response.status_code == 409
    assert "queued or running" in response.json()["detail"]
    client.post(f"/jobs/{job['id']}/cancel")
    assert client.delete(f"/datasets/{dataset['id']}").status_code == 204


def test_job_on_dataset_resolves_config(client):
    dataset = upload(client, blob_csv(), label="kind").json()
    response = client.post(
        "/jobs", json={"dataset": {"id": dataset["id"]}, "epochs": 3}
    )
    assert response.status_code == 201
    config = response.json()["config"]
    assert config["dataset"] == f"dataset-{dataset['id']}"
    assert config["user_dataset"]["label"] == "kind"
    assert config["train_size"] == 32


def test_job_task_override_to_regression(client):
    dataset = upload(client, numeric_csv(), label="count").json()
    assert dataset["task"] == "classification"
    body = {"dataset": {"id": dataset["id"], "task": "regression"}}
    config = client.post("/jobs", json=body).json()["config"]
    assert config["user_dataset"]["task"] == "regression"
    assert config["user_dataset"]["num_classes"] is None


def test_job_unknown_dataset_is_422(client):
    response = client.post("/jobs", json={"dataset": {"id": 42}})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "dataset"]


def test_job_conv_on_dataset_is_422(client):
    dataset = upload(client, blob_csv(), label="kind").json()
    body = {"dataset": {"id": dataset["id"]}, "model": "conv"}
    response = client.post("/jobs", json=body)
    assert response.status_code == 422
    assert "8x8" in response.json()["detail"][0]["msg"]


def test_job_layer_spec_is_stored(client):
    layers = [{"type": "dense", "units": 8, "activation": "relu"}]
    response = client.post(
        "/jobs", json={"dataset": "iris", "model": {"layers": layers}}
    )
    assert response.status_code == 201
    config = response.json()["config"]
    assert config["model"] == "layers"
    assert config["layers"][0]["units"] == 8


def test_job_bad_layer_spec_is_422(client):
    layers = [{"type": "lambda", "code": "import os"}]
    response = client.post("/jobs", json={"model": {"layers": layers}})
    assert response.status_code == 422
    assert "type is one of" in response.json()["detail"][0]["msg"]


def test_job_layer_spec_over_param_limit(client):
    layers = [{"type": "dense", "units": 4096}] * 2
    response = client.post("/jobs", json={"model": {"layers": layers}})
    assert response.status_code == 422
    assert "max_model_params" in response.json()["detail"][0]["msg"]


def test_datasets_scoped_by_project(settings):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from db.api_keys import create_api_key
    from db.engine import make_engine, make_session_factory

    secured = settings.model_copy(update={"auth": "on"})
    sessions = make_session_factory(make_engine(secured.resolved_database_url))
    with sessions() as session:
        alice = create_api_key(session, "alice")
        bob = create_api_key(session, "bob")
    with TestClient(create_app(secured)) as client:
        headers = {"X-API-Key": alice}
        files = {"file": ("b.csv", blob_csv(), "text/csv")}
        made = client.post(
            "/datasets", files=files, data={"label": "kind"}, headers=headers
        )
        dataset_id = made.json()["id"]
        other = {"X-API-Key": bob}
        assert client.get(f"/datasets/{dataset_id}", headers=other).status_code == 404
        body = {"dataset": {"id": dataset_id}}
        assert client.post("/jobs", json=body, headers=other).status_code == 422
