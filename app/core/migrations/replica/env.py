"""Alembic environment: always driven programmatically by app.core.migrations.runner,
which hands over an open connection (so SQLite pragmas and locking stay ours)."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=context.config.attributes.get("target_metadata"),
    # SQLite cannot ALTER most things; batch mode rebuilds tables for it.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
