"""A finished job's confusion matrix, cost, device fit and early stopping."""

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.metrics import confusion_matrix

from api.app import create_app
from db.migrate import upgrade_to_head
from velotrain.commands.history import format_report
from velotrain.settings import Settings

VELO_WEIGHTS = Path(__file__).parents[1] / "data" / "velo_reference" / "params"
CLASSIFIER = {
    "dataset": "iris",
    "model": "mlp",
    "epochs": 12,
    "validation_split": 0.3,
    "seed": 3,
}
EARLY_STOPPED_VELO = {
    "dataset": "iris",
    "model": "linear",
    "use_velo": True,
    "epochs": 8,
    "early_stopping": {"patience": 2},
}
REGRESSION = {"dataset": "diabetes", "model": "linear", "epochs": 2}
# Validation losses the patched loop reports: best at epoch 2, rising after it.
SCRIPTED_VAL_LOSS = [1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1]


@pytest.mark.parametrize(
    ("early_stopping", "field"),
    [
        ({"patience": 0}, "patience"),
        ({"patience": 1.5}, "patience"),
        ({"min_delta": -0.1}, "min_delta"),
        ({"monitor": "accuracy"}, "monitor"),
        ({"restore": True}, "restore"),
    ],
)
def test_submit_rejects_bad_early_stopping(client, early_stopping, field):
    body = {"dataset": "iris", "early_stopping": early_stopping}
    response = client.post("/jobs", json=body)
    assert response.status_code == 422
    locations = [error["loc"] for error in response.json()["detail"]]
    assert ["body", "early_stopping", field] in locations


def test_submit_rejects_accuracy_monitor_for_regression(client):
    body = {"dataset": "diabetes", "early_stopping": {"monitor": "val_accuracy"}}
    response = client.post("/jobs", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "early_stopping"]


def test_submit_stores_early_stopping_defaults(client):
    response = client.post("/jobs", json=EARLY_STOPPED_VELO)
    assert response.status_code == 201
    assert response.json()["config"]["early_stopping"] == {
        "patience": 2,
        "min_delta": 0.0,
        "monitor": "val_loss",
    }


def run_in_process(monkeypatch, job_id: int, settings: Settings) -> None:
    """Run the worker's job code in this process, on `settings`' database."""
    from worker import runner

    monkeypatch.setattr(runner, "_sessions", None)
    runner.run_job_by_id(job_id, settings)


def scripted_val_loss(monkeypatch) -> None:
    from velo_core import training

    real_row = training._Run._row

    def row_with_scripted_val_loss(self, epoch, metrics):
        row = real_row(self, epoch, metrics)
        row["val_loss"] = SCRIPTED_VAL_LOSS[epoch - 1]
        return row

    monkeypatch.setattr(training._Run, "_row", row_with_scripted_val_loss)


def failing_conversion(keras_path, representative_x, **options):
    raise RuntimeError("TFLite converter failed on this model")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """Train three jobs in this process; return the settings, client and jobs."""
    data_dir = tmp_path_factory.mktemp("insights") / "var"
    settings = Settings(data_dir=data_dir, velo_weights=str(VELO_WEIGHTS))
    settings.ensure_data_dir()
    upgrade_to_head(settings.resolved_database_url)
    quick = settings.model_copy(update={"measure_device_fit": False})
    with TestClient(create_app(settings)) as client, pytest.MonkeyPatch.context() as mp:
        ids = {
            name: client.post("/jobs", json=body).json()["id"]
            for name, body in [
                ("classifier", CLASSIFIER),
                ("early", EARLY_STOPPED_VELO),
                ("regression", REGRESSION),
            ]
        }
        run_in_process(mp, ids["classifier"], settings)
        with pytest.MonkeyPatch.context() as scripted:
            scripted_val_loss(scripted)
            run_in_process(mp, ids["early"], quick)
        from velo_core import device_fit

        mp.setattr(device_fit, "measure_in_subprocess", failing_conversion)
        run_in_process(mp, ids["regression"], settings)
        jobs = {
            name: client.get(f"/jobs/{job_id}").json() for name, job_id in ids.items()
        }
        histories = {
            name: client.get(f"/jobs/{job_id}/history").json()["epochs"]
            for name, job_id in ids.items()
        }
        yield {
            "settings": settings,
            "client": client,
            "jobs": jobs,
            "epochs": histories,
        }


slow = pytest.mark.slow


@slow
def test_jobs_succeed(finished):
    statuses = {name: job["status"] for name, job in finished["jobs"].items()}
    assert statuses == dict.fromkeys(statuses, "succeeded")


@slow
def test_confusion_matrix_matches_stored_model(finished):
    from velo_core.datasets import load_dataset
    from velo_core.models import import_keras

    job = finished["jobs"]["classifier"]
    path = finished["settings"].artifacts_dir / f"job-{job['id']}.keras"
    model = import_keras().saving.load_model(path)
    dataset = load_dataset("iris", CLASSIFIER["validation_split"], CLASSIFIER["seed"])
    predicted = np.argmax(model.predict(dataset.x_val, verbose=0), axis=-1)
    expected = confusion_matrix(dataset.y_val, predicted, labels=range(3))
    assert job["classification"]["confusion_matrix"] == expected.tolist()


@slow
def test_classification_names_labels_and_scores(finished):
    report = finished["jobs"]["classifier"]["classification"]
    assert report["label_names"] == ["setosa", "versicolor", "virginica"]
    assert len(report["precision"]) == 3
    assert all(0.0 <= value <= 1.0 for value in report["f1"])
    assert sum(report["support"]) == 45


@slow
def test_cost_figures_positive(finished):
    cost = finished["jobs"]["classifier"]["cost"]
    for name in (
        "loop_seconds",
        "compile_seconds",
        "gradient_seconds",
        "update_seconds",
        "evaluation_seconds",
        "peak_memory_bytes",
        "optimizer_state_bytes",
    ):
        assert cost[name] > 0, name


@slow
def test_cost_within_wall_time(finished):
    job = finished["jobs"]["classifier"]
    cost = job["cost"]
    parts = ("compile", "gradient", "update", "evaluation")
    assert sum(cost[f"{part}_seconds"] for part in parts) <= job["duration_seconds"]


@slow
def test_device_fit_measured_on_host(finished):
    fit = finished["jobs"]["classifier"]["device_fit"]
    assert fit["error"] is None
    # One hidden layer of 128 units: 4 * 128 + 128 weights in, 128 * 3 + 3 out.
    assert fit["param_count"] == 1027
    assert fit["tflite_float32_bytes"] > 0
    assert fit["tflite_int8_bytes"] > 0
    assert fit["latency_ms_median"] > 0
    assert "(" in fit["measured_on"]


@slow
def test_device_fit_writes_raw_files(finished):
    job_id = finished["jobs"]["classifier"]["id"]
    artifacts = finished["settings"].artifacts_dir
    assert (artifacts / f"job-{job_id}.raw.keras").exists()
    assert (artifacts / f"job-{job_id}.raw.tflite").exists()
    assert (artifacts / f"job-{job_id}.raw.int8.tflite").exists()


@slow
def test_failed_conversion_keeps_job_succeeded(finished):
    job = finished["jobs"]["regression"]
    assert job["status"] == "succeeded"
    assert "TFLite converter failed" in job["device_fit"]["error"]
    assert job["device_fit"]["param_count"] == 11


@slow
def test_regression_has_no_classification(finished):
    assert finished["jobs"]["regression"]["classification"] is None


@slow
def test_early_stopping_records_steps_and_epochs(finished):
    job = finished["jobs"]["early"]
    assert job["stopped_epoch"] == 4
    assert job["best_epoch"] == 2
    assert job["num_steps"] == 8
    assert job["steps_executed"] == 4
    assert [row["epoch"] for row in finished["epochs"]["early"]] == [1, 2, 3, 4]


@slow
def test_early_stopping_reports_best_epoch_metrics(finished):
    job = finished["jobs"]["early"]
    assert job["final_metrics"]["val_loss"] == 0.5
    assert job["final_metrics"]["epoch"] == 2


@slow
def test_job_without_early_stopping_runs_all_steps(finished):
    job = finished["jobs"]["classifier"]
    assert job["stopped_epoch"] is None
    assert job["steps_executed"] == job["num_steps"] == 12


@slow
def test_history_report_explains_velo_schedule(finished):
    job = finished["jobs"]["early"]
    report = format_report(job, finished["epochs"]["early"])
    assert "stopped after epoch 4, kept the weights of epoch 2" in report
    assert "VeLO's schedule was planned for all steps" in report


@slow
def test_history_report_shows_confusion_matrix(finished):
    job = finished["jobs"]["classifier"]
    report = format_report(job, finished["epochs"]["classifier"])
    assert "confusion matrix" in report
    assert "median latency" in report


@slow
def test_comparison_cost_table(finished):
    classifier, early = finished["jobs"]["classifier"], finished["jobs"]["early"]
    body = {"job_ids": [classifier["id"], early["id"]]}
    comparison = finished["client"].post("/comparisons", json=body).json()
    rows = {row["job_id"]: row for row in comparison["cost_table"]}
    adam, velo = rows[classifier["id"]], rows[early["id"]]
    assert adam["seconds_per_epoch"] > 0
    assert 0 < adam["optimizer_share"] < 1
    assert adam["param_count"] == 1027
    assert adam["time_ratio_to_best_adam"] == 1.0
    expected = early["cost"]["loop_seconds"] / classifier["cost"]["loop_seconds"]
    assert velo["time_ratio_to_best_adam"] == pytest.approx(expected)
