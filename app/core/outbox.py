"""The upload queue: decisions waiting for the store, in the order they were made.

Modelled on PowerSync's client upload queue: FIFO, retried with back-off on transient failures,
a row leaves only once the store has committed it, and a decision the store refuses for good is
set aside with the store's reason (shown to the reviewer) instead of blocking the rest.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Select, delete, func, select, update
from sqlalchemy.exc import NoResultFound

from app.core import audit
from app.core.db import READ_ONLY
from app.core.domain import Decision, PushState, Role, utcnow
from app.core.replica_models import OutboxEntry, ReplicaDecision, ReplicaTicket
from app.core.rows import decision_from_row

OUTBOX = OutboxEntry.__table__
DECISIONS = ReplicaDecision.__table__
TICKETS = ReplicaTicket.__table__
MAX_BACKOFF_S = 300


@dataclass(frozen=True)
class OutboxStatus:
    waiting: int
    rejected: int
    last_error: str | None


class Outbox:
    def __init__(self, engine: Engine, client_id: str) -> None:
        self.engine = engine
        self.client_id = client_id

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
            yield conn

    def pending(self, limit: int = 500, *, now: datetime | None = None) -> list[Decision]:
        """The outbox in FIFO order, up to the first row still backing off after a failure."""
        with self._read() as conn:
            rows = conn.execute(_due(limit, now or utcnow())).all()
        return [decision_from_row(r) for r in rows]

    def take_for_push(self, limit: int = 500, *, now: datetime | None = None) -> list[Decision]:
        """The next batch to send, marked in flight in the same transaction (so an undo racing
        with the push cannot withdraw what the store may be committing right now)."""
        now = now or utcnow()
        with self.engine.begin() as conn:
            rows = conn.execute(_due(limit, now)).all()
            if rows:
                conn.execute(
                    update(OUTBOX)
                    .where(OUTBOX.c.decision_id.in_([r.decision_id for r in rows]))
                    .values(pushing_since=now)
                )
        return [decision_from_row(r) for r in rows]

    def refused(self, limit: int = 500) -> list[tuple[Decision, str]]:
        """Decisions the store refused for good, newest first, with the store's reason."""
        with self._read() as conn:
            rows = conn.execute(
                select(DECISIONS)
                .where(DECISIONS.c.push_state == PushState.REJECTED)
                .order_by(DECISIONS.c.decided_at.desc())
                .limit(limit)
            ).all()
        return [(decision_from_row(r), r.push_error or "") for r in rows]

    def last_pushed(self) -> str | None:
        """The decision the store most recently accepted from this installation. A store that
        no longer has it was put back from a backup taken before."""
        with self._read() as conn:
            return conn.execute(
                select(DECISIONS.c.decision_id)
                .where(DECISIONS.c.push_state == PushState.PUSHED)
                .order_by(DECISIONS.c.pushed_at.desc())
                .limit(1)
            ).scalar()

    def waiting_count(self) -> int:
        with self._read() as conn:
            return conn.execute(select(func.count()).select_from(OUTBOX)).scalar_one()

    def status(self) -> OutboxStatus:
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
        return OutboxStatus(waiting=waiting, rejected=rejected, last_error=last_error)

    def mark_pushed(
        self, accepted: Sequence[str], refused: dict[str, str], *, actor: str, role: Role
    ) -> None:
        """Apply the store's answer: accepted ones leave the outbox, refused ones are kept,
        marked with the store's reason, and their tickets return to the queue."""
        now = utcnow()
        with self.engine.begin() as conn:
            # A page's rows in a few statements instead of three per decision: which of them
            # are still in the outbox (one answered twice, by a retried push, is recorded already),
            # their decisions marked, then the audit entries in the order of the store's answer.
            accepted = list(dict.fromkeys(accepted))  # each once, in order
            waiting = _take_out(conn, [*accepted, *refused])
            accepted = [d for d in accepted if d in waiting]
            answered = set(accepted)
            refused = {d: r for d, r in refused.items() if d in waiting and d not in answered}
            tickets = _mark(conn, accepted, {"push_state": str(PushState.PUSHED), "pushed_at": now})
            rejected = {
                reason: _mark(conn, ids, {"push_state": str(PushState.REJECTED), "push_error": reason})
                for reason, ids in _by_reason(refused).items()
            }
            back = {_one(rejected[reason], d) for d, reason in refused.items()}
            if back:
                # Refused: the tickets go back to the queue as the store has them.
                conn.execute(
                    update(TICKETS).where(TICKETS.c.id.in_(sorted(back))).values(status=TICKETS.c.store_status)
                )
            audit.append_many(
                conn,
                client_id=self.client_id,
                actor=actor,
                role=str(role),
                entries=[
                    *(
                        (audit.AuditEvent.DECISION_PUSHED, _one(tickets, d), {"decision_id": d})
                        for d in accepted
                    ),
                    *(
                        (
                            audit.AuditEvent.DECISION_REJECTED_BY_STORE,
                            _one(rejected[reason], d),
                            {"decision_id": d, "reason": reason},
                        )
                        for d, reason in refused.items()
                    ),
                ],
            )

    def note_push_failure(
        self, decision_ids: Sequence[str], error: str, *, now: datetime | None = None
    ) -> None:
        """A transient failure: keep the rows, back off exponentially (capped at 5 minutes)."""
        now = now or utcnow()
        with self.engine.begin() as conn:
            for row in conn.execute(select(OUTBOX).where(OUTBOX.c.decision_id.in_(list(decision_ids)))).all():
                attempts = row.attempts + 1
                delay = timedelta(seconds=min(MAX_BACKOFF_S, 2 ** min(attempts, 9)))
                conn.execute(
                    update(OUTBOX)
                    .where(OUTBOX.c.seq == row.seq)
                    .values(
                        attempts=attempts, last_error=error, next_attempt_at=now + delay, pushing_since=None
                    )
                )

    def retry_now(self) -> None:
        """Forget back-off (a manual sync means: try now)."""
        with self.engine.begin() as conn:
            conn.execute(update(OUTBOX).values(next_attempt_at=None))


def _due(limit: int, now: datetime) -> Select[Any]:
    """The head of the outbox in FIFO order, up to the first row still backing off after a
    failure. Nothing overtakes it: the store must see one installation's decisions in the order
    they were made (an escalation manager's call after the escalation it settles)."""
    backing_off = select(func.min(OUTBOX.c.seq)).where(OUTBOX.c.next_attempt_at > now).scalar_subquery()
    return (
        select(DECISIONS)
        .join(OUTBOX, OUTBOX.c.decision_id == DECISIONS.c.decision_id)
        .where(backing_off.is_(None) | (OUTBOX.c.seq < backing_off))
        .order_by(OUTBOX.c.seq)
        .limit(limit)
    )


def _take_out(conn: Connection, decision_ids: list[str]) -> set[str]:
    """Delete these decisions' outbox rows; returns the ones that were there."""
    if not decision_ids:
        return set()
    return set(
        conn.execute(
            delete(OUTBOX).where(OUTBOX.c.decision_id.in_(decision_ids)).returning(OUTBOX.c.decision_id)
        ).scalars()
    )


def _mark(conn: Connection, decision_ids: list[str], values: dict[str, Any]) -> dict[str, int]:
    """Set these decisions' push state; returns their ticket ids."""
    if not decision_ids:
        return {}
    return {
        row.decision_id: row.ticket_id
        for row in conn.execute(
            update(DECISIONS)
            .where(DECISIONS.c.decision_id.in_(decision_ids))
            .values(**values)
            .returning(DECISIONS.c.decision_id, DECISIONS.c.ticket_id)
        )
    }


def _by_reason(refused: dict[str, str]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for decision_id, reason in refused.items():
        grouped.setdefault(reason, []).append(decision_id)
    return grouped


def _one(tickets: dict[str, int], decision_id: str) -> int:
    """The ticket of a decision whose outbox row was there: its decision row must be too."""
    if decision_id not in tickets:
        raise NoResultFound("No row was found when one was required")
    return tickets[decision_id]
