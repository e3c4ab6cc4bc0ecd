"""Alembic's environment for the alert state: runs the migrations on the connection that
`repoclimate.alerts.state.database` passes in (inside its write transaction), or on the
database at ``sqlalchemy.url`` for alembic commands run by hand."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from repoclimate.alerts.state.database import begin, create_state_engine
from repoclimate.alerts.state.schema import METADATA


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=METADATA,
        render_as_batch=True,  # SQLite alters a table by copying it; batch mode does that
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("the alert state's migrations run online only (on a connection)")
given = context.config.attributes.get("connection")
if isinstance(given, Connection):
    run(given)
else:
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection given and no sqlalchemy.url set")
    engine = create_state_engine(url)
    with engine.connect() as connection, connection.begin():
        begin(connection, write=True)
        run(connection)
    engine.dispose()
