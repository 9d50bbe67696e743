import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from db import comparisons, jobs
from db.api_keys import create_api_key
from db.engine import make_engine, make_session_factory

SWEEP_LABELS = ["velo", "adam_0.0001", "adam_0.001", "adam_0.01", "adam_0.05"]


@pytest.fixture
def sessions(settings):
    engine = make_engine(settings.resolved_database_url)
    yield make_session_factory(engine)
    engine.dispose()


def submit_job(client, **fields) -> int:
    response = client.post("/jobs", json={"dataset": "iris", "epochs": 3, **fields})
    assert response.status_code == 201
    return response.json()["id"]


def finish(sessions, job_id: int, metrics: list[dict]) -> None:
    """Run `job_id` through claim, one record per row of `metrics`, and success."""
    assert jobs.claim_job(sessions, job_id, "test-worker")
    for epoch, row in enumerate(metrics, start=1):
        jobs.record_epoch(sessions, job_id, {"epoch": epoch, "seconds": 0.5, **row})
    jobs.finish_job(sessions, job_id, "succeeded", final_metrics=metrics[-1])


def sweep(client, **fields):
    body = {"dataset": "iris", "model": "mlp", "epochs": 4, "seed": 3, **fields}
    return client.post("/comparisons", json=body)


def test_sweep_creates_five_labelled_runs(client):
    response = sweep(client)
    assert response.status_code == 201
    runs = response.json()["runs"]
    assert [run["label"] for run in runs] == SWEEP_LABELS
    assert [run["status"] for run in runs] == ["queued"] * 5


def test_sweep_jobs_share_task_and_seed(client):
    runs = sweep(client).json()["runs"]
    configs = [client.get(f"/jobs/{run['job_id']}").json()["config"] for run in runs]
    assert {(c["dataset"], c["model"], c["epochs"], c["seed"]) for c in configs} == {
        ("iris", "mlp", 4, 3)
    }
    assert [c["use_velo"] for c in configs] == [True, False, False, False, False]
    assert [c["learning_rate"] for c in configs] == [None, 1e-4, 1e-3, 1e-2, 5e-2]


def test_sweep_jobs_take_requested_device(client):
    runs = sweep(client, device="gpu").json()["runs"]
    jobs = [client.get(f"/jobs/{run['job_id']}").json() for run in runs]
    assert [job["device"] for job in jobs] == ["gpu"] * 5


def test_sweep_jobs_default_to_job_queue(client):
    runs = sweep(client).json()["runs"]
    jobs = [client.get(f"/jobs/{run['job_id']}").json() for run in runs]
    assert [job["device"] for job in jobs] == ["cpu"] * 5


def test_sweep_rejects_unknown_device(client):
    response = sweep(client, device="tpu")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "device"]


def test_sweep_jobs_appear_in_job_list(client):
    sweep(client)
    assert client.get("/jobs").json()["total"] == 5


@pytest.mark.parametrize(
    ("fields", "field", "hint"),
    [
        ({"dataset": "mnist"}, "dataset", "digits"),
        ({"epochs": 0}, "epochs", "between 1 and 200"),
        ({"batch_size": 0}, "batch_size", "positive integer"),
        ({"adam_learning_rates": []}, "adam_learning_rates", "non-empty"),
        ({"adam_learning_rates": [0.1, 0.1]}, "adam_learning_rates", "distinct"),
        ({"adam_learning_rates": [-1.0]}, "adam_learning_rates", "above 0"),
    ],
)
def test_sweep_rejects_invalid_field(client, fields, field, hint):
    response = sweep(client, **fields)
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", field]
    assert hint in error["msg"]


def test_invalid_sweep_creates_no_jobs(client):
    sweep(client, adam_learning_rates=[1e-3, -1.0])
    assert client.get("/jobs").json()["total"] == 0


def test_sweep_with_custom_rates(client):
    runs = sweep(client, adam_learning_rates=[3e-3, 1e-5]).json()["runs"]
    assert [run["label"] for run in runs] == ["velo", "adam_0.003", "adam_1e-05"]


def test_compare_existing_jobs(client):
    first = submit_job(client, learning_rate=0.1)
    second = submit_job(client, use_velo=True)
    response = client.post("/comparisons", json={"job_ids": [second, first]})
    assert response.status_code == 201
    body = response.json()
    assert body["kind"] == "jobs"
    assert [run["label"] for run in body["runs"]] == ["velo", "adam_0.1"]
    assert [run["job_id"] for run in body["runs"]] == [second, first]


def test_colliding_labels_get_job_id(client):
    first = submit_job(client, learning_rate=0.1)
    second = submit_job(client, learning_rate=0.1, seed=1)
    response = client.post("/comparisons", json={"job_ids": [first, second]})
    labels = [run["label"] for run in response.json()["runs"]]
    assert labels == [f"adam_0.1_job{first}", f"adam_0.1_job{second}"]


@pytest.mark.parametrize(
    ("job_ids", "hint"),
    [
        ([1], "2 to 12"),
        ([], "2 to 12"),
        ([1, 1], "repeat"),
        ([1, 999], "Unknown job ids: [999]"),
    ],
)
def test_job_ids_rejected(client, job_ids, hint):
    submit_job(client)
    response = client.post("/comparisons", json={"job_ids": job_ids})
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", "job_ids"]
    assert hint in error["msg"]


def test_job_ids_with_training_fields_rejected(client):
    ids = [submit_job(client), submit_job(client)]
    response = client.post("/comparisons", json={"job_ids": ids, "epochs": 3})
    assert response.status_code == 422
    assert "epochs" in response.json()["detail"][0]["msg"]


def test_unknown_comparison_is_404(client):
    assert client.get("/comparisons/42").status_code == 404


def test_list_newest_first(client):
    first = sweep(client).json()["id"]
    second = sweep(client, name="second").json()["id"]
    listing = client.get("/comparisons").json()
    assert [item["id"] for item in listing["items"]] == [second, first]
    assert listing["total"] == 2
    assert [run["label"] for run in listing["items"][0]["runs"]] == SWEEP_LABELS


def test_read_returns_history_and_ratio(client, sessions):
    comparison = sweep(client, adam_learning_rates=[1e-3, 1e-2]).json()
    velo, slow, fast = (run["job_id"] for run in comparison["runs"])
    finish(sessions, velo, [{"loss": 0.9, "val_loss": 1.0}, {"loss": 0.3}])
    finish(sessions, slow, [{"loss": 0.8}])
    finish(sessions, fast, [{"loss": 0.5}, {"loss": 0.2}])
    body = client.get(f"/comparisons/{comparison['id']}").json()
    assert body["finished"] is True
    assert body["best_adam_label"] == "adam_0.01"
    assert [row["epoch"] for row in body["runs"][0]["history"]] == [1, 2]
    assert body["runs"][0]["history"][0]["val_loss"] == pytest.approx(1.0)
    table = {row["label"]: row for row in body["table"]}
    assert table["velo"]["loss_ratio_to_best_adam"] == pytest.approx(1.5)
    assert table["adam_0.01"]["loss_ratio_to_best_adam"] == pytest.approx(1.0)
    assert table["velo"]["train_seconds"] == pytest.approx(1.0)


def test_failed_run_keeps_reason_and_no_ratio(client, sessions):
    comparison = sweep(client, adam_learning_rates=[1e-3]).json()
    velo, adam = (run["job_id"] for run in comparison["runs"])
    assert jobs.claim_job(sessions, velo, "test-worker")
    jobs.finish_job(sessions, velo, "failed", failure_reason="no VeLO weights")
    finish(sessions, adam, [{"loss": 0.4}])
    body = client.get(f"/comparisons/{comparison['id']}").json()
    assert body["runs"][0]["failure_reason"] == "no VeLO weights"
    assert body["table"][0]["loss_ratio_to_best_adam"] is None
    assert body["table"][1]["loss_ratio_to_best_adam"] == pytest.approx(1.0)


def test_unfinished_comparison_has_no_best(client):
    body = sweep(client).json()
    assert body["finished"] is False
    assert body["best_adam_label"] is None


def test_label_scheme():
    assert comparisons.run_label("adam", 0.05) == "adam_0.05"
    assert comparisons.run_label("velo", None) == "velo"


def test_catalog_lists_datasets_and_limits(client):
    body = client.get("/catalog").json()
    iris = next(item for item in body["datasets"] if item["name"] == "iris")
    assert iris["train_size"] == 120
    assert iris["num_features"] == 4
    assert "conv" not in iris["models"]
    assert body["max_epochs"] == 200
    assert body["comparison_learning_rates"] == [1e-4, 1e-3, 1e-2, 5e-2]
    assert body["defaults"]["batch_size"] == "full"


def test_catalog_default_device_is_job_queue(settings):
    gpu_settings = settings.model_copy(update={"job_queue": "gpu"})
    with TestClient(create_app(gpu_settings)) as gpu_client:
        body = gpu_client.get("/catalog").json()
    assert body["default_device"] == "gpu"


def test_page_and_static_files_served(client):
    page = client.get("/")
    assert page.status_code == 200
    assert 'src="/static/app.js"' in page.text
    script = client.get("/static/form.js")
    assert "Learned optimizer (VeLO)" in script.text
    assert "javascript" in script.headers["content-type"]


def test_static_path_outside_folder_is_404(client):
    assert client.get("/static/../__init__.py").status_code == 404
    assert client.get("/static/%2e%2e/__init__.py").status_code == 404


def test_sweep_jobs_sent_with_time_limit(client, sessions, settings):
    runs = sweep(client).json()["runs"]
    with sessions() as session:
        stored = [jobs.get_job(session, run["job_id"]) for run in runs]
    assert all(job.enqueued_at is not None for job in stored)
    assert {job.time_limit_seconds for job in stored} == {
        settings.job_time_limit_seconds
    }


def test_store_scopes_comparisons_by_project(client, sessions):
    ids = [submit_job(client), submit_job(client)]
    with sessions() as session:
        stored = comparisons.create_from_jobs(session, ids, None, project="blue")
        assert comparisons.list_comparisons(session, project="red").total == 0
        assert comparisons.list_comparisons(session, project="blue").total == 1
        with pytest.raises(comparisons.ComparisonNotFound):
            comparisons.get_comparison(session, stored.id, project="red")
        assert comparisons.missing_job_ids(session, ids, project="red") == ids


@pytest.fixture
def keyed_client(settings):
    """Return a client on a server with authentication on, and two project keys."""
    secured = settings.model_copy(update={"auth": "on"})
    app = create_app(secured)
    with app.state.sessions() as session:
        keys = {
            project: {"X-API-Key": create_api_key(session, project)}
            for project in ("blue", "red")
        }
    with TestClient(app) as test_client:
        yield test_client, keys


def test_comparison_hidden_from_other_project(keyed_client):
    client, keys = keyed_client
    body = {"dataset": "iris", "epochs": 2, "adam_learning_rates": [1e-3]}
    created = client.post("/comparisons", json=body, headers=keys["blue"]).json()
    url = f"/comparisons/{created['id']}"
    assert client.get(url, headers=keys["blue"]).status_code == 200
    assert client.get(url, headers=keys["red"]).status_code == 404
    assert client.get("/comparisons", headers=keys["red"]).json()["total"] == 0
    assert client.get("/comparisons").status_code == 401


def test_job_ids_of_other_project_unknown(keyed_client):
    client, keys = keyed_client
    body = {"dataset": "iris", "epochs": 2}
    ids = [
        client.post("/jobs", json=body, headers=keys["blue"]).json()["id"]
        for _ in range(2)
    ]
    response = client.post("/comparisons", json={"job_ids": ids}, headers=keys["red"])
    assert response.status_code == 422
    assert "Unknown job ids" in response.json()["detail"][0]["msg"]


def test_sweep_over_active_job_limit(settings):
    limited = settings.model_copy(update={"max_active_jobs_per_project": 4})
    with TestClient(create_app(limited)) as client:
        response = sweep(client)
        listing = client.get("/jobs").json()
    assert response.status_code == 429
    assert "creates 5 jobs" in response.json()["detail"]
    assert listing["total"] == 0
