"""Idempotency-Key on POST /comparisons: a retry returns the same comparison."""

from api.idempotency import earlier_comparison
from api.routes import comparisons as comparison_routes

SWEEP = {
    "dataset": "iris",
    "model": "linear",
    "epochs": 1,
    "adam_learning_rates": [0.001, 0.01],
}


def create(client, key: str, body=SWEEP):
    return client.post("/comparisons", json=body, headers={"Idempotency-Key": key})


def job_total(client) -> int:
    return client.get("/jobs").json()["total"]


def test_sweep_retry_returns_same_comparison(client):
    first = create(client, "sweep-1")
    second = create(client, "sweep-1")
    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]


def test_sweep_retry_creates_no_jobs(client):
    create(client, "sweep-2")
    create(client, "sweep-2")
    assert job_total(client) == 3
    assert client.get("/comparisons").json()["total"] == 1


def test_sweep_same_key_other_body_is_409(client):
    create(client, "sweep-3")
    response = create(client, "sweep-3", {**SWEEP, "epochs": 2})
    assert response.status_code == 409
    assert "comparison" in response.json()["detail"]
    assert job_total(client) == 3


def test_chosen_jobs_retry_returns_same_comparison(client):
    ids = [client.post("/jobs", json={"dataset": "iris"}).json()["id"] for _ in "ab"]
    first = create(client, "chosen-1", {"job_ids": ids})
    second = create(client, "chosen-1", {"job_ids": ids})
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]


def test_job_and_comparison_keys_are_separate(client):
    job = client.post(
        "/jobs", json={"dataset": "iris"}, headers={"Idempotency-Key": "k"}
    )
    comparison = create(client, "k")
    assert job.status_code == 201
    assert comparison.status_code == 201


def test_lost_race_returns_winner(client, monkeypatch):
    # The first lookup finds no comparison, so the insert fails on the winner's key.
    winner = create(client, "race")
    checks = []

    def first_check_misses(session, project, key, fingerprint):
        checks.append(key)
        if len(checks) == 1:
            return None
        return earlier_comparison(session, project, key, fingerprint)

    monkeypatch.setattr(comparison_routes, "earlier_comparison", first_check_misses)
    loser = create(client, "race")
    assert loser.status_code == 200
    assert loser.json()["id"] == winner.json()["id"]
    assert job_total(client) == 3


def test_overlong_key_is_422(client):
    response = create(client, "k" * 201)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
