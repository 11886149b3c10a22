"""Service levels: how long a ticket has left, and how many are waiting or past their due time
per workflow (for the tray, the notifications and the dashboard).

A ticket waits for a person while it is open, escalated or in conflict; one awaiting
clarification waits on someone outside, so its clock does not count as a breach here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Table, case, func, select

from app.core.db import READ_ONLY
from app.core.domain import TicketStatus
from app.core.replica_models import ReplicaTicket
from app.core.store_errors import translate_errors
from app.core.store_models import StoreTicket

if TYPE_CHECKING:
    from app.core.replica import Replica
    from app.core.store import Store

# A ticket awaiting a blind second review still waits for a person (its due time stands).
WAITING = (
    TicketStatus.OPEN,
    TicketStatus.ESCALATED,
    TicketStatus.CONFLICT,
    TicketStatus.AWAITING_SECOND_REVIEW,
)
ESCALATION_STATUSES = (TicketStatus.ESCALATED, TicketStatus.CONFLICT)
SOON = timedelta(hours=1)  # what the queue colours amber


class State:
    NONE = "none"  # no due time
    OK = "ok"
    SOON = "soon"
    BREACHED = "breached"


def time_left(due_at: datetime | None, now: datetime) -> timedelta | None:
    """Negative once breached."""
    return None if due_at is None else due_at - now


def sla_state(due_at: datetime | None, now: datetime, soon: timedelta = SOON) -> str:
    left = time_left(due_at, now)
    if left is None:
        return State.NONE
    if left <= timedelta(0):
        return State.BREACHED
    return State.SOON if left <= soon else State.OK


@dataclass(frozen=True)
class SlaCounts:
    workflow: str
    waiting: int  # tickets a person must act on
    breached: int  # of those, past their due time
    due_soon: int  # of those, due within the hour


def _counts(conn: Connection, table: Table, now: datetime, soon: timedelta) -> dict[str, SlaCounts]:
    due = table.c.due_at
    rows = conn.execute(
        select(
            table.c.workflow,
            func.count(),
            func.sum(case((due <= now, 1), else_=0)),
            func.sum(case(((due > now) & (due <= now + soon), 1), else_=0)),
        )
        .where(table.c.status.in_([str(s) for s in WAITING]))
        .group_by(table.c.workflow)
    ).all()
    return {
        workflow: SlaCounts(workflow, waiting, int(breached or 0), int(due_soon or 0))
        for workflow, waiting, breached, due_soon in rows
    }


def breach_counts(store: Store, now: datetime, soon: timedelta = SOON) -> dict[str, SlaCounts]:
    """Per workflow, from the shared store: waiting, breached and due-soon tickets (the
    dashboard's numbers). Workflows with nothing waiting are absent."""
    with translate_errors(store.url), store.engine.connect() as conn:
        return _counts(conn, StoreTicket.__table__, now, soon)


def _read(replica: Replica) -> Connection:
    return replica.engine.connect().execution_options(**{READ_ONLY: True})


def local_counts(replica: Replica, now: datetime, soon: timedelta = SOON) -> dict[str, SlaCounts]:
    """The same from this installation's replica: works offline, for the tray."""
    with _read(replica) as conn:
        return _counts(conn, ReplicaTicket.__table__, now, soon)


def newly_breached(replica: Replica, since: datetime | None, now: datetime) -> int:
    """Waiting tickets whose due time passed in (since, now]; every breach so far when since is
    None. Counting by time, not by remembering ids, keeps it cheap on a million tickets."""
    table = ReplicaTicket.__table__
    clauses = [table.c.status.in_([str(s) for s in WAITING]), table.c.due_at <= now]
    if since is not None:
        clauses.append(table.c.due_at > since)
    with _read(replica) as conn:
        return conn.execute(select(func.count()).select_from(table).where(*clauses)).scalar_one()


def escalated_ids(replica: Replica) -> set[int]:
    """Tickets waiting for an escalation manager (escalated, or in conflict): few by nature."""
    table = ReplicaTicket.__table__
    with _read(replica) as conn:
        return set(
            conn.execute(
                select(table.c.id).where(table.c.status.in_([str(s) for s in ESCALATION_STATUSES]))
            ).scalars()
        )
