"""Service limits: each refusal is a 413, 422 or 429 naming the limit and value."""

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.limits import TokenBucketLimiter, model_parameter_count
from api.schemas import JobConfig
from db.api_keys import create_api_key
from velo_core import catalog

JOB = {"dataset": "iris", "model": "linear", "epochs": 1}


@pytest.fixture
def limited(settings, request):
    """A client of an app whose settings are changed by the test's parameters."""
    app = create_app(settings.model_copy(update=request.param))
    with TestClient(app) as client:
        yield client


def with_settings(**changes):
    return pytest.mark.parametrize("limited", [changes], indirect=True)


def first_error(response) -> dict:
    return response.json()["detail"][0]


@pytest.mark.parametrize(
    ("dataset", "model", "hidden_sizes"),
    [
        ("iris", "linear", None),
        ("diabetes", "linear", None),
        ("wine", "mlp", [7, 5, 3]),
        ("digits", "mlp", [128]),
        ("digits", "conv", None),
    ],
)
def test_parameter_count_matches_built_model(dataset, model, hidden_sizes):
    from velo_core.models import build_model

    info = catalog.dataset_info(dataset)
    built = build_model(model, info.num_features, info.num_classes or 1, hidden_sizes)
    config = JobConfig(
        dataset=dataset,
        model=model,
        hidden_sizes=hidden_sizes,
        use_velo=False,
        epochs=1,
        batch_size="full",
        learning_rate=0.01,
        validation_split=0.2,
        seed=0,
        train_size=1,
    )
    assert model_parameter_count(config) == built.count_params()


@with_settings(max_model_params=10_000)
def test_large_model_is_422(limited):
    body = {"dataset": "digits", "model": "mlp", "hidden_sizes": [200]}
    response = limited.post("/jobs", json=body)
    assert response.status_code == 422
    assert first_error(response)["loc"] == ["body", "hidden_sizes"]
    assert "15010 parameters" in first_error(response)["msg"]
    assert "max_model_params=10000" in first_error(response)["msg"]


@with_settings(max_dataset_samples=1000)
def test_large_dataset_is_422(limited):
    response = limited.post("/jobs", json={"dataset": "digits"})
    assert response.status_code == 422
    assert first_error(response)["loc"] == ["body", "dataset"]
    assert "max_dataset_samples=1000" in first_error(response)["msg"]


@with_settings(max_request_bytes=1024)
def test_large_body_is_413(limited):
    body = {**JOB, "model": "mlp", "hidden_sizes": [1] * 600}
    response = limited.post("/jobs", json=body)
    assert response.status_code == 413
    assert "max_request_bytes=1024" in response.json()["detail"]


@with_settings(max_request_bytes=1024)
def test_large_chunked_body_is_413(limited):
    chunks = (b" " * 512 for _ in range(4))
    response = limited.post(
        "/jobs", content=chunks, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


@with_settings(max_request_bytes=1024)
def test_body_under_limit_is_accepted(limited):
    assert limited.post("/jobs", json=JOB).status_code == 201


@with_settings(max_active_jobs_per_project=2)
def test_active_jobs_over_limit_is_429(limited):
    first = limited.post("/jobs", json=JOB).json()["id"]
    limited.post("/jobs", json=JOB)
    rejected = limited.post("/jobs", json=JOB)
    limited.post(f"/jobs/{first}/cancel")
    assert rejected.status_code == 429
    assert "max_active_jobs_per_project=2" in rejected.json()["detail"]
    assert limited.post("/jobs", json=JOB).status_code == 201


@with_settings(submit_rate_per_second=0.01, submit_burst=2)
def test_submit_rate_over_limit_is_429(limited):
    statuses = [limited.post("/jobs", json=JOB).status_code for _ in range(3)]
    rejected = limited.post("/jobs", json=JOB)
    assert statuses == [201, 201, 429]
    assert "submit_rate_per_second=0.01" in rejected.json()["detail"]
    assert "submit_burst=2" in rejected.json()["detail"]
    assert int(rejected.headers["Retry-After"]) >= 1


@with_settings(submit_rate_per_second=0.01, submit_burst=1, auth="on")
def test_submit_rate_is_counted_per_key(limited):
    with limited.app.state.sessions() as session:
        keys = [create_api_key(session, "alpha"), create_api_key(session, "alpha")]
    statuses = [
        limited.post("/jobs", json=JOB, headers={"X-API-Key": key}).status_code
        for key in (keys[0], keys[1], keys[0])
    ]
    assert statuses == [201, 201, 429]


@with_settings(submit_rate_per_second=0.01, submit_burst=1)
def test_rate_limit_applies_to_submit_only(limited):
    limited.post("/jobs", json=JOB)
    assert limited.get("/jobs").status_code == 200
    assert limited.post("/jobs", json=JOB).status_code == 429


def test_token_bucket_refills_at_rate():
    limiter = TokenBucketLimiter(rate=2.0, burst=1)
    assert limiter.take("c", now=0.0) == 0
    assert limiter.take("c", now=0.25) == pytest.approx(0.25)
    assert limiter.take("c", now=0.5) == 0


def test_token_bucket_forgets_idle_clients():
    limiter = TokenBucketLimiter(rate=1.0, burst=1)
    limiter.MAX_CLIENTS = 2
    for index in range(3):
        limiter.take(f"client-{index}", now=float(index * 10))
    assert limiter.client_count == 1
