"""Retention: how long a store keeps raw interaction text and decision logs, and the purge that
enforces it.

A purge removes text, never evidence. Ticket content loses its interaction messages and the
subject's personal fields (the store also its `ticket_pii` rows of those revisions), but keeps
its content hash (the hash of what the reviewer saw); audit entries lose their payload but keep
its digest, so every chain still verifies; decision notes are cleared. Each purge is itself
recorded (store: `retention_purges`, append-only; replica: a `retention_purge` entry in the
local chain), and the database lets an audit payload go only when
such a record covers it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, exists, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.core import audit, pii_access
from app.core.audit_store import default_origin
from app.core.domain import PushState, Role, TicketStatus, to_rfc3339, utcnow
from app.core.replica import Replica
from app.core.replica_models import ReplicaDecision, ReplicaTicket
from app.core.store import Store
from app.core.store_changes import lock_changes, take_change_seqs
from app.core.store_errors import translate_errors
from app.core.store_models import (
    RetentionPolicyRow,
    RetentionPurge,
    StoreAuditEntry,
    StoreDecision,
    StoreTicket,
    TicketRevision,
)
from app.core.validation import canonical_json

REMOVED = "[removed under the retention policy]"
PERSONAL_FIELDS = ("display_name", "email", "phone")  # the subject fields the ticket schema marks PII
BATCH = 1000

POLICY = RetentionPolicyRow.__table__
PURGES = RetentionPurge.__table__
ENTRIES = StoreAuditEntry.__table__
REVISIONS = TicketRevision.__table__
TICKETS = StoreTicket.__table__
DECISIONS = StoreDecision.__table__
LOCAL_TICKETS = ReplicaTicket.__table__
LOCAL_DECISIONS = ReplicaDecision.__table__


class RetentionError(Exception):
    """A retention request that cannot be carried out as asked; the message says why."""


@dataclass(frozen=True)
class RetentionPolicy:
    interaction_days: int | None = None  # raw interaction text of decided tickets; None: keep
    decision_log_days: int | None = None  # audit payloads and decision notes; None: keep
    purge_roles: tuple[str, ...] = (str(Role.ADMIN),)
    updated_at: datetime | None = None
    updated_by: str | None = None

    def __post_init__(self) -> None:
        for days in (self.interaction_days, self.decision_log_days):
            if days is not None and days < 1:
                raise RetentionError("retention periods are whole days, at least 1 (or none: keep for ever)")
        unknown = set(self.purge_roles) - {str(r) for r in Role}
        if unknown or not self.purge_roles:
            raise RetentionError(
                f"purge roles must be among {', '.join(r.value for r in Role)} "
                f"(got {sorted(unknown) or 'none'})"
            )

    def may_purge(self, role: str) -> bool:
        return str(role) in self.purge_roles

    def interaction_before(self, now: datetime) -> datetime | None:
        return None if self.interaction_days is None else now - timedelta(days=self.interaction_days)

    def audit_before(self, now: datetime) -> datetime | None:
        return None if self.decision_log_days is None else now - timedelta(days=self.decision_log_days)

    def describe(self) -> str:
        def keep(days: int | None) -> str:
            return "kept for ever" if days is None else f"kept {days} days"

        return (
            f"interaction text {keep(self.interaction_days)}; decision logs {keep(self.decision_log_days)}; "
            f"purge by: {', '.join(self.purge_roles)}"
        )


def policy_changes(old: RetentionPolicy, new: RetentionPolicy) -> dict[str, tuple[Any, Any]]:
    """What a policy change changed, for `audit.changes_data` (event POLICY_CHANGED)."""
    names = ("interaction_days", "decision_log_days", "purge_roles")
    return {n: (getattr(old, n), getattr(new, n)) for n in names if getattr(old, n) != getattr(new, n)}


@dataclass
class PurgeReport:
    interaction_before: str | None = None
    audit_before: str | None = None
    tickets: int = 0  # decided tickets whose interaction text went
    revisions: int = 0  # older ticket revisions whose content went
    entries: int = 0  # audit entries whose payload went
    notes: int = 0  # decision notes cleared
    dry_run: bool = False

    @property
    def anything(self) -> bool:
        return bool(self.tickets or self.revisions or self.entries or self.notes)

    def counts(self) -> dict[str, int]:
        return {
            "tickets": self.tickets,
            "revisions": self.revisions,
            "entries": self.entries,
            "notes": self.notes,
        }

    def describe(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        return (
            f"retention purge {verb}: interaction text of {self.tickets} tickets, {self.revisions} older "
            f"revisions, payloads of {self.entries} audit entries, {self.notes} decision notes"
        )


# --- the policy ----------------------------------------------------------------------------------


def load_policy(store: Store) -> RetentionPolicy:
    with translate_errors(store.url), store.engine.connect() as conn:
        row = conn.execute(select(POLICY).where(POLICY.c.id == 1)).first()
    if row is None:
        return RetentionPolicy()
    return RetentionPolicy(
        interaction_days=row.interaction_days,
        decision_log_days=row.decision_log_days,
        purge_roles=tuple(r for r in row.purge_roles.split(",") if r),
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def save_policy(store: Store, policy: RetentionPolicy, *, actor: str, role: str) -> RetentionPolicy:
    """Replace the store's policy (administrators only). Returns the policy as saved; record
    the change in the local chain with POLICY_CHANGED and `policy_changes`."""
    if str(role) != Role.ADMIN:
        raise RetentionError("only an administrator may change the retention policy")
    saved = replace(policy, updated_at=utcnow(), updated_by=actor[:200])
    values = {
        "id": 1,
        "interaction_days": saved.interaction_days,
        "decision_log_days": saved.decision_log_days,
        "purge_roles": ",".join(saved.purge_roles),
        "updated_at": saved.updated_at,
        "updated_by": saved.updated_by,
    }
    upsert = (sqlite_insert if store.is_sqlite else pg_insert)(POLICY).values(**values)
    upsert = upsert.on_conflict_do_update(index_elements=[POLICY.c.id], set_=values)
    with translate_errors(store.url), store.engine.begin() as conn:
        conn.execute(upsert)
    return saved


# --- redaction -----------------------------------------------------------------------------------


def redact_ticket(payload: dict[str, Any]) -> dict[str, Any]:
    """A ticket without its raw interaction text and the subject's personal fields; the
    structure stays, so every view still opens it."""
    ticket = json.loads(json.dumps(payload))  # a deep copy of plain JSON
    subject = ticket.get("subject")
    if isinstance(subject, dict):
        for name in PERSONAL_FIELDS:
            if name in subject:
                subject[name] = REMOVED
    interaction = ticket.get("interaction")
    if isinstance(interaction, dict) and isinstance(interaction.get("messages"), list):
        for message in interaction["messages"]:
            if isinstance(message, dict):
                message.update({k: REMOVED for k in ("text", "from") if k in message})
    return ticket


# --- purging the store ---------------------------------------------------------------------------


def _due_tickets(conn: Connection, before: datetime) -> Iterator[list[Any]]:
    """Decided tickets last changed before the cut-off whose current revision is not purged
    yet (a purged revision has a ticket_revisions row with no payload), a batch at a time."""
    purged = exists().where(REVISIONS.c.ticket_id == TICKETS.c.id, REVISIONS.c.revision == TICKETS.c.revision)
    after = 0
    while True:
        rows = conn.execute(
            select(TICKETS.c.id, TICKETS.c.revision, TICKETS.c.content_hash, TICKETS.c.payload)
            .where(
                TICKETS.c.status == TicketStatus.DECIDED,
                TICKETS.c.updated_at < before,
                TICKETS.c.id > after,
                ~purged,
            )
            .order_by(TICKETS.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        yield rows
        after = rows[-1].id


def _store_plan(
    conn: Connection, report: PurgeReport, interaction: datetime | None, log: datetime | None
) -> None:
    def count(table: Any, *where: Any) -> int:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()

    if interaction is not None:
        report.tickets = sum(len(rows) for rows in _due_tickets(conn, interaction))
        report.revisions = count(
            REVISIONS, REVISIONS.c.payload.is_not(None), REVISIONS.c.recorded_at < interaction
        )
    if log is not None:
        report.entries = count(ENTRIES, *_entries_due(to_rfc3339(log)))
        report.notes = count(DECISIONS, DECISIONS.c.note.is_not(None), DECISIONS.c.decided_at < log)


def _entries_due(before: str) -> Sequence[Any]:
    return (
        ENTRIES.c.payload.is_not(None),
        ENTRIES.c.at < before,
        ENTRIES.c.event != audit.AuditEvent.RETENTION_PURGE,
    )


def purge_store(
    store: Store, *, actor: str, role: str, now: datetime | None = None, dry_run: bool = False
) -> PurgeReport:
    """Apply the store's policy in one transaction (so it is all done, and logged, or none of it).
    Purged tickets and decisions take new change numbers, so replicas pull the purged versions
    at their next sync. Raises RetentionError when `role` may not purge."""
    policy = load_policy(store)
    if not policy.may_purge(role):
        raise RetentionError(f"the retention policy lets {', '.join(policy.purge_roles)} purge, not {role}")
    now = now or utcnow()
    interaction, log = policy.interaction_before(now), policy.audit_before(now)
    report = PurgeReport(
        interaction_before=to_rfc3339(interaction) if interaction else None,
        audit_before=to_rfc3339(log) if log else None,
        dry_run=dry_run,
    )
    with translate_errors(store.url), store.engine.begin() as conn:
        lock_changes(conn)
        _store_plan(conn, report, interaction, log)
        if dry_run or not report.anything:
            return report
        # The record first: the database lets audit payloads go only under a recorded cut-off.
        conn.execute(
            insert(PURGES).values(
                purged_at=now,
                actor=actor[:200],
                role=str(role),
                origin=_origin(conn, store),
                interaction_before=report.interaction_before,
                audit_before=report.audit_before,
                **report.counts(),
            )
        )
        if interaction is not None:
            _purge_tickets(conn, interaction, now)
            older = conn.execute(
                select(REVISIONS.c.ticket_id, REVISIONS.c.revision).where(
                    REVISIONS.c.payload.is_not(None), REVISIONS.c.recorded_at < interaction
                )
            ).all()
            pii_access.forget(conn, [(r.ticket_id, r.revision) for r in older])
            conn.execute(
                update(REVISIONS)
                .where(REVISIONS.c.payload.is_not(None), REVISIONS.c.recorded_at < interaction)
                .values(payload=None, purged_at=now)
            )
        if log is not None:
            conn.execute(update(ENTRIES).where(*_entries_due(report.audit_before or "")).values(payload=None))
            _purge_notes(conn, log)
    return report


def _origin(conn: Connection, store: Store) -> str:
    if store.is_sqlite:
        return default_origin()
    return conn.exec_driver_sql("SELECT session_user").scalar_one()


def _purge_tickets(conn: Connection, before: datetime, now: datetime) -> None:
    for rows in _due_tickets(conn, before):
        seqs = take_change_seqs(conn, len(rows))
        conn.execute(
            update(TICKETS)
            .where(TICKETS.c.id == bindparam("ticket_id"))
            .values(payload=bindparam("new_payload"), change_seq=bindparam("new_seq")),
            [
                {
                    "ticket_id": r.id,
                    "new_payload": canonical_json(redact_ticket(json.loads(r.payload))),
                    "new_seq": next(seqs),
                }
                for r in rows
            ],
        )
        pii_access.forget(conn, [(r.id, r.revision) for r in rows])
        # The content hash stays (the hash of what was seen); this row marks the revision purged.
        conn.execute(
            insert(REVISIONS),
            [
                {
                    "ticket_id": r.id,
                    "revision": r.revision,
                    "content_hash": r.content_hash,
                    "payload": None,
                    "recorded_at": now,
                    "purged_at": now,
                }
                for r in rows
            ],
        )


def _purge_notes(conn: Connection, before: datetime) -> None:
    ids = list(
        conn.execute(
            select(DECISIONS.c.decision_id).where(
                DECISIONS.c.note.is_not(None), DECISIONS.c.decided_at < before
            )
        ).scalars()
    )
    if not ids:
        return
    seqs = take_change_seqs(conn, len(ids))
    conn.execute(
        update(DECISIONS)
        .where(DECISIONS.c.decision_id == bindparam("id_"))
        .values(note=None, change_seq=bindparam("new_seq")),
        [{"id_": decision_id, "new_seq": next(seqs)} for decision_id in ids],
    )


# --- purging a replica ---------------------------------------------------------------------------


@dataclass
class _LocalPlan:
    entries: int = 0
    notes: int = 0
    tickets: list[Any] = field(default_factory=list)


def purge_replica(
    replica: Replica, policy: RetentionPolicy, *, actor: str, role: str, now: datetime | None = None
) -> PurgeReport:
    """Apply a store's policy to this installation's own copies: its audit payloads, its
    decisions' notes and its copies of decided tickets. Recorded as a `retention_purge` entry
    in the same transaction. Does nothing (and records nothing) when nothing is due. Any role:
    the policy is the store's, this only keeps the local copy within it."""
    now = now or utcnow()
    interaction, log = policy.interaction_before(now), policy.audit_before(now)
    report = PurgeReport(
        interaction_before=to_rfc3339(interaction) if interaction else None,
        audit_before=to_rfc3339(log) if log else None,
    )
    local_entries = and_(
        audit.AUDIT.c.payload.is_not(None),
        audit.AUDIT.c.at < (report.audit_before or ""),
        audit.AUDIT.c.event != audit.AuditEvent.RETENTION_PURGE,
    )
    local_notes = and_(
        LOCAL_DECISIONS.c.note.is_not(None),
        LOCAL_DECISIONS.c.decided_at < (log or now),
        LOCAL_DECISIONS.c.push_state != PushState.PENDING,
    )
    with replica.engine.begin() as conn:
        if log is not None:
            report.entries = conn.execute(
                select(func.count()).select_from(audit.AUDIT).where(local_entries)
            ).scalar_one()
            report.notes = conn.execute(
                select(func.count()).select_from(LOCAL_DECISIONS).where(local_notes)
            ).scalar_one()
        tickets = []
        if interaction is not None:
            tickets = conn.execute(
                select(LOCAL_TICKETS.c.id, LOCAL_TICKETS.c.payload).where(
                    LOCAL_TICKETS.c.status == TicketStatus.DECIDED, LOCAL_TICKETS.c.updated_at < interaction
                )
            ).all()
            tickets = [t for t in tickets if _redacted(t.payload) != t.payload]
            report.tickets = len(tickets)
        if not report.anything:
            return report
        audit.append(
            conn,
            client_id=replica.client_id or "",
            actor=actor,
            role=str(role),
            event=audit.AuditEvent.RETENTION_PURGE,
            at=now,
            data={
                "scope": "replica",
                "audit_before": report.audit_before,
                "policy": _policy_data(policy),
                "interaction_before": report.interaction_before,
                **report.counts(),
            },
        )
        if log is not None:
            conn.execute(update(audit.AUDIT).where(local_entries).values(payload=None))
            conn.execute(update(LOCAL_DECISIONS).where(local_notes).values(note=None))
        for ticket in tickets:
            conn.execute(
                update(LOCAL_TICKETS)
                .where(LOCAL_TICKETS.c.id == ticket.id)
                .values(payload=_redacted(ticket.payload))
            )
    return report


def _redacted(payload: str) -> str:
    return canonical_json(redact_ticket(json.loads(payload)))


def _policy_data(policy: RetentionPolicy) -> dict[str, Any]:
    data = asdict(policy)
    data["purge_roles"] = list(policy.purge_roles)
    data["updated_at"] = to_rfc3339(policy.updated_at) if policy.updated_at else None
    return data


def store_purge_data(report: PurgeReport, store_url: str) -> dict[str, Any]:
    """RETENTION_PURGE data for the local chain of whoever purged a store. (Its cut-off is kept
    under its own key: it covers the store's copies, not this installation's log.)"""
    return {
        "scope": "store",
        "store_url": store_url,
        "store_audit_before": report.audit_before,
        "interaction_before": report.interaction_before,
        **report.counts(),
    }
