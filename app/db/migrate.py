"""Bring a database to the newest schema: run by the service on every start-up.

The Alembic configuration is built in code from this package's location, so it works
the same from the repository, an installed wheel and the container. A new revision is
written by hand in ``migrations/versions`` (or drafted with
``alembic.command.revision(alembic_config(conn), "message", autogenerate=True)``);
``tests/test_store.py`` fails while the ORM tables and the migrated schema differ.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, text

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

#: PostgreSQL advisory-lock key that serialises migrations of servers starting together.
_MIGRATION_LOCK = 0x50414345  # "PACE"


def alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine) -> None:
    """Apply every migration not yet applied, in one transaction."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        command.upgrade(alembic_config(connection), "head")
