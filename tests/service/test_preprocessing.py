import numpy as np
import pytest
from sklearn import datasets as sk_datasets
from sklearn.model_selection import train_test_split

from db.engine import make_engine, make_session_factory
from db.models import Job
from tests.service.test_export_api import run_job
from velo_core.datasets import load_dataset

RAW_LOADERS = {"iris": sk_datasets.load_iris, "diabetes": sk_datasets.load_diabetes}


def train_job(client, settings, monkeypatch, dataset):
    """Train a two-epoch job on a bundled dataset in process and return it."""
    job = client.post("/jobs", json={"dataset": dataset, "epochs": 2}).json()
    fast_settings = settings.model_copy(update={"export_tflite": False})
    run_job(fast_settings, job["id"], monkeypatch)
    return client.get(f"/jobs/{job['id']}").json()


def split_of(job):
    config = job["config"]
    return load_dataset(config["dataset"], config["validation_split"], config["seed"])


def raw_validation_split(job, stratify):
    """Split the unscaled bundled data the way velo_core.datasets does."""
    config = job["config"]
    bunch = RAW_LOADERS[config["dataset"]]()
    features = np.asarray(bunch.data, dtype=np.float32)
    targets = bunch.target.astype(np.float32)
    _, x_val, _, y_val = train_test_split(
        features,
        targets,
        test_size=config["validation_split"],
        random_state=config["seed"],
        shuffle=True,
        stratify=targets if stratify else None,
    )
    return x_val, y_val


@pytest.mark.slow
def test_preprocessing_classification(client, settings, monkeypatch):
    job = train_job(client, settings, monkeypatch, "iris")
    assert job["status"] == "succeeded"
    served = job["preprocessing"]
    dataset = split_of(job)
    mean = np.asarray(served["feature_mean"], np.float32)
    std = np.asarray(served["feature_std"], np.float32)
    np.testing.assert_allclose(mean, dataset.feature_mean, rtol=1e-6)
    np.testing.assert_allclose(std, dataset.feature_std, rtol=1e-6)
    x_raw, _ = raw_validation_split(job, stratify=True)
    np.testing.assert_allclose((x_raw - mean) / std, dataset.x_val, rtol=1e-6)
    assert served["target_mean"] is None
    assert served["target_std"] is None
    assert "(x - feature_mean) / feature_std" in served["formula"]
    response = client.get(f"/jobs/{job['id']}/model?format=preprocessing")
    assert response.status_code == 200
    assert response.json() == served
    disposition = response.headers["content-disposition"]
    assert f"job-{job['id']}.preprocessing.json" in disposition


@pytest.mark.slow
def test_preprocessing_regression(client, settings, monkeypatch):
    job = train_job(client, settings, monkeypatch, "diabetes")
    assert job["status"] == "succeeded"
    served = job["preprocessing"]
    dataset = split_of(job)
    np.testing.assert_allclose(served["feature_mean"], dataset.feature_mean, rtol=1e-6)
    np.testing.assert_allclose(served["feature_std"], dataset.feature_std, rtol=1e-6)
    np.testing.assert_allclose(served["target_mean"], dataset.target_mean, rtol=1e-6)
    np.testing.assert_allclose(served["target_std"], dataset.target_std, rtol=1e-6)
    _, y_raw = raw_validation_split(job, stratify=False)
    restored = served["target_mean"] + served["target_std"] * dataset.y_val
    np.testing.assert_allclose(restored, y_raw, rtol=1e-5)
    response = client.get(f"/jobs/{job['id']}/model?format=preprocessing")
    assert response.json() == served


def test_preprocessing_of_queued_job_is_409(client):
    job = client.post("/jobs", json={"dataset": "iris", "epochs": 2}).json()
    response = client.get(f"/jobs/{job['id']}/model?format=preprocessing")
    assert response.status_code == 409
    assert "queued" in response.json()["detail"]


def test_preprocessing_missing_is_404(client, settings):
    job = client.post("/jobs", json={"dataset": "iris", "epochs": 2}).json()
    sessions = make_session_factory(make_engine(settings.resolved_database_url))
    with sessions() as session:
        session.get(Job, job["id"]).status = "succeeded"
        session.commit()
    response = client.get(f"/jobs/{job['id']}/model?format=preprocessing")
    assert response.status_code == 404
    assert "no preprocessing statistics" in response.json()["detail"]
    assert client.get(f"/jobs/{job['id']}").json()["preprocessing"] is None
