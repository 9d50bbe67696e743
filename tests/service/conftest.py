import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from db.migrate import upgrade_to_head
from velotrain.settings import Settings


@pytest.fixture
def settings(tmp_path) -> Settings:
    settings = Settings(data_dir=tmp_path / "var", max_epochs=200)
    settings.ensure_data_dir()
    upgrade_to_head(settings.resolved_database_url)
    return settings


@pytest.fixture
def client(settings) -> TestClient:
    with TestClient(create_app(settings)) as test_client:
        yield test_client
