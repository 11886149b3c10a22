"""An installation's local replica of one store: ticket copies, decisions, outbox and audit log.

Review works from here alone, so it keeps working when the store is unreachable. Every decision is
written with its outbox row and its audit entry in one local transaction.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, insert, literal, or_, select, tuple_, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.core import audit, replica_pull
from app.core.db import READ_ONLY, replica_engine
from app.core.domain import (
    STATUS_AFTER,
    Action,
    Decision,
    PushState,
    Queue,
    QueueQuery,
    QueueRow,
    ReasonCode,
    Role,
    TicketStatus,
    TicketView,
    parse_rfc3339,
    utcnow,
)
from app.core.migrations import runner
from app.core.outbox import Outbox
from app.core.reasons import codes_for
from app.core.replica_models import (
    OutboxEntry,
    RemoteDecision,
    ReplicaClaim,
    ReplicaDecision,
    ReplicaInfo,
    ReplicaReasonCode,
    ReplicaTicket,
    ReplicaWorkflow,
)
from app.core.rows import (
    decision_from_record,
    decision_from_row,
    decision_values,
    reason_from_row,
    reason_values,
)

log = logging.getLogger(__name__)

TICKETS = ReplicaTicket.__table__
DECISIONS = ReplicaDecision.__table__
OUTBOX = OutboxEntry.__table__
INFO = ReplicaInfo.__table__
REASONS = ReplicaReasonCode.__table__
WORKFLOWS = ReplicaWorkflow.__table__
REMOTE = RemoteDecision.__table__
CLAIMS = ReplicaClaim.__table__

# Tickets a reviewer may still act on; anything else is not decidable from the queue. A ticket
# awaiting a blind second review is decidable only by someone other than its first reviewer
# (`Replica.decidable`).
DECIDABLE = (
    TicketStatus.OPEN,
    TicketStatus.CONFLICT,
    TicketStatus.ESCALATED,
    TicketStatus.AWAITING_SECOND_REVIEW,
)
WITHDRAWN = "withdrawn"
# A view, not a status: tickets this installation decided first, waiting for a second reviewer
# (where their first reviewer finds them to correct). The view of status AWAITING_SECOND_REVIEW
# lists the others: the ones this installation may review second.
SENT_FOR_SECOND_REVIEW = "sent_for_second_review"

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


def replica_path(home: Path, store_id: str) -> Path:
    """One replica file per store: pointing the app at another store never mixes their data."""
    folder = home / "replicas"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{store_id}.sqlite3"


class Replica:
    def __init__(self, path: Path, engine: Engine) -> None:
        self.path = path
        self.engine = engine
        client_id = self._info("client_id")
        assert client_id
        self.client_id: str = client_id
        self.outbox = Outbox(engine, client_id)

    @classmethod
    def open(cls, path: Path, *, store_id: str | None = None, store_url: str | None = None) -> Replica:
        """Open (creating and migrating as needed) the replica at `path`."""
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = replica_engine(str(path))
        runner.upgrade(engine, "replica")
        with engine.begin() as conn:
            _drop_partial_ticket_stats(conn)
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

    def set_info(self, key: str, value: str) -> None:
        with self.engine.begin() as conn:
            _set(conn, key, value)

    @property
    def last_sync(self) -> datetime | None:
        """When this replica last completed a sync cycle (any process: app or `signoff sync`)."""
        value = self._info("last_sync_at")
        return parse_rfc3339(value) if value else None

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
        if query.status in (TicketStatus.AWAITING_SECOND_REVIEW, SENT_FOR_SECOND_REVIEW):
            decided_here = _decided_here(TICKETS.c.id, TICKETS.c.revision).exists()
            mine = query.status == SENT_FOR_SECOND_REVIEW
            clauses: list[Any] = [
                TICKETS.c.status == TicketStatus.AWAITING_SECOND_REVIEW,
                decided_here if mine else ~decided_here,
            ]
        elif query.status == TicketStatus.OPEN:
            # Routed to the escalation queue (upstream's hint, a policy rule): an escalation
            # manager's to decide, in the Escalated view (row security hides them from reviewers).
            clauses = [TICKETS.c.status == TicketStatus.OPEN, TICKETS.c.queue != Queue.ESCALATION]
        elif query.status == TicketStatus.ESCALATED:
            waiting = and_(TICKETS.c.status == TicketStatus.OPEN, TICKETS.c.queue == Queue.ESCALATION)
            clauses = [or_(TICKETS.c.status == TicketStatus.ESCALATED, waiting)]
        else:
            clauses = [TICKETS.c.status == query.status]
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
        return self._queue_rows(clauses, order=(sort, TICKETS.c.id), limit=limit)

    def queue_rows(self, query: QueueQuery, ticket_ids: Sequence[int]) -> list[QueueRow]:
        """The queue rows of these tickets that the query still shows (a page scrolled back into
        view after its rows were dropped from the list's cache), in no particular order."""
        clauses = [*self._queue_filter(query), TICKETS.c.id.in_(list(ticket_ids))]
        return self._queue_rows(clauses)

    def _queue_rows(
        self, clauses: list[Any], *, order: tuple[Any, ...] = (), limit: int | None = None
    ) -> list[QueueRow]:
        # Who else is reviewing: claims are few, so an outer join on the claim's key is cheap.
        claimed = CLAIMS.c.holder.label("claimed_by")
        live_claim = (
            (CLAIMS.c.ticket_id == TICKETS.c.id)
            & (CLAIMS.c.client_id != self.client_id)
            & (CLAIMS.c.expires_at > utcnow())
        )
        stmt = (
            select(*_QUEUE_COLUMNS, claimed)
            .select_from(TICKETS.outerjoin(CLAIMS, live_claim))
            .where(and_(*clauses))
            .order_by(*order)
            .limit(limit)
        )
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
            local = {
                r.decision_id: decision_from_row(r)
                for r in conn.execute(
                    select(DECISIONS).where(
                        DECISIONS.c.ticket_id == ticket_id, DECISIONS.c.push_state != WITHDRAWN
                    )
                )
            }
            # The store's copy wins: it knows about conflicts and supersessions we do not.
            remote = {
                r.decision_id: decision_from_record(json.loads(r.record))
                for r in conn.execute(select(REMOTE).where(REMOTE.c.ticket_id == ticket_id))
            }
            decisions = sorted({**local, **remote}.values(), key=lambda d: d.decided_at)
            if row.status == TicketStatus.AWAITING_SECOND_REVIEW:
                # Blind: whoever reviews second must not see how the first reviewer decided.
                decisions = [d for d in decisions if d.client_id == self.client_id]
            claim = conn.execute(
                select(CLAIMS.c.holder).where(
                    CLAIMS.c.ticket_id == ticket_id,
                    CLAIMS.c.client_id != self.client_id,
                    CLAIMS.c.expires_at > utcnow(),
                )
            ).scalar_one_or_none()
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
            claimed_by=claim,
            decisions=decisions,
        )

    def decidable(self, ticket: TicketView, reviewer: str) -> bool:
        """Whether this reviewer may decide the ticket now (without correcting an earlier
        decision): its status allows it, and a ticket awaiting a blind second review goes to
        someone other than its first reviewer."""
        if ticket.status not in DECIDABLE:
            return False
        if ticket.status != TicketStatus.AWAITING_SECOND_REVIEW:
            return True
        with self._read() as conn:
            return not _first_reviewer_here(conn, ticket.id, ticket.revision, reviewer)

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
        supersedes: str | None = None,
    ) -> Decision:
        """Record a decision, its outbox row and its audit entry atomically. With `supersedes`
        it corrects an earlier decision of this installation that already reached the store:
        both stay in the record, the new one counts."""
        note = (note or "").strip() or None
        if action == Action.CLARIFY and not note:
            raise DecisionError("a clarification needs the question to ask (the note)")
        with self.engine.begin() as conn:
            row = conn.execute(select(TICKETS).where(TICKETS.c.id == ticket_id)).first()
            if row is None:
                raise DecisionError(f"ticket {ticket_id} is not in the local replica")
            if supersedes is not None:
                self._check_correctable(conn, ticket_id, supersedes)
            elif row.status not in DECIDABLE:
                raise DecisionError(f"ticket {row.source}/{row.external_id} is {row.status}, not open")
            elif row.status == TicketStatus.AWAITING_SECOND_REVIEW and _first_reviewer_here(
                conn, ticket_id, row.revision, reviewer
            ):
                raise DecisionError(
                    f"ticket {row.source}/{row.external_id} waits for a blind second review by someone "
                    "else: you decided it first (correct your decision from the view "
                    "'Sent for second review')"
                )
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
                supersedes=supersedes,
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
                    "queue": row.queue,
                },
            )
        log.info("recorded %s/%s on %s/%s", action, reason_code, decision.source, decision.external_id)
        return decision

    def _check_correctable(self, conn: Connection, ticket_id: int, decision_id: str) -> None:
        earlier = conn.execute(select(DECISIONS).where(DECISIONS.c.decision_id == decision_id)).first()
        if earlier is None or earlier.ticket_id != ticket_id:
            raise DecisionError("only a decision made on this ticket from this installation can be corrected")
        if earlier.push_state != PushState.PUSHED:
            raise DecisionError("that decision has not reached the store yet: undo it instead (Ctrl+Z)")

    def last_decision(self, ticket_id: int) -> Decision | None:
        """This installation's latest decision on a ticket that reached the store (to correct)."""
        with self._read() as conn:
            row = conn.execute(
                select(DECISIONS)
                .where(DECISIONS.c.ticket_id == ticket_id, DECISIONS.c.push_state == PushState.PUSHED)
                .order_by(DECISIONS.c.decided_at.desc())
                .limit(1)
            ).first()
        return decision_from_row(row) if row is not None else None

    def cursor(self, key: str) -> int:
        with self._read() as conn:
            return replica_pull.cursor(conn, key)

    def rebuild_after_restore(self, reason: str, *, actor: str, role: Role) -> int:
        """The store went back in time. Do not merge into what we have: forget the ticket copies
        and cursors, pull afresh, and send again every decision the store may have lost (the
        push is idempotent, so the ones it still has change nothing). Returns how many."""
        with self.engine.begin() as conn:
            lost = list(
                conn.execute(
                    select(DECISIONS.c.decision_id).where(DECISIONS.c.push_state == PushState.PUSHED)
                ).scalars()
            )
            now = utcnow()
            if lost:
                conn.execute(
                    update(DECISIONS)
                    .where(DECISIONS.c.decision_id.in_(lost))
                    .values(push_state=str(PushState.PENDING), pushed_at=None)
                )
                conn.execute(
                    sqlite_insert(OUTBOX).on_conflict_do_nothing(),
                    [{"decision_id": d, "enqueued_at": now, "attempts": 0} for d in lost],
                )
            for table in (TICKETS, REMOTE, CLAIMS):
                conn.execute(delete(table))
            for key in ("pull_cursor", "decision_cursor"):
                _set(conn, key, "0")
            audit.append(
                conn,
                client_id=self.client_id,
                actor=actor,
                role=str(role),
                event=audit.AuditEvent.STORE_RESTORE_DETECTED,
                data={"reason": reason, "decisions_resent": len(lost)},
            )
        return len(lost)

    def undo(self, decision_id: str, *, actor: str, role: Role) -> bool:
        """Withdraw a decision that has not left this machine yet. False if it has (or may have):
        then the way to correct it is a new decision that supersedes it."""
        with self.engine.begin() as conn:
            # Only while it has never been offered to the store: once a push was attempted, a
            # lost answer may hide a commit, and withdrawing it here would contradict the store.
            untouched = (OUTBOX.c.decision_id == decision_id) & (OUTBOX.c.attempts == 0)
            untouched &= OUTBOX.c.pushing_since.is_(None)
            if conn.execute(delete(OUTBOX).where(untouched)).rowcount == 0:
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

    # --- pulling -----------------------------------------------------------------------

    def apply_pull(self, rows: Sequence[dict[str, Any]], cursor: int) -> int:
        """Apply one page of store rows and advance the cursor atomically (idempotent)."""
        if not rows:
            return 0
        with self.engine.begin() as conn:
            replica_pull.begin(conn)
            replica_pull.stage(conn, rows)
            return replica_pull.commit(conn, cursor)

    def replace_reference_data(
        self,
        reason_codes: Sequence[ReasonCode],
        workflows: Sequence[tuple[str, str]],
        *,
        actor: str = "",
        role: Role = Role.REVIEWER,
    ) -> None:
        """Take the store's catalog; a change to the codes reviewers can pick is audited."""
        with self.engine.begin() as conn:
            before = {(r.workflow, r.action, r.code) for r in conn.execute(select(REASONS)) if r.active}
            after = {(r.workflow, str(r.action), r.code) for r in reason_codes if r.active}
            if before and before != after:
                audit.append(
                    conn,
                    client_id=self.client_id,
                    actor=actor or "sync",
                    role=str(role),
                    event=audit.AuditEvent.REASON_CODES_CHANGED,
                    data=audit.reason_codes_data(
                        added=sorted(f"{a}:{c}" for _w, a, c in after - before),
                        retired=sorted(f"{a}:{c}" for _w, a, c in before - after),
                    ),
                )
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


def _decided_here(ticket_id: Any, revision: Any) -> Any:
    """This installation's decisions on a ticket's revision (withdrawn ones do not count)."""
    return select(DECISIONS.c.decision_id).where(
        DECISIONS.c.ticket_id == ticket_id,
        DECISIONS.c.ticket_revision == revision,
        DECISIONS.c.push_state != WITHDRAWN,
    )


def _first_reviewer_here(conn: Connection, ticket_id: int, revision: int, reviewer: str) -> bool:
    """Whether the standing decision on a ticket awaiting second review came from this installation
    or from this reviewer (on another machine: the store's copy names them)."""
    if conn.execute(_decided_here(ticket_id, revision).limit(1)).first() is not None:
        return True
    for record in conn.execute(
        select(REMOTE.c.record).where(REMOTE.c.ticket_id == ticket_id, REMOTE.c.status != "superseded")
    ).scalars():
        decision = json.loads(record)
        if decision.get("reviewer") == reviewer and decision.get("ticket_revision") == revision:
            return True
    return False


def _drop_partial_ticket_stats(conn: Connection) -> None:
    """Forget planner statistics (sqlite_stat1, from an ANALYZE run by some tool) that cover only
    some of the ticket indexes, as after a migration added indexes. The planner then believes an
    unanalysed index is far more selective than it is and picks it for `status = ?`, sorting the
    whole queue for each page (seconds at a million tickets) instead of walking the index that
    already has the page's order. Without statistics it picks the ordered index; the app itself
    never runs ANALYZE. One small read of the schema when there is nothing to fix."""
    if conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first() is None:
        return
    analysed = set(conn.exec_driver_sql("SELECT idx FROM sqlite_stat1 WHERE tbl = 'tickets'").scalars())
    if not analysed:
        return
    indexes = conn.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tickets'"
    ).scalars()
    if set(indexes) <= analysed:
        return
    conn.exec_driver_sql("DELETE FROM sqlite_stat1 WHERE tbl = 'tickets'")
    conn.exec_driver_sql("ANALYZE sqlite_schema")  # reloads the (remaining) statistics
    log.info("dropped partial planner statistics of the tickets table")


def _set(conn: Connection, key: str, value: str) -> None:
    stmt = sqlite_insert(INFO).values(key=key, value=value)
    conn.execute(stmt.on_conflict_do_update(index_elements=[INFO.c.key], set_={"value": value}))


def _set_default(conn: Connection, key: str, value: str) -> None:
    conn.execute(sqlite_insert(INFO).values(key=key, value=value).on_conflict_do_nothing())
