import io
import json

import numpy as np
import pytest

from db.engine import make_engine, make_session_factory
from db.models import Job
from tests.service.test_datasets_api import blob_csv, upload
from velo_core import export, tflite_runtime
from worker import runner

# Share of validation samples where the int8 file must pick the Keras model's
# class; see tests/velo_core/test_export.py for the measured values.
INT8_ARGMAX_AGREEMENT = 0.95


def run_job(settings, job_id, monkeypatch):
    """Run one job in this process, as a worker would."""
    monkeypatch.setattr(runner, "_sessions", None)
    runner.run_job_by_id(
        job_id, settings.model_copy(update={"measure_device_fit": False})
    )
    monkeypatch.setattr(runner, "_sessions", None)


def test_model_of_queued_job_is_409(client):
    job = client.post("/jobs", json={"dataset": "iris", "epochs": 2}).json()
    response = client.get(f"/jobs/{job['id']}/model")
    assert response.status_code == 409
    assert "queued" in response.json()["detail"]


def test_model_unknown_job_is_404(client):
    assert client.get("/jobs/4242/model").status_code == 404


def test_model_unknown_format_is_422(client):
    job = client.post("/jobs", json={"dataset": "iris", "epochs": 2}).json()
    assert client.get(f"/jobs/{job['id']}/model?format=onnx").status_code == 422


def test_model_unknown_inputs_is_422(client):
    job = client.post("/jobs", json={"dataset": "iris", "epochs": 2}).json()
    response = client.get(f"/jobs/{job['id']}/model?inputs=bogus")
    assert response.status_code == 422


def succeeded_job(client, settings):
    """Submit an iris job and mark it succeeded without training it."""
    job = client.post("/jobs", json={"dataset": "iris", "epochs": 2}).json()
    sessions = make_session_factory(make_engine(settings.resolved_database_url))
    with sessions() as session:
        session.get(Job, job["id"]).status = "succeeded"
        session.commit()
    return job


def test_model_missing_file_is_404(client, settings):
    job = succeeded_job(client, settings)
    response = client.get(f"/jobs/{job['id']}/model?format=tflite")
    assert response.status_code == 404
    assert "no tflite file" in response.json()["detail"]


def test_model_missing_raw_file_is_404(client, settings):
    job = succeeded_job(client, settings)
    settings.artifacts_dir.mkdir(parents=True, exist_ok=True)
    (settings.artifacts_dir / f"job-{job['id']}.tflite").write_bytes(b"tflite")
    params = {"format": "tflite", "inputs": "raw"}
    response = client.get(f"/jobs/{job['id']}/model", params=params)
    assert response.status_code == 404
    assert "no raw-input tflite file" in response.json()["detail"]


def test_model_rejected_raw_int8_is_404_with_reason(client, settings):
    job = succeeded_job(client, settings)
    settings.artifacts_dir.mkdir(parents=True, exist_ok=True)
    marker = export.raw_int8_rejection_path(settings.artifacts_dir, f"job-{job['id']}")
    marker.write_text("it followed the float32 file on only 60.0% of rows")
    params = {"format": "tflite-int8", "inputs": "raw"}
    response = client.get(f"/jobs/{job['id']}/model", params=params)
    assert response.status_code == 404
    assert response.json()["detail"] == (
        f"job {job['id']} has no raw-input tflite-int8 file: it followed the "
        "float32 file on only 60.0% of rows"
    )


def test_model_serves_raw_file(client, settings):
    job = succeeded_job(client, settings)
    settings.artifacts_dir.mkdir(parents=True, exist_ok=True)
    (settings.artifacts_dir / f"job-{job['id']}.raw.tflite").write_bytes(b"raw")
    params = {"format": "tflite", "inputs": "raw"}
    response = client.get(f"/jobs/{job['id']}/model", params=params)
    assert response.status_code == 200
    assert response.content == b"raw"


@pytest.fixture
def trained_job(client, settings, monkeypatch):
    """Train a layer-spec model on an uploaded CSV; return (job, dataset)."""
    dataset = upload(client, blob_csv(num_rows=120), label="kind").json()
    body = {
        "dataset": {"id": dataset["id"]},
        "model": {"layers": [{"type": "dense", "units": 16, "activation": "relu"}]},
        "epochs": 30,
    }
    job = client.post("/jobs", json=body).json()
    run_job(settings, job["id"], monkeypatch)
    return client.get(f"/jobs/{job['id']}").json(), dataset


def validation_split(settings, dataset):
    from velo_core.user_data import load_user_dataset

    path = settings.datasets_dir / f"{dataset['sha256']}.csv"
    return load_user_dataset(path, "kind", None, 0.2, 0)


@pytest.mark.slow
def test_export_formats_agree_with_keras(client, settings, trained_job, tmp_path):
    from velo_core.models import import_keras

    job, dataset = trained_job
    assert job["status"] == "succeeded"
    files = {}
    for fmt in export.FORMATS:
        response = client.get(f"/jobs/{job['id']}/model", params={"format": fmt})
        assert response.status_code == 200
        files[fmt] = tmp_path / f"model-{fmt}"
        files[fmt].write_bytes(response.content)
    keras_path = files["keras"].rename(tmp_path / "model.keras")
    model = import_keras().saving.load_model(keras_path, safe_mode=True)
    x_val = validation_split(settings, dataset).x_val
    expected = np.asarray(model(x_val))
    np.testing.assert_allclose(
        tflite_runtime.run_tflite(files["tflite"], x_val), expected, atol=1e-4
    )
    int8 = tflite_runtime.run_tflite(files["tflite-int8"], x_val)
    agreement = np.mean(int8.argmax(axis=1) == expected.argmax(axis=1))
    assert agreement >= INT8_ARGMAX_AGREEMENT


@pytest.mark.slow
def test_raw_files_agree_with_standardised(client, settings, trained_job, tmp_path):
    from velo_core.models import import_keras

    job, dataset = trained_job
    files = {}
    for fmt in export.FORMATS:
        params = {"format": fmt, "inputs": "raw"}
        response = client.get(f"/jobs/{job['id']}/model", params=params)
        assert response.status_code == 200
        files[fmt] = tmp_path / f"raw-{fmt}"
        files[fmt].write_bytes(response.content)
    standardised = client.get(f"/jobs/{job['id']}/model", params={"format": "tflite"})
    x_val = validation_split(settings, dataset).x_val
    statistics = job["preprocessing"]
    raw_x_val = x_val * statistics["feature_std"] + statistics["feature_mean"]
    expected = tflite_runtime.run_tflite(standardised.content, x_val)
    raw_outputs = tflite_runtime.run_tflite(files["tflite"], raw_x_val)
    np.testing.assert_allclose(raw_outputs, expected, rtol=1e-4, atol=1e-5)
    int8 = tflite_runtime.run_tflite(files["tflite-int8"], raw_x_val)
    agreement = np.mean(int8.argmax(axis=1) == expected.argmax(axis=1))
    assert agreement >= INT8_ARGMAX_AGREEMENT
    keras_path = files["keras"].rename(tmp_path / "raw.keras")
    model = import_keras().saving.load_model(keras_path, safe_mode=True)
    keras_outputs = np.asarray(model(raw_x_val))
    np.testing.assert_allclose(keras_outputs, expected, rtol=1e-4, atol=1e-5)


def keras_upload(client, model, name="model.keras", tmp_path=None):
    path = tmp_path / name
    model.save(path)
    files = {"file": (name, path.read_bytes(), "application/zip")}
    return client.post("/models", files=files)


@pytest.fixture
def keras():
    from velo_core.models import import_keras

    return import_keras()


def flat_model(keras, inputs=2, outputs=2):
    source = keras.Input(shape=(inputs,))
    hidden = keras.layers.Dense(4, activation="relu")(source)
    return keras.Model(source, keras.layers.Dense(outputs)(hidden))


@pytest.mark.slow
def test_upload_model_and_train_it(client, settings, keras, tmp_path, monkeypatch):
    response = keras_upload(client, flat_model(keras), tmp_path=tmp_path)
    assert response.status_code == 201
    model = response.json()
    assert (model["input_size"], model["output_size"]) == (2, 2)
    dataset = upload(client, blob_csv(), label="kind").json()
    body = {"dataset": {"id": dataset["id"]}, "model": {"upload": model["sha256"]}}
    job = client.post("/jobs", json=body).json()
    assert job["config"]["model_file"]["num_params"] == model["num_params"]
    run_job(settings, job["id"], monkeypatch)
    assert client.get(f"/jobs/{job['id']}").json()["status"] == "succeeded"


@pytest.mark.slow
def test_upload_lambda_model_is_422(client, keras, tmp_path):
    source = keras.Input(shape=(2,))
    lambda_model = keras.Model(source, keras.layers.Lambda(lambda x: x + 1)(source))
    response = keras_upload(client, lambda_model, tmp_path=tmp_path)
    assert response.status_code == 422
    assert "Lambda" in response.json()["detail"][0]["msg"]


def test_upload_truncated_model_is_422(client, keras, tmp_path):
    path = tmp_path / "model.keras"
    flat_model(keras).save(path)
    files = {"file": ("model.keras", path.read_bytes()[:200], "application/zip")}
    response = client.post("/models", files=files)
    assert response.status_code == 422
    assert "not a .keras model" in response.json()["detail"][0]["msg"]


def test_job_unknown_model_upload_is_422(client):
    response = client.post("/jobs", json={"model": {"upload": "0" * 64}})
    assert response.status_code == 422
    assert "POST /models" in response.json()["detail"][0]["msg"]


def test_job_model_upload_wrong_size_is_422(client, settings):
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    summary = {"input_size": 3, "output_size": 2, "num_params": 26}
    (settings.models_dir / f"{'a' * 64}.json").write_text(json.dumps(summary))
    response = client.post(
        "/jobs", json={"dataset": "iris", "model": {"upload": "a" * 64}}
    )
    assert response.status_code == 422
    assert "4 features" in response.json()["detail"][0]["msg"]


def test_upload_npz_then_train_config(client):
    buffer = io.BytesIO()
    np.savez(buffer, x=np.ones((20, 3)), y=np.arange(20) % 2)
    dataset = upload(client, buffer.getvalue(), name="d.npz").json()
    job = client.post("/jobs", json={"dataset": {"id": dataset["id"]}}).json()
    assert job["config"]["user_dataset"]["format"] == "npz"
