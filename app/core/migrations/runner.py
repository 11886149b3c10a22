"""Runs the store's and the replica's Alembic migrations from code, on a given engine.

Alembic (with Mako and Pygments behind it) takes a few hundred milliseconds to import, and every
start of the app opens the replica. So the common case, a database already at head, is answered
without it: the head is read straight from the version files (a linear chain, checked against
Alembic's own answer in the tests) and the current revision with one SELECT. Anything unusual
(no version table yet, an older or unknown revision, a version file this reader does not follow)
goes through Alembic as before.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sqlalchemy import Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

Which = Literal["store", "replica"]
_HERE = Path(__file__).parent
VERSION_TABLE = "alembic_version"
_REVISION = re.compile(r"""^revision\s*=\s*["']([^"']+)["']\s*$""", re.MULTILINE)
_DOWN_REVISION = re.compile(r"""^down_revision\s*=\s*(?:None|["']([^"']+)["'])\s*$""", re.MULTILINE)


def _config(which: Which) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_HERE / which))
    return config


def _linear_chain(which: Which) -> tuple[str, frozenset[str]] | None:
    """(head, every revision) read from the version files without Alembic (well under a
    millisecond: not cached, so a changed folder is always seen); None unless they form one
    simple chain (then Alembic answers)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted((_HERE / which / "versions").glob("*.py")):
        source = path.read_text(encoding="utf-8")
        revision, down = _REVISION.findall(source), _DOWN_REVISION.findall(source)
        if len(revision) != 1 or len(down) != 1 or revision[0] in revisions:
            return None
        revisions.add(revision[0])
        if down[0]:
            parents.add(down[0])
    heads = revisions - parents
    if len(heads) != 1 or not parents <= revisions or len(parents) != len(revisions) - 1:
        return None
    return heads.pop(), frozenset(revisions)


def _alembic_head(which: Which) -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config(which)).get_current_head()
    assert head is not None
    return head


def head_revision(which: Which) -> str:
    chain = _linear_chain(which)
    return chain[0] if chain is not None else _alembic_head(which)


def _stored_revision(engine: Engine) -> tuple[bool, str | None]:
    """(answered, revision) from the version table with one SELECT; not answered when the table
    holds several rows (branches: Alembic's error says what to do)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return True, None
        rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(rows) > 1:
        return False, None
    return True, (rows[0] if rows else None)


def current_revision(engine: Engine, which: Which) -> str | None:
    answered, revision = _stored_revision(engine)
    if answered:
        return revision
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, which: Which) -> None:
    chain = _linear_chain(which)
    if chain is not None:
        answered, revision = _stored_revision(engine)
        if answered and revision == chain[0]:
            return  # already at head: nothing for Alembic to do
    from alembic import command

    config = _config(which)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def known_revisions(which: Which) -> set[str]:
    chain = _linear_chain(which)
    if chain is not None:
        return set(chain[1])
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory.from_config(_config(which)).walk_revisions()}
