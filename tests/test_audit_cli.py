"""`signoff audit`: verify the local chains or a store's, purge under the retention policy, show and
set the policy; exit codes and messages as a script would see them."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from helpers import example_tickets, replica_ticket_id, sqlite_path_of, sqlite_url
from sqlalchemy import select

from app.cli import EXIT_OK, EXIT_REJECTED, EXIT_STORE, EXIT_USAGE, STORE_ENV, main
from app.core import audit, audit_store, retention
from app.core.domain import Action, Role
from app.core.replica import Replica
from app.core.settings import Settings
from app.core.store import Store


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@dataclass
class Installation:
    url: str
    home: Path
    replica_file: Path

    def replica(self) -> Replica:
        return Replica.open(self.replica_file)

    def set_role(self, role: str) -> None:
        settings = Settings.load(self.home)
        settings.role = role
        settings.reviewer = "root" if role == "admin" else "alice"
        settings.save(self.home)

    def events(self, event: str) -> list[dict]:
        with closing(sqlite3.connect(self.replica_file)) as conn:
            rows = conn.execute("SELECT payload FROM audit_log WHERE event = ? ORDER BY seq", (event,))
            return [json.loads(payload)["data"] for (payload,) in rows]


@pytest.fixture
def installation(
    tmp_path: Path, home: Path, examples_path: Path, capsys: pytest.CaptureFixture[str]
) -> Iterator[Installation]:
    """A store with decisions from this installation, its log pushed with a checkpoint."""
    url = sqlite_url(tmp_path)
    assert run(capsys, "init-store", "--store", url)[0] == EXIT_OK
    assert run(capsys, "ingest", str(examples_path), "--store", url)[0] == EXIT_OK
    assert run(capsys, "sync", "--store", url)[0] == EXIT_OK
    [replica_file] = sorted((home / "replicas").glob("*.sqlite3"))
    replica = Replica.open(replica_file)
    store = Store.open(url)
    try:
        for ticket, action, reason in zip(
            example_tickets()[:3],
            (Action.APPROVE, Action.REJECT, Action.APPROVE),
            ("ai_correct", "stale_data", "ai_correct"),
            strict=True,
        ):
            tid = replica_ticket_id(replica, ticket["external_id"])
            replica.record_decision(tid, action, reason, reviewer="alice", role=Role.REVIEWER, note="n")
        assert run(capsys, "sync", "--store", url)[0] == EXIT_OK
        assert audit_store.push_entries(replica, store, label="alice").ok
    finally:
        store.close()
        replica.close()
    yield Installation(url, home, replica_file)


def test_verify_store_checks_every_chain_and_this_installation_against_it(
    installation: Installation, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run(capsys, "audit", "verify", "--store", installation.url)
    assert (code, err) == (EXIT_OK, "")
    assert "audit chain OK: 6 entries" in out and "6 confirmed by 1 checkpoints" in out
    assert "store audit trail OK: 1 installations, 6 entries checked" in out
    assert f"this installation ({installation.replica_file.name}) against the store: audit chain OK" in out
    # $SIGNOFF_STORE alone keeps `audit verify` local: only an explicit --store goes remote.
    monkeypatch.setenv(STORE_ENV, installation.url)
    code, out, _ = run(capsys, "audit", "verify")
    assert code == EXIT_OK and out.startswith(f"{installation.replica_file.name}: audit chain OK")


def test_verify_store_names_the_first_bad_entry(
    installation: Installation, capsys: pytest.CaptureFixture[str]
) -> None:
    path = sqlite_path_of(installation.url)
    assert path is not None
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("DROP TRIGGER audit_entries_no_update")
        conn.execute("UPDATE audit_entries SET reason_code = 'ai_correct' WHERE seq = 2")
        conn.commit()
    code, out, _ = run(capsys, "audit", "verify", "--store", installation.url)
    assert code == EXIT_REJECTED
    assert "audit chain BROKEN at entry 2: hash does not match" in out
    assert "store audit trail BROKEN" in out


def test_a_local_log_cut_short_shows_only_against_the_store(
    installation: Installation, capsys: pytest.CaptureFixture[str]
) -> None:
    with closing(sqlite3.connect(installation.replica_file)) as conn:
        for trigger in ("audit_log_no_delete", "audit_head_forward"):
            conn.execute(f"DROP TRIGGER {trigger}")
        conn.execute("DELETE FROM audit_log WHERE seq > 4")
        head = conn.execute("SELECT hash FROM audit_log WHERE seq = 4").fetchone()[0]
        conn.execute("UPDATE audit_head SET size = 4, hash = ?", (head,))
        conn.commit()
    assert run(capsys, "audit", "verify")[0] == EXIT_OK  # the local chain alone looks whole
    code, out, _ = run(capsys, "audit", "verify", "--store", installation.url)
    assert code == EXIT_REJECTED
    assert "against the store: audit chain BROKEN at entry 5: the store holds entry 5" in out


def test_verify_store_when_the_store_is_unreachable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "audit", "verify", "--store", sqlite_url(tmp_path / "gone"))
    assert code == EXIT_STORE and "cannot reach the store" in err


def test_policy_is_shown_set_by_admins_and_audited(
    installation: Installation, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "audit", "policy", "--store", installation.url)
    assert (code, out) == (
        EXIT_OK,
        "retention policy: interaction text kept for ever; decision logs kept for ever; purge by: admin\n",
    )
    installation.set_role("reviewer")
    code, _, err = run(capsys, "audit", "policy", "--store", installation.url, "--interaction-days", "30")
    assert code == EXIT_REJECTED and "only an administrator" in err
    installation.set_role("admin")
    argv = [
        "audit",
        "policy",
        "--store",
        installation.url,
        "--interaction-days",
        "30",
        "--decision-log-days",
        "90",
    ]
    code, out, _ = run(capsys, *argv)
    assert (code, out) == (
        EXIT_OK,
        "retention policy: interaction text kept 30 days; decision logs kept 90 days; purge by: admin\n",
    )
    [changed] = installation.events(audit.AuditEvent.POLICY_CHANGED)
    assert changed == {
        "changes": {
            "decision_log_days": {"from": None, "to": 90},
            "interaction_days": {"from": None, "to": 30},
        }
    }
    assert (
        run(capsys, "audit", "policy", "--store", installation.url, "--interaction-days", "soon")[0]
        == EXIT_USAGE
    )
    assert (
        run(capsys, "audit", "policy", "--store", installation.url, "--purge-roles", "root")[0]
        == EXIT_REJECTED
    )


def test_purge_by_the_policy(
    installation: Installation, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.open(installation.url)
    retention.save_policy(
        store, retention.RetentionPolicy(interaction_days=1, decision_log_days=1), actor="root", role="admin"
    )
    store.close()
    real_utcnow = retention.utcnow
    monkeypatch.setattr(retention, "utcnow", lambda: real_utcnow() + timedelta(days=3))  # three days on
    installation.set_role("reviewer")
    code, _, err = run(capsys, "audit", "purge", "--store", installation.url)
    assert code == EXIT_REJECTED and "lets admin purge, not reviewer" in err
    installation.set_role("admin")
    code, out, _ = run(capsys, "audit", "purge", "--store", installation.url, "--dry-run")
    assert code == EXIT_OK and out.startswith("retention purge would remove: interaction text of 3 tickets")
    assert installation.events(audit.AuditEvent.RETENTION_PURGE) == []
    code, out, _ = run(capsys, "audit", "purge", "--store", installation.url)
    assert code == EXIT_OK and out.startswith("retention purge removed: interaction text of 3 tickets")
    [purge] = installation.events(audit.AuditEvent.RETENTION_PURGE)
    assert (purge["scope"], purge["tickets"], purge["notes"]) == ("store", 3, 3)
    code, out, _ = run(capsys, "audit", "verify", "--store", installation.url)
    assert code == EXIT_OK, out
    store = Store.open(installation.url)
    try:
        with store.engine.connect() as conn:
            notes = conn.execute(
                select(audit_store.ENTRIES.c.payload).where(audit_store.ENTRIES.c.payload.is_not(None))
            ).all()
        assert notes == []  # every pushed payload was older than the cut-off
    finally:
        store.close()
