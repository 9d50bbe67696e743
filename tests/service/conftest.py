import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from db.migrate import upgrade_to_head
from tests.service.backends import Backend, backend_params, open_backend
from velotrain.settings import Settings


@pytest.fixture(params=backend_params())
def backend(request) -> Backend:
    """Run the test once on the embedded default and once on Redis + PostgreSQL."""
    with open_backend(request.param) as backend:
        yield backend


@pytest.fixture
def settings(backend, tmp_path) -> Settings:
    settings = backend.settings(tmp_path / "var", max_epochs=200)
    settings.ensure_data_dir()
    upgrade_to_head(settings.resolved_database_url)
    return settings


@pytest.fixture
def client(settings) -> TestClient:
    with TestClient(create_app(settings)) as test_client:
        yield test_client
