"""`signoff admin`: setup-postgres, add-user (passwords never on the command line) and the
per-store personal-data setting; and the global --allow-superuser flag."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from app.cli import build_parser
from app.cli import main as cli
from app.core import audit, pii, pii_access
from app.core.replica import Replica, replica_path
from app.core.settings import Settings
from app.core.store import Store


def _as_admin(home: Path) -> None:
    settings = Settings.load(home)
    settings.role = "admin"
    settings.save(home)


def test_allow_superuser_is_a_global_flag() -> None:
    assert build_parser().parse_args(["--allow-superuser"]).allow_superuser is True
    assert build_parser().parse_args([]).allow_superuser is False


def test_admin_pii_shows_and_sets_the_setting_on_sqlite(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert cli(["init-store", "--store", url]) == 0
    assert cli(["admin", "pii", "--store", url]) == 0
    out = capsys.readouterr().out
    assert "shown to: escalation_manager, admin" in out and "advisory" in out
    assert cli(["admin", "pii", "--store", url, "--see", "admin"]) == 1  # the settings' role: reviewer
    assert "only an administrator" in capsys.readouterr().err
    _as_admin(home)
    assert cli(["admin", "pii", "--store", url, "--see", "admin", "--reveal", "none"]) == 0
    assert cli(["admin", "pii", "--store", url, "--see", "volunteers"]) == 1
    store = Store.open(url)
    try:
        assert pii_access.load_policy(store) == pii.PiiPolicy(see=("admin",), reveal=())
    finally:
        store.close()


def test_a_setting_change_is_recorded_in_the_local_chain(tmp_path: Path, home: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert cli(["init-store", "--store", url]) == 0
    assert cli(["sync", "--store", url]) == 0  # this installation now has a log of that store
    _as_admin(home)
    assert cli(["admin", "pii", "--store", url, "--reveal", "reviewer,escalation_manager"]) == 0
    store_id = Settings.load(home).known_stores[url]
    replica = Replica.open(replica_path(home, store_id))
    try:
        with replica.engine.connect() as conn:
            (payload,) = conn.execute(
                audit.AUDIT.select()
                .with_only_columns(audit.AUDIT.c.payload)
                .where(audit.AUDIT.c.event == audit.AuditEvent.POLICY_CHANGED)
            ).scalars()
    finally:
        replica.close()
    assert json.loads(payload)["data"]["changes"] == {
        "pii_reveal_roles": {"from": ["reviewer"], "to": ["reviewer", "escalation_manager"]}
    }


def test_setup_postgres_on_sqlite_says_roles_are_advisory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert cli(["admin", "setup-postgres", "--store", url]) == 1
    assert "advisory" in capsys.readouterr().err


def test_setup_postgres_and_add_user_on_postgres(
    pg_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli(["admin", "setup-postgres", "--store", pg_url]) == 0  # creates the store too
    assert "row-level security forced" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret pass phrase\n"))
    assert (
        cli(["admin", "add-user", "--store", pg_url, "dora", "--role", "reviewer", "--password-stdin"]) == 0
    )
    assert "dora: created, role reviewer" in capsys.readouterr().out
    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            verifier = conn.execute(text("SELECT rolpassword FROM pg_authid WHERE rolname = 'dora'")).scalar()
    finally:
        engine.dispose()
    assert verifier.startswith("SCRAM-SHA-256$") and "s3cret" not in verifier
    # No terminal and no --password-stdin: refused, never a password argument.
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert cli(["admin", "add-user", "--store", pg_url, "dora"]) == 2
    assert "--password-stdin" in capsys.readouterr().err


def test_add_user_has_no_password_option_on_the_command_line() -> None:
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["admin", "add-user", "dora", "--password", "x"])
    options: Any = parser.parse_args(["admin", "add-user", "dora"])
    assert not hasattr(options, "password")
