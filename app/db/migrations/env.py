"""Alembic environment: migrations always run on a connection the service hands over.

:func:`app.db.migrate.upgrade` builds the Alembic config in code and passes its open
connection in ``config.attributes["connection"]``, so the same migrations run from the
repository, from an installed wheel and in the container, with no ``alembic.ini``.
"""

from alembic import context

from app.db.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through app.db.migrate, which supplies the connection")
context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
