"""Personal data kept apart: ingest splits each ticket into a masked payload and `ticket_pii`,
hashes and re-sends still work, existing stores are migrated, replicas never hold it, reveals
are logged, retention removes it, and the audit trail tells a mask from a purge."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from helpers import (
    BACKENDS,
    backend_url,
    example_tickets,
    make_decision,
    make_ticket,
    numbered,
    open_replica,
    pg_database,
    replica_ticket_id,
    sqlite_path_of,
    sync,
)
from sqlalchemy import Engine, create_engine, insert, select, text, update
from sqlalchemy.exc import DBAPIError

from app.core import audit, audit_store, governance, pii, pii_access, retention
from app.core.db import replica_engine
from app.core.domain import Action, Role, TicketStatus, utcnow
from app.core.migrations import runner
from app.core.pii_access import PiiRefused
from app.core.replica import TICKETS as REPLICA_TICKETS
from app.core.replica_models import PullStaging
from app.core.store import Store
from app.core.store_models import PiiReveal, StoreTicket, TicketPii, TicketRevision
from app.core.validation import canonical_json, content_hash, validate_ticket

TICKETS = StoreTicket.__table__
PII_TABLE = TicketPii.__table__
REVEALS = PiiReveal.__table__
REVISIONS = TicketRevision.__table__

pg_database = pytest.fixture(scope="module")(pg_database)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return backend_url(request, tmp_path)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store.initialize(store_url)
    yield store
    store.close()


def _row(store: Store, external_id: str) -> Any:
    with store.engine.connect() as conn:
        return conn.execute(select(TICKETS).where(TICKETS.c.external_id == external_id)).one()


def _personal_rows(store: Store, ticket_id: int) -> dict[int, dict[str, Any]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(PII_TABLE.c.revision, PII_TABLE.c.fields).where(PII_TABLE.c.ticket_id == ticket_id)
        ).all()
    return {r.revision: json.loads(r.fields) for r in rows}


# --- the fields and the mask -----------------------------------------------------------------------


def test_the_pii_fields_are_the_ones_the_schema_marks() -> None:
    assert pii.PII_FIELDS == (
        "subject.display_name",
        "subject.email",
        "subject.phone",
        "interaction.messages[].from",
    )


@pytest.mark.parametrize("index", range(5))
def test_split_masks_every_personal_value_and_restore_puts_it_back(index: int) -> None:
    ticket = example_tickets()[index]
    masked, values = pii.split(ticket)
    assert validate_ticket(masked) == []  # still a valid signoff.ticket/1: every view can show it
    text_of = canonical_json(masked)
    for value in values.values():
        assert str(value) not in text_of
    assert set(pii.masked_paths(masked)) == set(values)
    assert not pii.has_personal_values(masked)
    assert pii.restore(masked, values) == ticket
    assert ticket == example_tickets()[index]  # the input is left alone


def test_split_shared_gives_what_split_gives_and_leaves_the_input_alone() -> None:
    odd = make_ticket()
    odd["subject"]["email"] = ""
    odd["interaction"]["messages"] = [{"from": "a@example.org", "text": "one"}, {"text": "none"}, "x"]
    odd_shapes = [{}, {"subject": None}, {"interaction": {"messages": {"from": "a"}}}]
    for ticket in [*example_tickets(), odd, *odd_shapes]:
        before = canonical_json(ticket)
        masked, values = pii.split(ticket)
        shared, shared_values = pii.split_shared(ticket)
        assert canonical_json(shared) == canonical_json(masked)
        assert list(shared_values.items()) == list(values.items())  # same paths, same order
        assert canonical_json(ticket) == before


def test_paths_name_each_message_sender() -> None:
    ticket = make_ticket()
    ticket["interaction"]["messages"] = [
        {"from": "a@example.org", "text": "one"},
        {"text": "no sender"},
        {"from": "", "text": "empty sender"},
        {"from": "c@example.org", "text": "three"},
    ]
    _masked, values = pii.split(ticket)
    senders = {k: v for k, v in values.items() if k.startswith("interaction")}
    assert senders == {
        "interaction.messages[0].from": "a@example.org",
        "interaction.messages[3].from": "c@example.org",
    }
    assert pii.field_names(values) == [
        "subject.display_name",
        "subject.email",
        "interaction.messages[].from",
    ]


def test_the_setting_defaults_and_refuses_unknown_roles() -> None:
    policy = pii.PiiPolicy()
    assert policy.sees("escalation_manager") and policy.sees("admin") and not policy.sees("reviewer")
    assert policy.may_reveal("reviewer") and not policy.may_reveal("admin")
    assert pii.PiiPolicy.from_info(policy.to_info()) == policy
    assert pii.PiiPolicy.from_info({pii.SEE_KEY: "", pii.REVEAL_KEY: ""}) == pii.PiiPolicy((), ())
    with pytest.raises(pii.PiiPolicyError, match="volunteer"):
        pii.parse_roles("reviewer, volunteer")


# --- ingest ----------------------------------------------------------------------------------------


def test_ingest_stores_a_masked_payload_and_the_values_apart(store: Store) -> None:
    tickets = example_tickets()
    assert store.ingest(numbered(tickets)).inserted == 5
    for ticket in tickets:
        row = _row(store, ticket["external_id"])
        masked, values = pii.split(ticket)
        assert json.loads(row.payload) == masked
        assert row.content_hash == content_hash(ticket)  # the whole ticket as received
        assert row.title == ticket["exception"]["summary"]  # not personal: stays a column
        assert _personal_rows(store, row.id) == ({1: values} if values else {})


def test_resending_is_a_no_op_and_a_new_email_alone_is_a_new_revision(store: Store) -> None:
    ticket = make_ticket()
    store.ingest(numbered([ticket]))
    assert store.ingest(numbered([ticket])).unchanged == 1
    changed = make_ticket(subject__email="new.address@example.org")
    outcome = store.ingest(numbered([changed]))
    assert (outcome.updated, outcome.unchanged) == (1, 0)
    row = _row(store, ticket["external_id"])
    assert row.revision == 2
    kept = _personal_rows(store, row.id)
    assert kept[1]["subject.email"] == ticket["subject"]["email"]
    assert kept[2]["subject.email"] == "new.address@example.org"
    with store.engine.connect() as conn:
        older = conn.execute(select(REVISIONS.c.payload).where(REVISIONS.c.ticket_id == row.id)).scalar_one()
    assert ticket["subject"]["email"] not in older  # the kept revision is masked too


def test_the_same_ticket_twice_in_one_batch_keeps_the_later_values(store: Store) -> None:
    first, second = make_ticket(subject__phone="+1 555 0100"), make_ticket(subject__phone="+1 555 0199")
    outcome = store.ingest(numbered([first, second]))
    assert (outcome.inserted, outcome.updated) == (1, 1)
    row = _row(store, first["external_id"])
    assert _personal_rows(store, row.id) == {1: pii.split(second)[1]}
    assert row.content_hash == content_hash(second)


def test_a_ticket_without_personal_fields_has_no_pii_row(store: Store) -> None:
    ticket = make_ticket(subject__display_name=None, subject__email=None, subject__phone=None)
    for message in ticket["interaction"]["messages"]:
        message.pop("from", None)
    store.ingest(numbered([ticket]))
    row = _row(store, ticket["external_id"])
    assert json.loads(row.payload) == ticket
    assert _personal_rows(store, row.id) == {}


# --- replicas --------------------------------------------------------------------------------------


def test_no_personal_value_ever_reaches_a_replica(store: Store, tmp_path: Path) -> None:
    tickets = example_tickets()
    store.ingest(numbered(tickets))
    replica = open_replica(tmp_path, store)
    try:
        sync(replica, store)
        # A reveal shows values on screen; nothing of it may land in the replica file.
        ticket_id = replica_ticket_id(replica, tickets[0]["external_id"])
        shown = pii_access.reveal_for_review(store, replica, ticket_id, actor="alice", role=Role.REVIEWER)
        assert shown.values
        replica.close()
        content = replica.path.read_bytes() + b"".join(
            p.read_bytes() for p in replica.path.parent.glob(replica.path.name + "-*")
        )
    finally:
        replica.close()
    for ticket in tickets:
        for value in pii.split(ticket)[1].values():
            assert str(value).encode() not in content, value


# --- revealing -------------------------------------------------------------------------------------


def test_a_reviewer_reveal_is_logged_in_the_store_and_the_local_chain(store: Store, tmp_path: Path) -> None:
    ticket = example_tickets()[1]
    store.ingest(numbered([ticket]))
    replica = open_replica(tmp_path, store)
    try:
        sync(replica, store)
        ticket_id = replica_ticket_id(replica, ticket["external_id"])
        shown = pii_access.reveal_for_review(store, replica, ticket_id, actor="alice", role=Role.REVIEWER)
        assert pii.restore(json.loads(_row(store, ticket["external_id"]).payload), shown.values) == ticket
        log = pii_access.reveals(store, ticket_id)
        assert [(r["login"], r["role"], r["revision"]) for r in log] == [("alice", "reviewer", 1)]
        assert json.loads(log[0]["fields"]) == sorted(pii.field_names(shown.values))
        with replica.engine.connect() as conn:
            entries = (
                conn.execute(
                    select(audit.AUDIT.c.payload).where(audit.AUDIT.c.event == audit.AuditEvent.PII_REVEALED)
                )
                .scalars()
                .all()
            )
            assert audit.verify(conn).ok
        data = json.loads(entries[0])["data"]
        assert data["fields"] == shown.fields and data["where"] == "review"
        assert ticket["subject"]["email"] not in entries[0]  # the log names fields, never values
    finally:
        replica.close()


def test_a_role_that_sees_personal_data_reads_it_without_a_reveal(store: Store) -> None:
    ticket = example_tickets()[0]
    store.ingest(numbered([ticket]))
    ticket_id = _row(store, ticket["external_id"]).id
    shown = pii_access.personal_data(store, ticket_id, role="escalation_manager")
    assert shown.values == pii.split(ticket)[1]
    assert pii_access.reveals(store) == []
    with pytest.raises(PiiRefused):
        pii_access.personal_data(store, ticket_id, role="reviewer")


def test_reveal_follows_the_setting_and_the_reviewer_queues(store: Store) -> None:
    store.ingest(
        numbered(
            [make_ticket(external_id="open"), make_ticket(external_id="esc", routing={"queue": "escalation"})]
        )
    )
    open_id, escalated_id = _row(store, "open").id, _row(store, "esc").id
    with pytest.raises(PiiRefused, match="not visible to reviewers"):
        pii_access.reveal(store, escalated_id, login="alice", role="reviewer")
    assert pii_access.reveal(store, escalated_id, login="erin", role="escalation_manager").values
    pii_access.save_policy(store, pii.PiiPolicy(see=("admin",), reveal=()), role="admin")
    with pytest.raises(PiiRefused, match="neither see nor reveal"):
        pii_access.reveal(store, open_id, login="alice", role="reviewer")
    assert pii_access.reveals(store) == []  # roles that see it by setting leave no reveal row


def test_only_an_admin_changes_the_setting_and_the_change_is_reported(store: Store) -> None:
    wanted = pii.PiiPolicy(see=("admin",), reveal=("reviewer", "escalation_manager"))
    with pytest.raises(PiiRefused):
        pii_access.save_policy(store, wanted, role="escalation_manager")
    changes = pii_access.save_policy(store, wanted, role="admin")
    assert changes == {
        "pii_roles": (["escalation_manager", "admin"], ["admin"]),
        "pii_reveal_roles": (["reviewer"], ["reviewer", "escalation_manager"]),
    }
    assert pii_access.load_policy(store) == wanted


def test_the_reveal_log_is_append_only(store: Store) -> None:
    store.ingest(numbered([make_ticket()]))
    pii_access.reveal(store, _row(store, make_ticket()["external_id"]).id, login="alice", role="reviewer")
    for statement in ("UPDATE pii_reveals SET login = 'mallory'", "DELETE FROM pii_reveals"):
        with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.execute(text(statement))


# --- retention and the audit trail -----------------------------------------------------------------


def test_a_retention_purge_removes_the_personal_values_too(store: Store) -> None:
    ticket = make_ticket()
    store.ingest(numbered([ticket]))
    store.ingest(numbered([make_ticket(subject__email="second@example.org")]))  # revision 2 keeps rev 1
    ticket_id = _row(store, ticket["external_id"]).id
    store.push_decisions([make_decision(ticket, ticket_revision=2)])
    retention.save_policy(store, retention.RetentionPolicy(interaction_days=1), actor="ada", role="admin")
    report = retention.purge_store(store, actor="ada", role="admin", now=utcnow() + timedelta(days=3))
    assert (report.tickets, report.revisions) == (1, 1)
    assert _personal_rows(store, ticket_id) == {}
    assert "second@example.org" not in _row(store, ticket["external_id"]).payload


def test_the_audit_trail_tells_a_masked_payload_from_a_purged_one(store: Store, tmp_path: Path) -> None:
    ticket = make_ticket()
    store.ingest(numbered([ticket]))
    replica = open_replica(tmp_path, store)
    try:
        sync(replica, store)
        ticket_id = replica_ticket_id(replica, ticket["external_id"])
        replica.record_decision(ticket_id, Action.APPROVE, "ai_correct", reviewer="alice", role=Role.REVIEWER)
        sync(replica, store)
        assert audit_store.push_entries(replica, store, label="alice").ok
        trail = governance.store_trail(store)
        (row,) = trail.page(governance.AuditQuery(event=audit.AuditEvent.DECISION_RECORDED))
        seen = trail.ticket_as_seen(row)
        assert not seen.purged and seen.note == "Revision 1, as seen."
        assert seen.ticket is not None and seen.ticket.payload["subject"]["email"] == pii.MASK
        assert trail.personal_values(ticket_id, 1) == pii.split(ticket)[1]
        assert governance.replica_trail(replica).personal_values(ticket_id, 1) is None
        retention.save_policy(store, retention.RetentionPolicy(interaction_days=1), actor="ada", role="admin")
        retention.purge_store(store, actor="ada", role="admin", now=utcnow() + timedelta(days=3))
        assert trail.ticket_as_seen(row).purged
        assert trail.personal_values(ticket_id, 1) == {}
        # An export of the whole trail carries no personal value.
        exported = tmp_path / "trail.jsonl"
        governance.export_view(trail, governance.AuditQuery(), exported, "jsonl")
        assert ticket["subject"]["email"] not in exported.read_text(encoding="utf-8")
    finally:
        replica.close()


# --- existing stores -------------------------------------------------------------------------------


def _at_revision(url: str, revision: str) -> Engine:
    engine = create_engine(url)
    config = runner._config("store")
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    return engine


def _downgrade(engine: Engine, revision: str) -> None:
    config = runner._config("store")
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def test_s0005_moves_personal_data_out_of_an_existing_store_and_back(store_url: str) -> None:
    engine = _at_revision(store_url, "s0004")
    tickets = example_tickets()
    now = utcnow()
    try:
        with engine.begin() as conn:
            for number, ticket in enumerate(tickets, start=1):
                conn.execute(
                    insert(TICKETS).values(
                        source=ticket.get("source", "default"),
                        external_id=ticket["external_id"],
                        workflow=ticket["workflow"],
                        created_at=now,
                        updated_at=now,
                        status="open",
                        queue="review",
                        priority=50,
                        confidence=0.5,
                        exception_code="x",
                        title="t",
                        revision=1,
                        content_hash=content_hash(ticket),
                        payload=canonical_json(ticket),
                        change_seq=number,
                    )
                )
            conn.execute(text("UPDATE counters SET value = 5"))
            # An update as an older Signoff made it: the trigger keeps revision 1 as it was.
            newer = {**tickets[0], "subject": {**tickets[0]["subject"], "email": "later@example.org"}}
            conn.execute(
                update(TICKETS)
                .where(TICKETS.c.external_id == tickets[0]["external_id"])
                .values(revision=2, content_hash=content_hash(newer), payload=canonical_json(newer))
            )
        with engine.begin() as conn:
            config = runner._config("store")
            config.attributes["connection"] = conn
            command.upgrade(config, "s0005")
        with engine.connect() as conn:
            rows = {r.external_id: r for r in conn.execute(select(TICKETS))}
            kept = {(r.ticket_id, r.revision): json.loads(r.fields) for r in conn.execute(select(PII_TABLE))}
            older = conn.execute(select(REVISIONS.c.payload)).scalar_one()
            counter = conn.execute(text("SELECT value FROM counters")).scalar_one()
            setting = dict(conn.execute(text("SELECT key, value FROM store_info")).all())
        first = rows[tickets[0]["external_id"]]
        assert kept[(first.id, 2)]["subject.email"] == "later@example.org"
        assert kept[(first.id, 1)]["subject.email"] == tickets[0]["subject"]["email"]
        assert tickets[0]["subject"]["email"] not in older and pii.MASK in older
        for ticket in tickets:
            row = rows[ticket["external_id"]]
            assert not pii.has_personal_values(json.loads(row.payload))
            assert row.change_seq > 5  # replicas pull the masked payload over their old copy
        assert counter == 5 + len(tickets)
        assert (setting["pii_roles"], setting["pii_reveal_roles"]) == ("escalation_manager,admin", "reviewer")
        # The revision trigger is back in force after the move.
        with pytest.raises(DBAPIError), engine.begin() as conn:
            conn.execute(update(REVISIONS).values(payload="{}"))
        _downgrade(engine, "s0004")
        with engine.connect() as conn:
            restored = {r.external_id: json.loads(r.payload) for r in conn.execute(select(TICKETS))}
            older = conn.execute(select(REVISIONS.c.payload)).scalar_one()
        assert restored[tickets[0]["external_id"]] == newer
        assert all(restored[t["external_id"]] == t for t in tickets[1:])
        assert json.loads(older) == tickets[0]
    finally:
        engine.dispose()
    path = sqlite_path_of(store_url)
    assert path is None or path.exists()


def test_a_store_opened_after_the_upgrade_reads_masked_tickets(store: Store) -> None:
    # The status quo for every reader of payloads: masked, decidable, and the AI block intact.
    ticket = example_tickets()[2]
    store.ingest(numbered([ticket]))
    pulled = store.pull_tickets(0)[0]
    payload = json.loads(pulled["payload"])
    assert payload["ai"] == ticket["ai"] and payload["exception"] == ticket["exception"]
    assert pulled["status"] == TicketStatus.OPEN


def test_r0005_masks_personal_data_in_an_existing_replica(tmp_path: Path) -> None:
    engine = replica_engine(str(tmp_path / "replica.sqlite3"))
    config = runner._config("replica")
    ticket = example_tickets()[1]
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "r0004")
        now = utcnow()
        with engine.begin() as conn:
            conn.execute(
                insert(REPLICA_TICKETS).values(
                    id=1,
                    source="s",
                    external_id=ticket["external_id"],
                    workflow=ticket["workflow"],
                    created_at=now,
                    updated_at=now,
                    status="open",
                    store_status="open",
                    queue="review",
                    priority=50,
                    confidence=0.5,
                    exception_code="x",
                    title="t",
                    search_text="t",
                    revision=1,
                    content_hash=content_hash(ticket),
                    payload=canonical_json(ticket),
                    change_seq=1,
                )
            )
            conn.execute(insert(PullStaging.__table__).values(id=1, row=canonical_json(ticket), change_seq=2))
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        with engine.connect() as conn:
            payload = conn.execute(select(REPLICA_TICKETS.c.payload)).scalar_one()
            staged = conn.execute(select(PullStaging.__table__)).all()
    finally:
        engine.dispose()
    assert json.loads(payload) == pii.split(ticket)[0]
    assert staged == []
