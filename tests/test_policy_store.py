"""Policies in the shared store: versions, inheritance, admins only, audited; ingest routes with
the active policy; automated ("auto") tickets are kept, counted and out of every human view."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import (
    BACKENDS,
    backend_url,
    make_ticket,
    numbered,
    open_replica,
    pg_database,
    store_ticket,
    sync,
)

from app.core import audit, policy, policy_store
from app.core.domain import Queue, QueueQuery, Role, TicketStatus
from app.core.policy import AUTO, Bands, Policy, PolicyError, Rule
from app.core.policy_store import NotAllowed, PolicyConflict
from app.core.replica import Replica
from app.core.store import Store

pg_database = pytest.fixture(scope="module")(pg_database)

CREATED = datetime(2026, 11, 20, 14, 3, 11, tzinfo=UTC)  # make_ticket's created_at

ESCALATE_FLAGS = Policy(
    rules=(
        Rule("Legal flags", Queue.ESCALATION, 95, 30, exception_codes=("policy_flag",)),
        *policy.DEFAULT_RULES,
    )
)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    store = Store.initialize(backend_url(request, tmp_path))
    yield store
    store.close()


@pytest.fixture
def replica(tmp_path: Path, store: Store) -> Iterator[Replica]:
    replica = open_replica(tmp_path, store)
    yield replica
    replica.close()


def save(store: Store, workflow: str, new: Policy, expected: int, role: Role = Role.ADMIN) -> int:
    saved = policy_store.save_policy(store, workflow, new, expected_version=expected, actor="ada", role=role)
    return saved.stored.version


def test_without_a_policy_the_defaults_apply_as_version_0(store: Store) -> None:
    stored = policy_store.load_policy(store, "lead_qualification")
    assert (stored.version, stored.own_version, stored.source) == (0, 0, None)
    assert stored.policy == policy.DEFAULT_POLICY
    assert policy_store.policy_history(store, "lead_qualification") == []


def test_saving_makes_versions_and_the_highest_is_active(store: Store) -> None:
    assert save(store, "lead_qualification", ESCALATE_FLAGS, 0) == 1
    stricter = policy.with_rules(ESCALATE_FLAGS, (Rule("All human", Queue.HUMAN_ONLY, 70, 240),))
    assert save(store, "lead_qualification", stricter, 1) == 2
    active = policy_store.load_policy(store, "lead_qualification")
    assert (active.version, active.created_by, active.source) == (2, "ada", "lead_qualification")
    assert active.policy == stricter
    assert active.created_at is not None and active.created_at.utcoffset() == timedelta(0)
    history = policy_store.policy_history(store, "lead_qualification")
    assert [(h.version, h.policy) for h in history] == [(2, stricter), (1, ESCALATE_FLAGS)]


def test_a_workflow_without_its_own_policy_uses_the_store_wide_one(store: Store) -> None:
    save(store, "*", ESCALATE_FLAGS, 0)
    inherited = policy_store.load_policy(store, "ask_amount")
    assert (inherited.version, inherited.source, inherited.own_version) == (1, "*", 0)
    assert inherited.inherited and inherited.policy == ESCALATE_FLAGS
    save(store, "ask_amount", policy.DEFAULT_POLICY, inherited.own_version)
    own = policy_store.load_policy(store, "ask_amount")
    assert (own.version, own.source, own.inherited) == (1, "ask_amount", False)


def test_a_stale_editor_cannot_overwrite_a_newer_version(store: Store) -> None:
    save(store, "lead_qualification", ESCALATE_FLAGS, 0)
    with pytest.raises(PolicyConflict, match="ada saved version 1"):
        save(store, "lead_qualification", policy.DEFAULT_POLICY, 0)
    assert policy_store.load_policy(store, "lead_qualification").version == 1


def test_only_admins_save_and_invalid_policies_are_refused(store: Store) -> None:
    with pytest.raises(NotAllowed):
        save(store, "lead_qualification", ESCALATE_FLAGS, 0, role=Role.REVIEWER)
    with pytest.raises(NotAllowed):
        save(store, "lead_qualification", ESCALATE_FLAGS, 0, role=Role.ESCALATION_MANAGER)
    risky = Policy(rules=(Rule("Auto everything", AUTO, 0, None),))
    with pytest.raises(PolicyError, match="would automate high-risk tickets"):
        save(store, "lead_qualification", risky, 0)
    assert policy_store.policy_history(store, "lead_qualification") == []


def test_a_change_is_audited_with_its_workflow_version_and_diff(store: Store, replica: Replica) -> None:
    saved = policy_store.change_policy(
        store,
        replica,
        "lead_qualification",
        ESCALATE_FLAGS,
        expected_version=0,
        actor="ada",
        role=Role.ADMIN,
    )
    assert saved.stored.version == 1
    with replica.engine.connect() as conn:
        entries = conn.execute(
            audit.AUDIT.select().where(audit.AUDIT.c.event == audit.AuditEvent.POLICY_CHANGED)
        ).all()
    assert len(entries) == 1
    entry = entries[0]
    assert (entry.actor, entry.role, entry.workflow) == ("ada", "admin", "lead_qualification")
    data = json.loads(entry.payload)["data"]
    assert data["version"] == 1
    # Every rule moved down one place: each position is a change, with before and after.
    assert data["changes"]["rule 1"]["to"]["when"] == {"exception_codes": ["policy_flag"]}
    assert replica.verify_audit().ok


def test_ingest_routes_with_each_workflows_active_policy(store: Store) -> None:
    save(store, "lead_qualification", ESCALATE_FLAGS, 0)
    store.ingest(
        numbered(
            [
                make_ticket(external_id="flagged", exception__code="policy_flag"),
                make_ticket(external_id="other-flow", workflow="ask_amount", exception__code="policy_flag"),
            ]
        )
    )
    flagged = store_ticket(store, "flagged")
    assert (flagged.queue, flagged.priority, flagged.due_at) == (
        Queue.ESCALATION,
        95,
        CREATED + timedelta(minutes=30),
    )
    other = store_ticket(store, "other-flow")  # its workflow has no policy: the defaults
    assert (other.queue, other.due_at) == (Queue.REVIEW, CREATED + timedelta(hours=24))
    # A new version applies to the next ingest.
    banded = Policy(policy.DEFAULT_RULES, Bands(low_below=0.75, high_above=0.95))
    save(store, "lead_qualification", banded, 1)
    store.ingest(numbered([make_ticket(external_id="after")]))  # confidence 0.71: now "low"
    assert store_ticket(store, "after").queue == Queue.HUMAN_ONLY


def test_an_automated_ticket_is_kept_counted_and_out_of_human_views(store: Store, replica: Replica) -> None:
    confident = {"ai__confidence": 0.97, "risk__tier": "low"}
    store.ingest(
        numbered(
            [
                make_ticket(external_id="auto-1", **confident),
                make_ticket(external_id="auto-2", **confident),
                make_ticket(external_id="asked-for", routing={"queue": "review"}, **confident),
                make_ticket(external_id="plain"),
            ]
        )
    )
    row = store_ticket(store, "auto-1")
    assert (row.status, row.queue, row.due_at) == (AUTO, AUTO, None)
    assert store_ticket(store, "asked-for").status == TicketStatus.OPEN  # upstream asked for a person
    assert policy_store.auto_routed_counts(store) == {"lead_qualification": 2}
    sync(replica, store)
    for status in TicketStatus:
        shown = {replica.ticket(r.id).external_id for r in replica.queue_page(QueueQuery(status=status))}
        assert shown == ({"asked-for", "plain"} if status == TicketStatus.OPEN else set())
    # New content that needs a person brings it back as an open ticket.
    store.ingest(numbered([make_ticket(external_id="auto-1", ai__confidence=0.7)]))
    row = store_ticket(store, "auto-1")
    assert (row.status, row.queue, row.revision) == (TicketStatus.OPEN, Queue.REVIEW, 2)
    assert policy_store.auto_routed_counts(store) == {"lead_qualification": 1}


def test_admins_mark_reason_codes_escalating_and_it_is_audited(store: Store, replica: Replica) -> None:
    key = ("*", "reject", "compliance_concern")
    with pytest.raises(NotAllowed):
        policy_store.set_escalates(store, {key: True}, actor="bob", role=Role.REVIEWER)
    changes = policy_store.change_escalates(
        store, replica, {key: True, ("*", "reject", "policy_legal"): True}, actor="ada", role=Role.ADMIN
    )
    assert changes == {"*/reject:compliance_concern": (False, True)}  # policy_legal already escalates
    flags = {(r.action, r.code): r.escalates for r in policy_store.reason_codes(store)}
    assert flags[("reject", "compliance_concern")] and flags[("reject", "policy_legal")]
    assert not flags[("reject", "stale_data")]
    # Nothing changed: nothing audited.
    assert policy_store.change_escalates(store, replica, {key: True}, actor="ada", role=Role.ADMIN) == {}
    with replica.engine.connect() as conn:
        entries = conn.execute(
            audit.AUDIT.select().where(audit.AUDIT.c.event == audit.AuditEvent.REASON_CODES_CHANGED)
        ).all()
    assert len(entries) == 1
    data = json.loads(entries[0].payload)["data"]
    assert data["changes"] == {"*/reject:compliance_concern escalates": {"from": False, "to": True}}
    with pytest.raises(PolicyError, match="no reason code reject:made_up"):
        policy_store.set_escalates(store, {("*", "reject", "made_up"): True}, actor="ada", role=Role.ADMIN)


def test_the_cli_shows_and_sets_a_policy(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main as cli
    from app.core.settings import Settings

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    Store.initialize(url).close()
    assert cli(["policy", "show", "--store", url, "--workflow", "ask_amount"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["version"], shown["source"]) == (0, "defaults")
    assert Policy.from_documents(shown["rules"], shown["settings"]) == policy.DEFAULT_POLICY
    shown["rules"].insert(
        0,
        {
            "name": "Legal",
            "queue": "escalation",
            "priority": 95,
            "sla_minutes": 30,
            "when": {"exception_codes": ["policy_flag"]},
        },
    )
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(shown), encoding="utf-8")
    args = ["policy", "set", "--store", url, "--workflow", "ask_amount", "--file", str(path)]
    assert cli(args) == 1  # a reviewer may not
    assert "only an administrator" in capsys.readouterr().err
    settings = Settings.load(home)
    settings.role = "admin"
    settings.save(home)
    assert cli(args) == 0
    saved = json.loads(capsys.readouterr().out)
    assert (saved["version"], saved["source"], saved["rules"][0]["name"]) == (1, "ask_amount", "Legal")
    path.write_text(json.dumps({"rules": [{"queue": "auto"}]}), encoding="utf-8")
    assert cli(args) == 1
    assert "would automate high-risk tickets" in capsys.readouterr().err
    path.write_text("{not json", encoding="utf-8")
    assert cli(args) == 2
