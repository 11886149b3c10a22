"""The headless `signoff` subcommands, in-process through app.cli.main and once as `python -m app`."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    ROOT,
    SPEC_README,
    example_tickets,
    make_decision,
    make_ticket,
    numbered,
    replica_ticket_id,
    sqlite_url,
    write_jsonl,
)
from sqlalchemy import create_engine, text

from app.cli import EXIT_OK, EXIT_REJECTED, EXIT_STORE, EXIT_USAGE, STORE_ENV, main
from app.core.domain import Action, Role, parse_rfc3339
from app.core.replica import Replica
from app.core.store import Store

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def url(tmp_path: Path) -> str:
    return sqlite_url(tmp_path)


@pytest.fixture
def ready(url: str, capsys: pytest.CaptureFixture[str]) -> str:
    """A store made with `signoff init-store`."""
    assert run(capsys, "init-store", "--store", url)[0] == EXIT_OK
    return url


def spec_decision_fields() -> list[str]:
    """The field names of the `signoff.decision/1` table in the interchange contract."""
    section = SPEC_README.read_text(encoding="utf-8").split("## 2. Decisions out", 1)[1].split("\n## ", 1)[0]
    fields: list[str] = []
    for line in section.splitlines():
        if line.startswith("| `"):
            fields += re.findall(r"`([a-z_]+)`", line.split("|")[1])
    return fields


# --- init-store -----------------------------------------------------------------------------------


def test_init_store_creates_the_store_and_is_idempotent(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "init-store", "--store", url)
    assert (code, err) == (EXIT_OK, "")
    match = re.fullmatch(rf"store ready: {re.escape(url)} \(id (\S+)\)\n", out)
    assert match and UUID.match(match.group(1))
    code, again, _ = run(capsys, "init-store", "--store", url)
    assert (code, again) == (EXIT_OK, out)
    store = Store.open(url)
    try:
        assert store.store_id == match.group(1)
    finally:
        store.close()


def test_init_store_refuses_a_store_from_a_newer_signoff(
    ready: str, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = create_engine(ready)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 's9999'"))
    engine.dispose()
    code, out, err = run(capsys, "init-store", "--store", ready)
    assert (code, out) == (EXIT_STORE, "")
    assert err.startswith("signoff: ") and "newer Signoff (schema s9999)" in err


def test_store_option_before_or_after_the_subcommand(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before, after = sqlite_url(tmp_path, "before.sqlite3"), sqlite_url(tmp_path, "after.sqlite3")
    assert run(capsys, "--store", before, "init-store")[0] == EXIT_OK
    assert run(capsys, "init-store", "--store", after)[0] == EXIT_OK
    assert (tmp_path / "before.sqlite3").exists() and (tmp_path / "after.sqlite3").exists()
    examples = write_jsonl(tmp_path / "t.jsonl", example_tickets())
    assert run(capsys, "--store", before, "ingest", str(examples))[0] == EXIT_OK
    assert run(capsys, "ingest", str(examples), "--store", after)[0] == EXIT_OK
    # Given in both places, the one after the subcommand wins.
    code, out, _ = run(
        capsys, "--store", "sqlite:////nonexistent/x.db", "ingest", "--store", after, str(examples)
    )
    assert (code, out.strip().endswith("0 new, 0 updated, 5 unchanged, 0 rejected")) == (EXIT_OK, True)


def test_signoff_store_env_var_is_honoured(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(STORE_ENV, url)
    code, out, _ = run(capsys, "init-store")
    assert code == EXIT_OK and url in out
    examples = write_jsonl(tmp_path / "t.jsonl", example_tickets())
    assert run(capsys, "ingest", str(examples))[0] == EXIT_OK
    # --store beats the environment.
    other = sqlite_url(tmp_path, "other.sqlite3")
    code, out, _ = run(capsys, "init-store", "--store", other)
    assert code == EXIT_OK and other in out
    store = Store.open(url)
    try:
        assert store.ticket_count() == 5
    finally:
        store.close()


# --- ingest ---------------------------------------------------------------------------------------


def test_ingest_a_clean_file(ready: str, examples_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "ingest", "--store", ready, str(examples_path))
    assert (code, err) == (EXIT_OK, "")
    assert out == f"{examples_path}: 5 tickets read: 5 new, 0 updated, 0 unchanged, 0 rejected\n"
    code, out, _ = run(capsys, "ingest", "--store", ready, str(examples_path))
    assert code == EXIT_OK and out.endswith("0 new, 0 updated, 5 unchanged, 0 rejected\n")


def test_ingest_reports_bad_lines_and_keeps_the_good_ones(
    ready: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tickets = example_tickets()
    bad_confidence, unknown_field, no_workflow = tickets[1], tickets[2], tickets[3]
    bad_confidence["ai"]["confidence"] = 1.5
    unknown_field["ai"]["colour"] = "red"
    del no_workflow["workflow"]
    lines = [tickets[0], "{not json", bad_confidence, "", unknown_field, no_workflow, tickets[4], "[]"]
    name = str(write_jsonl(tmp_path / "mixed.jsonl", lines))
    code, out, err = run(capsys, "ingest", "--store", ready, name)
    assert code == EXIT_REJECTED
    expected = [(2, "$"), (3, "ai.confidence"), (5, "ai.colour"), (6, "workflow"), (8, "$")]
    err_lines = err.splitlines()
    assert len(err_lines) == len(expected)
    for line, (number, path) in zip(err_lines, expected, strict=True):
        prefix = f"{name}:{number}: {path}: "
        assert line.startswith(prefix), line
        assert line[len(prefix) :].strip()  # a message follows
    assert out == f"{name}: 7 tickets read: 2 new, 0 updated, 0 unchanged, 5 rejected\n"
    store = Store.open(ready)
    try:
        assert store.ticket_count() == 2  # the valid lines, stored despite the bad ones
    finally:
        store.close()


def test_ingest_reports_a_ticket_the_store_refuses(
    ready: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ticket = make_ticket()
    store = Store.open(ready)
    try:
        store.ingest(numbered([ticket]))
        store.push_decisions([make_decision(ticket)])
    finally:
        store.close()
    changed = make_ticket(exception__summary="Company size now known")
    name = str(write_jsonl(tmp_path / "again.jsonl", [make_ticket(external_id="new-1"), changed]))
    code, out, err = run(capsys, "ingest", "--store", ready, name)
    assert code == EXIT_REJECTED
    assert err.startswith(f"{name}:2: external_id: ticket crm-lead-agent/lead-2026-004211 is already decided")
    assert out == f"{name}: 2 tickets read: 1 new, 0 updated, 0 unchanged, 1 rejected\n"


def test_ingest_usage_errors(ready: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "nope.jsonl")
    code, out, err = run(capsys, "ingest", "--store", ready, missing)
    assert (code, out, err) == (EXIT_USAGE, "", f"signoff: {missing}: no such file\n")
    examples = str(write_jsonl(tmp_path / "t.jsonl", example_tickets()))
    code, out, err = run(capsys, "ingest", examples)
    assert (code, out) == (EXIT_USAGE, "")
    assert "no store given" in err and "--store" in err and STORE_ENV in err


def test_ingest_into_a_database_that_is_no_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty.sqlite3").touch()
    examples = str(write_jsonl(tmp_path / "t.jsonl", example_tickets()))
    code, out, err = run(capsys, "ingest", "--store", sqlite_url(tmp_path, "empty.sqlite3"), examples)
    assert (code, out) == (EXIT_STORE, "")
    assert "signoff init-store" in err


# --- export, sync and audit ---------------------------------------------------------------------


def _decide_everything(home: Path, store_id: str) -> list[Any]:
    replica = Replica.open(home / "replicas" / f"{store_id}.sqlite3")
    try:
        made = []
        for ticket, (action, reason) in zip(
            example_tickets(),
            [
                (Action.APPROVE, "ai_correct"),
                (Action.REJECT, "policy_legal"),
                (Action.CLARIFY, "conflicting_data"),
                (Action.REJECT, "misread_intent"),
                (Action.APPROVE, "verified_manually"),
            ],
            strict=True,
        ):
            tid = replica_ticket_id(replica, ticket["external_id"])
            note = "Events say otherwise — why?" if action == Action.CLARIFY else None
            made.append(
                replica.record_decision(tid, action, reason, reviewer="zoë", role=Role.REVIEWER, note=note)
            )
        return made
    finally:
        replica.close()


@pytest.fixture
def decided(ready: str, home: Path, examples_path: Path, capsys: pytest.CaptureFixture[str]) -> list[Any]:
    """Five decisions recorded in this home's replica and synced to the store via the CLI."""
    assert run(capsys, "ingest", "--store", ready, str(examples_path))[0] == EXIT_OK
    code, out, _ = run(capsys, "sync", "--store", ready)
    assert (code, out) == (EXIT_OK, "sync: pushed 0, pulled 5\n")
    store = Store.open(ready)
    store_id = store.store_id
    store.close()
    decisions = _decide_everything(home, store_id)
    code, out, _ = run(capsys, "sync")  # the store is remembered from the first sync
    assert (code, out) == (EXIT_OK, "sync: pushed 5, pulled 5\n")
    return decisions


def test_export_decisions_prints_the_contract_records(
    ready: str, decided: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "export", "decisions", "--store", ready)
    assert (code, err) == (EXIT_OK, "exported 5 decisions\n")  # the count on stderr, records on stdout
    records = [json.loads(line) for line in out.splitlines()]
    fields = spec_decision_fields()
    assert "decision_id" in fields and "ai" in fields and len(fields) == 14
    by_id = {d.decision_id: d for d in decided}
    assert [r["decision_id"] for r in records] == [d.decision_id for d in decided]
    for record in records:
        assert list(record) == fields  # every field of the table, in its order, nothing else
        decision = by_id[record["decision_id"]]
        assert record["schema"] == "signoff.decision/1"
        assert UUID.match(record["decision_id"]) and UUID.match(record["client_id"])
        assert record["action"] in {"approve", "reject", "clarify", "escalate"}
        assert record["status"] in {"final", "superseded", "conflict"}
        assert record["decided_at"].endswith("Z")
        assert parse_rfc3339(record["decided_at"]) == decision.decided_at.replace(
            microsecond=decision.decided_at.microsecond // 1000 * 1000
        )
        assert set(record["ai"]) == {"model", "model_version", "confidence", "recommended_action"}
        assert (record["action"], record["reason_code"], record["reviewer"], record["role"]) == (
            decision.action,
            decision.reason_code,
            "zoë",
            "reviewer",
        )
        assert record["note"] == decision.note
    assert records[1]["ai"] == {
        "model": "ask-recommender",
        "model_version": "3.4.0",
        "confidence": 0.93,
        "recommended_action": "set_ask_amount",
    }
    assert "zoë" in out and "—" in out  # UTF-8 as is, not \u escapes


def test_export_to_a_file(
    ready: str, decided: list[Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "decisions.jsonl"
    code, out, err = run(capsys, "export", "decisions", "--store", ready, "-o", str(target))
    assert (code, out, err) == (EXIT_OK, "", f"exported 5 decisions to {target}\n")
    assert len(target.read_text(encoding="utf-8").splitlines()) == 5


def test_export_from_an_empty_store(ready: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "export", "decisions", "--store", ready) == (EXIT_OK, "", "exported 0 decisions\n")


def test_audit_verify_names_the_tampered_entry(
    decided: list[Any], home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "audit", "verify")
    [replica_file] = sorted((home / "replicas").glob("*.sqlite3"))
    assert code == EXIT_OK
    assert out.startswith(f"{replica_file.name}: audit chain OK: 10 entries")  # 5 recorded + 5 pushed
    with closing(sqlite3.connect(replica_file)) as conn:
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3")
        conn.commit()
    code, out, _ = run(capsys, "audit", "verify")
    assert code != EXIT_OK
    assert f"{replica_file.name}: audit chain BROKEN at entry 3" in out


def test_audit_verify_without_any_replica(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "audit", "verify", "--home", str(home))
    assert (code, out) == (EXIT_OK, f"no audit log under {home} yet\n")


def test_sync_prints_what_the_store_refused(
    ready: str, home: Path, examples_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "ingest", "--store", ready, str(examples_path))
    assert run(capsys, "sync", "--store", ready)[0] == EXIT_OK
    [replica_file] = sorted((home / "replicas").glob("*.sqlite3"))
    replica = Replica.open(replica_file)
    try:
        tid = replica_ticket_id(replica, "lead-2026-004211")
        decision = replica.record_decision(
            tid, Action.REJECT, "stale_data", reviewer="zoë", role=Role.REVIEWER
        )
    finally:
        replica.close()
    engine = create_engine(ready)
    with engine.begin() as conn:
        conn.execute(text("UPDATE reason_codes SET active = 0 WHERE code = 'stale_data'"))
    engine.dispose()
    code, out, _ = run(capsys, "sync", "--store", ready)
    assert code == EXIT_OK
    assert out.splitlines() == [
        "sync: pushed 0, pulled 0, refused by the store 1",
        f"  refused {decision.decision_id}: reason code 'stale_data' is retired or unknown for reject "
        "in workflow lead_qualification",
    ]


def test_sync_without_a_reachable_or_known_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "sync", "--store", sqlite_url(tmp_path / "gone", "store.sqlite3"))
    assert (code, out) == (EXIT_STORE, "")
    assert "cannot reach the store" in err
    code, out, err = run(capsys, "sync", "--home", str(tmp_path / "fresh-home"))
    assert (code, out) == (EXIT_USAGE, "")
    assert "no store given" in err


# --- as a real process ----------------------------------------------------------------------------


def test_python_dash_m_app_end_to_end(tmp_path: Path, examples_path: Path) -> None:
    url = sqlite_url(tmp_path)
    env = {**os.environ, STORE_ENV: url, "SIGNOFF_HOME": str(tmp_path / "home")}

    def signoff(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "app", *args],
            cwd=ROOT,
            env=env,
            input=stdin,
            capture_output=True,
            timeout=120,
        )

    assert signoff("init-store").returncode == EXIT_OK
    data = examples_path.read_bytes() + b'{"schema": "signoff.ticket/1"}\n'
    result = signoff("ingest", "-", stdin=data)
    assert result.returncode == EXIT_REJECTED
    [error] = result.stderr.decode().splitlines()
    assert error.startswith("<stdin>:6: ")
    assert result.stdout.decode() == "<stdin>: 6 tickets read: 5 new, 0 updated, 0 unchanged, 1 rejected\n"
    result = signoff("sync")
    assert (result.returncode, result.stdout.decode()) == (EXIT_OK, "sync: pushed 0, pulled 5\n")
    result = signoff("export", "decisions")
    assert (result.returncode, result.stdout) == (EXIT_OK, b"")
    result = signoff("--version")
    assert result.returncode == EXIT_OK and result.stdout.decode().startswith("signoff ")
