import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from db.engine import make_engine
from db.migrate import alembic_config, downgrade_to_base, upgrade_to_head
from db.models import Base


@pytest.fixture
def database_url(backend, tmp_path) -> str:
    """Return an empty database: a SQLite file, or a fresh PostgreSQL database."""
    return backend.database_url or f"sqlite:///{tmp_path / 'empty.db'}"


def test_upgrade_and_downgrade_empty_database(database_url):
    upgrade_to_head(database_url)
    engine = make_engine(database_url)
    assert {"jobs", "epoch_history"} <= set(inspect(engine).get_table_names())
    downgrade_to_base(database_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()


def test_models_match_migrations(database_url):
    upgrade_to_head(database_url)
    engine = make_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_second_upgrade_stays_at_head(database_url):
    upgrade_to_head(database_url)
    upgrade_to_head(database_url)
    engine = make_engine(database_url)
    with engine.connect() as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
    engine.dispose()
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    assert revision == head
