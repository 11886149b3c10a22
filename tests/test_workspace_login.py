"""The review window's login check, as open_workspace applies it on a Postgres store with roles."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from test_roles_postgres import Secured, secured  # noqa: F401  (the fixture, shared)

from app.core import audit, roles
from app.core.domain import Role
from app.core.replica import replica_path
from app.core.workspace import open_workspace


def test_a_superuser_is_refused_and_never_falls_back_to_offline_work(secured: Secured, home: Path) -> None:  # noqa: F811
    # A replica of this store exists: an unreachable store would open it offline; a refusal must not.
    open_workspace(home, secured.admin_url).close()
    with pytest.raises(roles.LoginRefused, match="superuser"):
        open_workspace(home, secured.admin_url, login=True)


def test_allow_superuser_opens_in_development_mode(secured: Secured, home: Path) -> None:  # noqa: F811
    workspace = open_workspace(home, secured.admin_url, login=True, allow_superuser=True)
    try:
        assert workspace.development and workspace.store is not None
    finally:
        workspace.close()


def test_a_reviewer_works_under_its_login_and_its_group_role(secured: Secured, home: Path) -> None:  # noqa: F811
    # Whatever name and role were saved, the store's word wins: it checks decisions against them.
    workspace = open_workspace(home, secured.url("erin"), reviewer="someone-else", login=True)
    try:
        assert (workspace.reviewer, workspace.role, workspace.development) == (
            "erin",
            Role.ESCALATION_MANAGER,
            False,
        )
        with workspace.replica.engine.connect() as conn:
            actors = conn.execute(
                select(audit.AUDIT.c.actor).where(audit.AUDIT.c.event == audit.AuditEvent.STORE_OPENED)
            ).scalars()
            assert list(actors) == ["erin"]
    finally:
        workspace.close()
    assert replica_path(home, workspace.replica.store_id).exists()


def test_headless_commands_are_not_held_to_the_window_check(secured: Secured, home: Path) -> None:  # noqa: F811
    workspace = open_workspace(home, secured.admin_url)  # init-store, setup-postgres and the like
    try:
        assert workspace.store is not None and not workspace.development
    finally:
        workspace.close()
