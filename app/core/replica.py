"""An installation's local replica of one store: ticket copies, decisions, outbox and audit log.

Review works from here alone, so it keeps working when the store is unreachable. Every decision is
written with its outbox row and its audit entry in one local transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, insert, literal, select, tuple_, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.core import audit
from app.core.db import READ_ONLY, replica_engine
from app.core.domain import (
    STATUS_AFTER,
    Action,
    Decision,
    PushState,
    QueueQuery,
    QueueRow,
    ReasonCode,
    Role,
    TicketStatus,
    TicketView,
    utcnow,
)
from app.core.migrations import runner
from app.core.reasons import codes_for
from app.core.replica_models import (
    OutboxEntry,
    ReplicaDecision,
    ReplicaInfo,
    ReplicaReasonCode,
    ReplicaTicket,
    ReplicaWorkflow,
)
from app.core.rows import decision_from_row, decision_values, reason_from_row, reason_values

TICKETS = ReplicaTicket.__table__
DECISIONS = ReplicaDecision.__table__
OUTBOX = OutboxEntry.__table__
INFO = ReplicaInfo.__table__
REASONS = ReplicaReasonCode.__table__
WORKFLOWS = ReplicaWorkflow.__table__

# Tickets a reviewer may still act on; anything else is not decidable from the queue.
DECIDABLE = (TicketStatus.OPEN, TicketStatus.CONFLICT, TicketStatus.ESCALATED)
WITHDRAWN = "withdrawn"

_SORT_COLUMNS = {
    "due": TICKETS.c.due_at,
    "confidence": TICKETS.c.confidence,
    "age": TICKETS.c.created_at,
}
_QUEUE_COLUMNS = (
    TICKETS.c.id,
    TICKETS.c.workflow,
    TICKETS.c.title,
    TICKETS.c.exception_code,
    TICKETS.c.confidence,
    TICKETS.c.queue,
    TICKETS.c.status,
    TICKETS.c.due_at,
    TICKETS.c.created_at,
    TICKETS.c.risk_tier,
)


class DecisionError(Exception):
    """A decision that cannot be recorded as asked; the message says why."""


@dataclass(frozen=True)
class ReplicaStatus:
    waiting: int
    rejected: int
    last_error: str | None


def replica_path(home: Path, store_id: str) -> Path:
    """One replica file per store: pointing the app at another store never mixes their data."""
    folder = home / "replicas"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{store_id}.sqlite3"


def search_text(payload: dict[str, Any]) -> str:
    """What the queue's text search matches: ticket facts, not message bodies or PII."""
    subject = payload["subject"]
    parts = [
        payload["external_id"],
        payload.get("source", ""),
        payload["workflow"],
        payload["exception"]["summary"],
        payload["exception"]["code"],
        subject.get("ref", ""),
        subject.get("organization", ""),
        payload["ai"]["recommendation"].get("label", ""),
        payload["ai"]["recommendation"]["action"],
    ]
    return " ".join(p for p in parts if p).casefold()


class Replica:
    def __init__(self, path: Path, engine: Engine) -> None:
        self.path = path
        self.engine = engine
        self.client_id = self._info("client_id")
        assert self.client_id

    @classmethod
    def open(cls, path: Path, *, store_id: str | None = None, store_url: str | None = None) -> Replica:
        """Open (creating and migrating as needed) the replica at `path`."""
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = replica_engine(str(path))
        runner.upgrade(engine, "replica")
        with engine.begin() as conn:
            _set_default(conn, "client_id", str(uuid.uuid4()))
            _set_default(conn, "pull_cursor", "0")
            if store_id is not None:
                _set_default(conn, "store_id", store_id)
                bound = conn.execute(select(INFO.c.value).where(INFO.c.key == "store_id")).scalar_one()
                if bound != store_id:
                    raise ValueError(f"replica {path} belongs to store {bound}, not {store_id}")
            if store_url is not None:
                _set(conn, "store_url", store_url)
        return cls(path, engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        # Deferred: the UI reads while sync writes (WAL), instead of queueing behind its lock.
        with self.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
            yield conn

    def _info(self, key: str) -> str | None:
        with self._read() as conn:
            return conn.execute(select(INFO.c.value).where(INFO.c.key == key)).scalar_one_or_none()

    @property
    def store_id(self) -> str | None:
        return self._info("store_id")

    @property
    def store_url(self) -> str | None:
        return self._info("store_url")

    @property
    def pull_cursor(self) -> int:
        return int(self._info("pull_cursor") or 0)

    # --- the queue ---------------------------------------------------------------------

    def _queue_filter(self, query: QueueQuery) -> list[Any]:
        clauses: list[Any] = [TICKETS.c.status == query.status]
        if query.workflow:
            clauses.append(TICKETS.c.workflow == query.workflow)
        if query.queue:
            clauses.append(TICKETS.c.queue == query.queue)
        for word in query.text.casefold().split():
            # Escape LIKE wildcards: a search for "50%" means the characters, not a pattern.
            escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            clauses.append(TICKETS.c.search_text.like(f"%{escaped}%", escape="\\"))
        return clauses

    def queue_page(
        self, query: QueueQuery, after: QueueRow | None = None, limit: int = 200
    ) -> list[QueueRow]:
        """One page of the queue in the query's sort order, after `after` (keyset paging, so
        page 5,000 costs what page 1 does)."""
        sort = _SORT_COLUMNS[query.sort]
        clauses = self._queue_filter(query)
        if after is not None:
            key = {"due": after.due_at, "confidence": after.confidence, "age": after.created_at}[query.sort]
            clauses.append(tuple_(sort, TICKETS.c.id) > tuple_(literal(key, sort.type), literal(after.id)))
        stmt = select(*_QUEUE_COLUMNS).where(and_(*clauses)).order_by(sort, TICKETS.c.id).limit(limit)
        with self._read() as conn:
            return [QueueRow(*row) for row in conn.execute(stmt)]

    def queue_count(self, query: QueueQuery) -> int:
        stmt = select(func.count()).select_from(TICKETS).where(and_(*self._queue_filter(query)))
        with self._read() as conn:
            return conn.execute(stmt).scalar_one()

    def workflows(self) -> list[str]:
        with self._read() as conn:
            names = set(conn.execute(select(WORKFLOWS.c.name)).scalars())
            if not names:
                names = set(conn.execute(select(TICKETS.c.workflow).distinct()).scalars())
        return sorted(names)

    def ticket(self, ticket_id: int) -> TicketView | None:
        with self._read() as conn:
            row = conn.execute(select(TICKETS).where(TICKETS.c.id == ticket_id)).first()
            if row is None:
                return None
            decisions = [
                decision_from_row(r)
                for r in conn.execute(
                    select(DECISIONS)
                    .where(DECISIONS.c.ticket_id == ticket_id, DECISIONS.c.push_state != WITHDRAWN)
                    .order_by(DECISIONS.c.decided_at)
                )
            ]
        return TicketView(
            id=row.id,
            source=row.source,
            external_id=row.external_id,
            workflow=row.workflow,
            status=row.status,
            queue=row.queue,
            priority=row.priority,
            due_at=row.due_at,
            revision=row.revision,
            payload=json.loads(row.payload),
            decisions=decisions,
        )

    def reason_codes(self, action: Action, workflow: str) -> list[ReasonCode]:
        with self._read() as conn:
            catalog = [reason_from_row(r) for r in conn.execute(select(REASONS))]
        return codes_for(catalog, action, workflow)

    # --- deciding ----------------------------------------------------------------------

    def record_decision(
        self,
        ticket_id: int,
        action: Action,
        reason_code: str,
        *,
        reviewer: str,
        role: Role,
        note: str | None = None,
        decision_id: str | None = None,
        decided_at: datetime | None = None,
    ) -> Decision:
        """Record a decision, its outbox row and its audit entry atomically."""
        note = (note or "").strip() or None
        if action == Action.CLARIFY and not note:
            raise DecisionError("a clarification needs the question to ask (the note)")
        with self.engine.begin() as conn:
            row = conn.execute(select(TICKETS).where(TICKETS.c.id == ticket_id)).first()
            if row is None:
                raise DecisionError(f"ticket {ticket_id} is not in the local replica")
            if row.status not in DECIDABLE:
                raise DecisionError(f"ticket {row.source}/{row.external_id} is {row.status}, not open")
            catalog = [reason_from_row(r) for r in conn.execute(select(REASONS))]
            allowed = {r.code: r for r in codes_for(catalog, action, row.workflow)}
            if reason_code not in allowed:
                raise DecisionError(
                    f"{reason_code!r} is not a reason code for {action} in {row.workflow}; "
                    f"choose one of: {', '.join(allowed) or '(none configured)'}"
                )
            payload = json.loads(row.payload)
            ai = payload["ai"]
            decision = Decision(
                decision_id=decision_id or str(uuid.uuid4()),
                source=row.source,
                external_id=row.external_id,
                workflow=row.workflow,
                action=action,
                reason_code=reason_code,
                note=note,
                reviewer=reviewer,
                role=role,
                decided_at=decided_at or utcnow(),
                client_id=self.client_id,
                ai={
                    "model": ai["model"],
                    "model_version": ai["model_version"],
                    "confidence": ai["confidence"],
                    "recommended_action": ai["recommendation"]["action"],
                },
                ticket_revision=row.revision,
            )
            conn.execute(
                insert(DECISIONS).values(
                    **decision_values(decision), ticket_id=ticket_id, push_state=str(PushState.PENDING)
                )
            )
            status = TicketStatus.ESCALATED if allowed[reason_code].escalates else STATUS_AFTER[action]
            conn.execute(update(TICKETS).where(TICKETS.c.id == ticket_id).values(status=str(status)))
            conn.execute(
                insert(OUTBOX).values(decision_id=decision.decision_id, enqueued_at=utcnow(), attempts=0)
            )
            audit.append(
                conn,
                client_id=self.client_id,
                actor=reviewer,
                role=str(role),
                event=audit.AuditEvent.DECISION_RECORDED,
                ticket_id=ticket_id,
                at=decision.decided_at,
                # What the reviewer saw is part of the record: revision and content hash.
                data={
                    "decision": decision.to_record(),
                    "ticket_revision": row.revision,
                    "content_hash": row.content_hash,
                },
            )
        return decision

    def undo(self, decision_id: str, *, actor: str, role: Role) -> bool:
        """Withdraw a decision that has not left this machine yet. False if it already has."""
        with self.engine.begin() as conn:
            if conn.execute(delete(OUTBOX).where(OUTBOX.c.decision_id == decision_id)).rowcount == 0:
                return False
            row = conn.execute(select(DECISIONS).where(DECISIONS.c.decision_id == decision_id)).one()
            conn.execute(
                update(DECISIONS).where(DECISIONS.c.decision_id == decision_id).values(push_state=WITHDRAWN)
            )
            conn.execute(
                update(TICKETS).where(TICKETS.c.id == row.ticket_id).values(status=TICKETS.c.store_status)
            )
            audit.append(
                conn,
                client_id=self.client_id,
                actor=actor,
                role=str(role),
                event=audit.AuditEvent.DECISION_UNDONE,
                ticket_id=row.ticket_id,
                data={"decision_id": decision_id},
            )
        return True

    # --- pushing -----------------------------------------------------------------------

    def pending_decisions(self, limit: int = 500, *, now: datetime | None = None) -> list[Decision]:
        """The outbox in FIFO order, skipping rows still backing off after a failure."""
        now = now or utcnow()
        with self._read() as conn:
            rows = conn.execute(
                select(DECISIONS)
                .join(OUTBOX, OUTBOX.c.decision_id == DECISIONS.c.decision_id)
                .where((OUTBOX.c.next_attempt_at.is_(None)) | (OUTBOX.c.next_attempt_at <= now))
                .order_by(OUTBOX.c.seq)
                .limit(limit)
            ).all()
        return [decision_from_row(r) for r in rows]

    def waiting_count(self) -> int:
        with self._read() as conn:
            return conn.execute(select(func.count()).select_from(OUTBOX)).scalar_one()

    def status(self) -> ReplicaStatus:
        with self._read() as conn:
            waiting = conn.execute(select(func.count()).select_from(OUTBOX)).scalar_one()
            rejected = conn.execute(
                select(func.count())
                .select_from(DECISIONS)
                .where(DECISIONS.c.push_state == PushState.REJECTED)
            ).scalar_one()
            last_error = conn.execute(
                select(OUTBOX.c.last_error).where(OUTBOX.c.last_error.is_not(None)).order_by(OUTBOX.c.seq)
            ).scalar()
        return ReplicaStatus(waiting=waiting, rejected=rejected, last_error=last_error)

    def mark_pushed(
        self, accepted: Sequence[str], refused: dict[str, str], *, actor: str, role: Role
    ) -> None:
        """Apply the store's answer: accepted ones leave the outbox, refused ones are kept,
        marked with the store's reason, and their tickets return to the queue."""
        now = utcnow()
        with self.engine.begin() as conn:
            for decision_id in accepted:
                if conn.execute(delete(OUTBOX).where(OUTBOX.c.decision_id == decision_id)).rowcount == 0:
                    continue  # answered twice (a retried push): already recorded
                ticket_id = conn.execute(
                    update(DECISIONS)
                    .where(DECISIONS.c.decision_id == decision_id)
                    .values(push_state=str(PushState.PUSHED), pushed_at=now)
                    .returning(DECISIONS.c.ticket_id)
                ).scalar_one()
                audit.append(
                    conn,
                    client_id=self.client_id,
                    actor=actor,
                    role=str(role),
                    event=audit.AuditEvent.DECISION_PUSHED,
                    ticket_id=ticket_id,
                    data={"decision_id": decision_id},
                )
            for decision_id, reason in refused.items():
                if conn.execute(delete(OUTBOX).where(OUTBOX.c.decision_id == decision_id)).rowcount == 0:
                    continue
                ticket_id = conn.execute(
                    update(DECISIONS)
                    .where(DECISIONS.c.decision_id == decision_id)
                    .values(push_state=str(PushState.REJECTED), push_error=reason)
                    .returning(DECISIONS.c.ticket_id)
                ).scalar_one()
                conn.execute(
                    update(TICKETS).where(TICKETS.c.id == ticket_id).values(status=TICKETS.c.store_status)
                )
                audit.append(
                    conn,
                    client_id=self.client_id,
                    actor=actor,
                    role=str(role),
                    event=audit.AuditEvent.DECISION_REJECTED_BY_STORE,
                    ticket_id=ticket_id,
                    data={"decision_id": decision_id, "reason": reason},
                )

    def note_push_failure(
        self, decision_ids: Sequence[str], error: str, *, now: datetime | None = None
    ) -> None:
        """A transient failure: keep the rows, back off exponentially (capped at 5 minutes)."""
        now = now or utcnow()
        with self.engine.begin() as conn:
            for row in conn.execute(select(OUTBOX).where(OUTBOX.c.decision_id.in_(list(decision_ids)))).all():
                attempts = row.attempts + 1
                delay = timedelta(seconds=min(300, 2 ** min(attempts, 9)))
                conn.execute(
                    update(OUTBOX)
                    .where(OUTBOX.c.seq == row.seq)
                    .values(attempts=attempts, last_error=error, next_attempt_at=now + delay)
                )

    def retry_now(self) -> None:
        """Forget back-off (a manual sync means: try now)."""
        with self.engine.begin() as conn:
            conn.execute(update(OUTBOX).values(next_attempt_at=None))

    # --- pulling -----------------------------------------------------------------------

    def apply_pull(self, rows: Sequence[dict[str, Any]], cursor: int) -> int:
        """Apply one page of store rows and advance the cursor in the same transaction, so a
        crash leaves the replica at the old page boundary or the new one. Idempotent."""
        if not rows:
            return 0
        with self.engine.begin() as conn:
            pending = {
                r.ticket_id: r
                for r in conn.execute(
                    select(DECISIONS.c.ticket_id, DECISIONS.c.ticket_revision, TICKETS.c.status)
                    .join(TICKETS, TICKETS.c.id == DECISIONS.c.ticket_id)
                    .where(DECISIONS.c.push_state == PushState.PENDING)
                    .where(DECISIONS.c.ticket_id.in_([r["id"] for r in rows]))
                )
            }
            values = []
            for row in rows:
                status = row["status"]
                mine = pending.get(row["id"])
                if mine is not None and mine.ticket_revision == row["revision"]:
                    # My decision has not reached the store yet: the status it gave (decided,
                    # escalated, awaiting clarification) still counts here.
                    status = mine.status
                values.append(
                    {
                        "id": row["id"],
                        "source": row["source"],
                        "external_id": row["external_id"],
                        "workflow": row["workflow"],
                        "created_at": row["created_at"],
                        "updated_at": row["updated_at"],
                        "status": status,
                        "store_status": row["status"],
                        "queue": row["queue"],
                        "priority": row["priority"],
                        "due_at": row["due_at"],
                        "confidence": row["confidence"],
                        "exception_code": row["exception_code"],
                        "risk_tier": row["risk_tier"],
                        "title": row["title"],
                        "search_text": search_text(json.loads(row["payload"])),
                        "revision": row["revision"],
                        "content_hash": row["content_hash"],
                        "payload": row["payload"],
                        "change_seq": row["change_seq"],
                    }
                )
            stmt = sqlite_insert(TICKETS)
            stmt = stmt.on_conflict_do_update(
                index_elements=[TICKETS.c.id],
                set_={c.name: stmt.excluded[c.name] for c in TICKETS.columns if c.name != "id"},
            )
            conn.execute(stmt, values)
            _set(conn, "pull_cursor", str(max(cursor, self._cursor(conn))))
        return len(rows)

    @staticmethod
    def _cursor(conn: Connection) -> int:
        return int(conn.execute(select(INFO.c.value).where(INFO.c.key == "pull_cursor")).scalar_one())

    def replace_reference_data(
        self, reason_codes: Sequence[ReasonCode], workflows: Sequence[tuple[str, str]]
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(REASONS))
            if reason_codes:
                conn.execute(
                    insert(REASONS),
                    [reason_values(r) for r in reason_codes],
                )
            conn.execute(delete(WORKFLOWS))
            if workflows:
                conn.execute(insert(WORKFLOWS), [{"name": n, "label": label} for n, label in workflows])

    # --- audit -------------------------------------------------------------------------

    def verify_audit(self) -> audit.VerifyResult:
        with self._read() as conn:
            return audit.verify(conn)

    def record_event(
        self, event: str, *, actor: str, role: Role, data: dict[str, Any], ticket_id: int | None = None
    ) -> int:
        with self.engine.begin() as conn:
            return audit.append(
                conn,
                client_id=self.client_id,
                actor=actor,
                role=str(role),
                event=event,
                data=data,
                ticket_id=ticket_id,
            )


def _set(conn: Connection, key: str, value: str) -> None:
    stmt = sqlite_insert(INFO).values(key=key, value=value)
    conn.execute(stmt.on_conflict_do_update(index_elements=[INFO.c.key], set_={"value": value}))


def _set_default(conn: Connection, key: str, value: str) -> None:
    conn.execute(sqlite_insert(INFO).values(key=key, value=value).on_conflict_do_nothing())
