from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from db.engine import make_engine
from db.migrate import downgrade_to_base, upgrade_to_head
from db.models import Base


def test_upgrade_and_downgrade_empty_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    upgrade_to_head(url)
    engine = make_engine(url)
    assert {"jobs", "epoch_history"} <= set(inspect(engine).get_table_names())
    downgrade_to_base(url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()


def test_models_match_migrations(tmp_path):
    url = f"sqlite:///{tmp_path / 'head.db'}"
    upgrade_to_head(url)
    engine = make_engine(url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()
