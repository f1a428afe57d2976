"""Alembic's entry point: migrates the connection `gateway.migrations.upgrade` hands over,
inside that caller's transaction."""

from alembic import context

from gateway.migrations import target_metadata

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=target_metadata(),
    # SQLite alters a table by copying it; Alembic's batch mode does that for us.
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
