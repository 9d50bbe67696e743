"""API keys: each scoped to one project; off by default with a warning."""

import hashlib
import logging
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from db.api_keys import create_api_key, revoke_api_keys
from db.models import ApiKey
from tests.service.stack import embedded_env
from velotrain.settings import Settings

JOB = {"dataset": "iris", "model": "linear", "epochs": 1}


@pytest.fixture
def auth_client(settings):
    app = create_app(settings.model_copy(update={"auth": "on"}))
    with TestClient(app) as client:
        yield client


def new_key(client, project: str) -> str:
    with client.app.state.sessions() as session:
        return create_api_key(session, project)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_missing_key_is_401_with_hint(auth_client):
    response = auth_client.get("/jobs")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "Authorization: Bearer <key>" in response.json()["detail"]


def test_unknown_key_is_401(auth_client):
    response = auth_client.get("/jobs", headers=bearer("vt_not-a-key"))
    assert response.status_code == 401
    assert "unknown or revoked" in response.json()["detail"]


def test_revoked_key_is_401(auth_client):
    key = new_key(auth_client, "alpha")
    with auth_client.app.state.sessions() as session:
        revoke_api_keys(session, key[:10])
    assert auth_client.get("/jobs", headers=bearer(key)).status_code == 401


def test_job_belongs_to_key_project(auth_client):
    key = new_key(auth_client, "alpha")
    job = auth_client.post("/jobs", json=JOB, headers=bearer(key)).json()
    assert job["project"] == "alpha"


def test_x_api_key_header_is_accepted(auth_client):
    key = new_key(auth_client, "alpha")
    response = auth_client.get("/jobs", headers={"X-API-Key": key})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/jobs/{id}"),
        ("get", "/jobs/{id}/history"),
        ("post", "/jobs/{id}/cancel"),
    ],
)
def test_other_project_job_is_404(auth_client, method, path):
    alpha, beta = new_key(auth_client, "alpha"), new_key(auth_client, "beta")
    job_id = auth_client.post("/jobs", json=JOB, headers=bearer(alpha)).json()["id"]
    url = path.format(id=job_id)
    response = getattr(auth_client, method)(url, headers=bearer(beta))
    assert response.status_code == 404
    assert (
        auth_client.get(f"/jobs/{job_id}", headers=bearer(alpha)).json()["status"]
        == "queued"
    )


def test_list_shows_only_own_project(auth_client):
    alpha, beta = new_key(auth_client, "alpha"), new_key(auth_client, "beta")
    auth_client.post("/jobs", json=JOB, headers=bearer(alpha))
    beta_id = auth_client.post("/jobs", json=JOB, headers=bearer(beta)).json()["id"]
    listing = auth_client.get("/jobs", headers=bearer(beta)).json()
    assert [job["id"] for job in listing["items"]] == [beta_id]
    assert listing["total"] == 1


def test_key_is_stored_as_sha256_only(auth_client):
    key = new_key(auth_client, "alpha")
    with auth_client.app.state.sessions() as session:
        row = session.scalar(select(ApiKey))
    assert row.key_sha256 == hashlib.sha256(key.encode()).hexdigest()
    assert key not in (row.prefix, row.key_sha256, row.project)


def test_auth_off_uses_default_project(client):
    job = client.post("/jobs", json=JOB).json()
    assert job["project"] == "default"


def test_auth_off_logs_warning_at_start(settings, caplog):
    with caplog.at_level(logging.WARNING, logger="api.lifespan"):
        with TestClient(create_app(settings)):
            pass
    assert "authentication is off (VELOTRAIN_AUTH=off)" in caplog.text


def test_auth_default_is_off():
    assert Settings().auth == "off"


@pytest.mark.slow
def test_keys_create_command_prints_working_key(tmp_path):
    env = embedded_env(tmp_path / "var")

    def velotrain(*args: str) -> str:
        command = [sys.executable, "-m", "velotrain.cli", *args]
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    velotrain("migrate")
    key = velotrain("keys", "create", "--project", "gamma").strip()
    listing = velotrain("keys", "list")
    settings = Settings(data_dir=tmp_path / "var", auth="on")
    with TestClient(create_app(settings)) as client:
        job = client.post("/jobs", json=JOB, headers=bearer(key)).json()
    assert key.startswith("vt_")
    assert job["project"] == "gamma"
    assert key[:10] in listing
    assert key not in listing
