"""The governance questions, answered on a generated history whose answers are known: saved
queries, filters, keyset paging, the ticket as it was seen, and exports."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

import pytest
from audit_history import NOW, History, generate, rfc
from helpers import (
    BACKENDS,
    empty_pg_database,
    example_tickets,
    numbered,
    open_replica,
    pg_database,
    replica_ticket_id,
    sqlite_store,
    sqlite_url,
    sync,
)
from sqlalchemy import text

from app.core import audit, audit_store, governance
from app.core.domain import Action, Role
from app.core.governance import SAVED_QUERIES, AuditQuery, Trail
from app.core.store import Store

pg_database = pytest.fixture(scope="module")(pg_database)
SAVED = {q.key: q for q in SAVED_QUERIES}


# The history and the stores holding it are read-only for these tests: build them once.
@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    history = generate(tmp_path_factory.mktemp("history"))
    yield history
    history.close()


@pytest.fixture(scope="module", params=BACKENDS)
def store(
    request: pytest.FixtureRequest, history: History, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    if request.param == "postgres":
        url = request.getfixturevalue("pg_database")
        empty_pg_database(url)
    else:
        url = sqlite_url(tmp_path_factory.mktemp("store"))
    store = Store.initialize(url)
    for name, replica in history.logs.items():
        assert audit_store.push_entries(replica, store, label=name).ok
    yield store
    store.close()


@pytest.fixture(params=["store", "replica"])
def trail_and_facts(request: pytest.FixtureRequest, history: History, store: Store) -> tuple[Trail, list]:
    """The store's trail with every installation's decisions, or one replica's with its own."""
    if request.param == "store":
        return governance.store_trail(store), history.decisions
    replica = history.logs["desk-a"]
    return governance.replica_trail(replica), [d for d in history.decisions if d.installation == "desk-a"]


def everything(trail: Trail, query: AuditQuery) -> list[governance.TrailRow]:
    return [row for batch in trail.batches(query, size=37) for row in batch]


# --- the saved queries ------------------------------------------------------------------------------


def test_which_tickets_were_decided_last_week(trail_and_facts: tuple[Trail, list]) -> None:
    trail, facts = trail_and_facts
    query = SAVED["decided_last_week"].build(NOW)
    assert (rfc(query.since), rfc(query.until)) == ("2026-11-16T00:00:00.000Z", "2026-11-23T00:00:00.000Z")
    rows = everything(trail, query)
    expected = [d for d in facts if d.effective and query.since <= d.at < query.until]
    assert expected  # the history has some, and some undone or refused ones to leave out
    assert sorted(r.decision_id for r in rows) == sorted(d.decision_id for d in expected)
    assert {r.external_id for r in rows} == {d.external_id for d in expected}
    assert trail.count(query) == len(expected)


def test_which_ai_recommendations_were_overridden(trail_and_facts: tuple[Trail, list]) -> None:
    trail, facts = trail_and_facts
    rows = everything(trail, SAVED["overridden"].build(NOW))
    expected = {d.decision_id for d in facts if d.effective and d.action == "reject"}
    assert {r.decision_id for r in rows} == expected
    assert all(r.action == "reject" and r.event == audit.AuditEvent.DECISION_RECORDED for r in rows)
    undone_rejections = {d.decision_id for d in facts if not d.effective and d.action == "reject"}
    assert undone_rejections and not undone_rejections & {r.decision_id for r in rows}


def test_which_model_version_produced_the_most_rejections(store: Store, history: History) -> None:
    trail = governance.store_trail(store)
    saved = SAVED["rejections_by_model"]
    assert saved.ranks_model_versions
    ranking = trail.rejections_by_model_version(saved.build(NOW))
    assert ranking == history.rejections_by_version()
    assert ranking[0][0] == "2.0.0"
    # The ranking honours the other filters: only one workflow, only last week.
    since, until = governance.last_week(NOW)
    narrowed = AuditQuery(workflow="ask_amount", since=since, until=until)
    expected: dict[str, int] = {}
    for d in history.decisions:
        if d.effective and d.action == "reject" and d.workflow == "ask_amount" and since <= d.at < until:
            expected[d.model_version] = expected.get(d.model_version, 0) + 1
    assert dict(trail.rejections_by_model_version(narrowed)) == expected


def test_who_revealed_pii_and_when(store: Store, history: History) -> None:
    rows = everything(governance.store_trail(store), SAVED["pii_revealed"].build(NOW))
    expected = sorted(
        ((r.actor, rfc(r.at), r.external_id) for r in history.reveals), key=lambda x: x[1], reverse=True
    )
    assert [(r.actor, r.at, r.external_id) for r in rows] == expected
    assert all(r.details == "email (review)" for r in rows)


# --- filters and paging ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["actor", "action", "reason_code", "workflow", "model_version", "queue", "ticket"]
)
def test_each_filter_finds_exactly_its_decisions(trail_and_facts: tuple[Trail, list], name: str) -> None:
    trail, facts = trail_and_facts
    fact_name = "external_id" if name == "ticket" else name
    value = getattr(facts[len(facts) // 2], fact_name)
    query = AuditQuery(event=audit.AuditEvent.DECISION_RECORDED, **{name: value})
    expected = {d.decision_id for d in facts if getattr(d, fact_name) == value}
    assert {r.decision_id for r in everything(trail, query)} == expected
    assert trail.count(query) == len(expected)


def test_a_ticket_number_finds_the_ticket_too(trail_and_facts: tuple[Trail, list]) -> None:
    trail, facts = trail_and_facts
    ticket = facts[0]
    rows = everything(trail, AuditQuery(ticket=str(ticket.ticket_id)))
    assert rows and {r.ticket_id for r in rows} == {ticket.ticket_id}


def test_filters_combine_and_events_about_a_decision_inherit_its_facts(
    trail_and_facts: tuple[Trail, list],
) -> None:
    trail, facts = trail_and_facts
    d = facts[3]
    query = AuditQuery(actor=d.actor, workflow=d.workflow, model_version=d.model_version, action=d.action)
    rows = everything(trail, query)
    # The decision and what became of it (pushed, undone or refused) carry the same facts.
    mine = [r for r in rows if r.decision_id == d.decision_id]
    assert len(mine) == 2 and audit.AuditEvent.DECISION_RECORDED in {r.event for r in mine}
    expected = {
        x.decision_id
        for x in facts
        if (x.actor, x.workflow, x.model_version, x.action)
        == (d.actor, d.workflow, d.model_version, d.action)
    }
    assert {r.decision_id for r in rows} == expected


def test_a_date_range_is_inclusive_at_the_start_and_exclusive_at_the_end(
    trail_and_facts: tuple[Trail, list],
) -> None:
    trail, facts = trail_and_facts
    d = facts[5]
    exact = AuditQuery(
        event=audit.AuditEvent.DECISION_RECORDED, since=d.at, until=d.at + timedelta(seconds=1)
    )
    assert d.decision_id in {r.decision_id for r in everything(trail, exact)}
    before = AuditQuery(event=audit.AuditEvent.DECISION_RECORDED, since=d.at - timedelta(hours=1), until=d.at)
    assert d.decision_id not in {r.decision_id for r in everything(trail, before)}


def test_keyset_pages_cover_the_view_once_newest_first(
    trail_and_facts: tuple[Trail, list], history: History
) -> None:
    trail, _ = trail_and_facts
    query = AuditQuery()
    pages, after = [], None
    while page := trail.page(query, after, 25):
        pages.append(page)
        after = page[-1]
    rows = [r for page in pages for r in page]
    keys = [(r.at, r.client_id, r.seq) for r in rows]
    assert keys == sorted(keys, reverse=True)
    assert len(set(keys)) == len(keys) == trail.count(query)
    if trail.label.startswith("Shared store"):
        assert len(rows) == history.entries


def test_choices_offer_what_the_trail_holds(store: Store, history: History) -> None:
    choices = governance.store_trail(store).choices()
    assert choices.actors == sorted({d.actor for d in history.decisions})
    assert choices.model_versions == ["1.0.0", "1.1.0", "2.0.0"]
    assert audit.AuditEvent.PII_REVEALED in choices.events
    assert "reject" in choices.actions and "escalation" in choices.queues


def test_the_first_page_and_a_filtered_page_use_indexes(history: History) -> None:
    replica = history.logs["desk-a"]
    trail = governance.replica_trail(replica)
    with replica.engine.connect() as conn:
        for query in (AuditQuery(), AuditQuery(event=audit.AuditEvent.PII_REVEALED), AuditQuery(actor="bob")):
            stmt = trail.page_statement(query, None, 200)
            compiled = stmt.compile(conn, compile_kwargs={"literal_binds": True})
            plan = " ".join(str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
            assert "USING INDEX ix_audit_log_" in plan, plan
            assert "USE TEMP B-TREE FOR ORDER BY" not in plan, plan  # at most a sort within one instant


# --- the ticket as it was seen ----------------------------------------------------------------------


def test_a_decision_opens_the_ticket_as_its_reviewer_saw_it(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    tickets = example_tickets()
    store.ingest(numbered(tickets))
    replica = open_replica(tmp_path, store)
    try:
        sync(replica, store)
        first = replica_ticket_id(replica, tickets[0]["external_id"])
        replica.record_decision(
            first, Action.CLARIFY, "needs_more_info", reviewer="alice", role=Role.REVIEWER, note="Size?"
        )
        sync(replica, store)
        assert audit_store.push_entries(replica, store, label="alice").ok
        # The pipeline answers the question: new content, revision 2.
        tickets[0]["interaction"]["messages"].append(
            {"from": "priya", "at": "2026-11-21T10:00:00Z", "text": "We have 40 staff."}
        )
        store.ingest(numbered(tickets[:1]))
        trail = governance.store_trail(store)
        row = everything(trail, AuditQuery(event=audit.AuditEvent.DECISION_RECORDED))[0]
        seen = trail.ticket_as_seen(row)
        assert seen.ticket is not None and seen.ticket.revision == 1
        assert "Revision 1, as seen (since replaced)" in seen.note
        assert len(seen.ticket.payload["interaction"]["messages"]) == 1
        # Offline, the replica has only the current content, and says so.
        sync(replica, store)
        offline = governance.replica_trail(replica)
        local_row = everything(offline, AuditQuery(event=audit.AuditEvent.DECISION_RECORDED))[0]
        local_seen = offline.ticket_as_seen(local_row)
        assert local_seen.ticket is not None and local_seen.ticket.revision == 2
        assert "not kept offline" in local_seen.note
        store_event = everything(trail, AuditQuery(event=audit.AuditEvent.DECISION_PUSHED))[0]
        assert trail.ticket_as_seen(store_event).ticket is not None  # no hash recorded: current content
    finally:
        replica.close()
        store.close()


# --- export -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_writes_the_view(tmp_path: Path, store: Store, fmt: str) -> None:
    trail = governance.store_trail(store)
    query = SAVED["overridden"].build(NOW)
    seen: list[int] = []
    path = tmp_path / f"view.{fmt}"
    written = governance.export_view(trail, query, path, fmt, progress=lambda n: seen.append(n) or True)
    rows = everything(trail, query)
    assert written == len(rows) and seen[-1] == len(rows)
    if fmt == "jsonl":
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert records == [asdict(r) for r in rows]
    else:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            table = list(csv.reader(handle))
        assert table[0] == list(governance.EXPORT_FIELDS)
        assert [line[governance.EXPORT_FIELDS.index("decision_id")] for line in table[1:]] == [
            r.decision_id for r in rows
        ]
        # A note that looks like a formula is written so a spreadsheet shows it, not runs it.
        details = [line[governance.EXPORT_FIELDS.index("details")] for line in table[1:]]
        assert any(cell.startswith("'=HYPERLINK") for cell in details)
        assert not any(cell.startswith("=") for line in table for cell in line)


def test_a_cancelled_export_leaves_no_file(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "view.csv"
    result = governance.export_view(
        governance.store_trail(store), AuditQuery(), path, "csv", progress=lambda n: n < 1
    )
    assert result is None
    assert list(tmp_path.iterdir()) == [p for p in tmp_path.iterdir() if p.suffix == ".sqlite3" or p.is_dir()]
    assert not path.exists()


def test_export_batches_report_progress(tmp_path: Path, store: Store, history: History) -> None:
    job = governance.ExportJob(
        governance.store_trail(store), AuditQuery(), tmp_path / "all.jsonl", "jsonl", batch=100
    )
    progress = []
    while not job.done:
        progress.append(job.step())
    job.finish()
    assert progress[:3] == [100, 200, 300] and progress[-1] == history.entries
    assert len((tmp_path / "all.jsonl").read_text(encoding="utf-8").splitlines()) == history.entries
