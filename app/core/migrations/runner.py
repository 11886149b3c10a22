"""Runs the store's and the replica's Alembic migrations from code, on a given engine."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

Which = Literal["store", "replica"]
_HERE = Path(__file__).parent


def _config(which: Which) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_HERE / which))
    return config


def head_revision(which: Which) -> str:
    head = ScriptDirectory.from_config(_config(which)).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine, which: Which) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, which: Which) -> None:
    config = _config(which)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def known_revisions(which: Which) -> set[str]:
    return {script.revision for script in ScriptDirectory.from_config(_config(which)).walk_revisions()}
