"""Claims: leases on tickets so two online reviewers do not work the same one.

A claim is a row (holder, client, expiry, version), taken with one atomic upsert that only
succeeds when the ticket is unclaimed, the old lease has expired, or it is already ours. Expiry
uses the store's clock on Postgres, so reviewers' skewed laptop clocks do not matter there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from app.core.domain import TicketStatus, utcnow
from app.core.store_models import Claim, StoreTicket

CLAIMS = Claim.__table__
TICKETS = StoreTicket.__table__

REVIEW_LEASE = timedelta(minutes=15)
OFFLINE_LEASE = timedelta(hours=12)


@dataclass(frozen=True)
class ClaimState:
    ticket_id: int
    holder: str
    client_id: str
    expires_at: datetime
    version: int
    offline: bool = False

    def held_by(self, client_id: str) -> bool:
        return self.client_id == client_id


def store_now(conn: Connection) -> datetime:
    if conn.dialect.name == "postgresql":
        return conn.execute(select(func.now())).scalar_one()
    return utcnow()


def claim(
    conn: Connection,
    ticket_id: int,
    *,
    holder: str,
    client_id: str,
    lease: timedelta = REVIEW_LEASE,
    offline: bool = False,
) -> ClaimState:
    """Take or renew the lease on one ticket. Returns the claim as it now stands: ours if we
    got it, else the current holder's (the caller shows "in review by X")."""
    now = store_now(conn)
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(CLAIMS).values(
        ticket_id=ticket_id,
        holder=holder,
        client_id=client_id,
        claimed_at=now,
        expires_at=now + lease,
        version=1,
        offline=offline,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[CLAIMS.c.ticket_id],
        set_={
            "holder": stmt.excluded.holder,
            "client_id": stmt.excluded.client_id,
            "claimed_at": stmt.excluded.claimed_at,
            "expires_at": stmt.excluded.expires_at,
            "offline": stmt.excluded.offline,
            "version": CLAIMS.c.version + 1,
        },
        # Only over an expired lease or our own: a live lease of someone else's stays.
        where=or_(CLAIMS.c.expires_at <= now, CLAIMS.c.client_id == client_id),
    ).returning(*CLAIMS.c)
    row = conn.execute(stmt).first()
    if row is None:
        row = conn.execute(select(CLAIMS).where(CLAIMS.c.ticket_id == ticket_id)).one()
    return _state(row)


def release(conn: Connection, ticket_ids: Sequence[int], *, client_id: str) -> int:
    if not ticket_ids:
        return 0
    result = conn.execute(
        delete(CLAIMS).where(CLAIMS.c.ticket_id.in_(list(ticket_ids)), CLAIMS.c.client_id == client_id)
    )
    return result.rowcount


def claim_batch(
    conn: Connection,
    *,
    holder: str,
    client_id: str,
    count: int,
    workflow: str | None = None,
    queue: str | None = None,
    lease: timedelta = OFFLINE_LEASE,
) -> list[ClaimState]:
    """ "Take offline": lease up to `count` open tickets nobody else holds, most urgent first."""
    now = store_now(conn)
    live_elsewhere = (
        select(CLAIMS.c.ticket_id)
        .where(CLAIMS.c.expires_at > now, CLAIMS.c.client_id != client_id)
        .scalar_subquery()
    )
    conditions = [TICKETS.c.status == TicketStatus.OPEN, TICKETS.c.id.not_in(live_elsewhere)]
    if workflow:
        conditions.append(TICKETS.c.workflow == workflow)
    if queue:
        conditions.append(TICKETS.c.queue == queue)
    candidates = conn.execute(
        select(TICKETS.c.id).where(and_(*conditions)).order_by(TICKETS.c.due_at, TICKETS.c.id).limit(count)
    ).scalars()
    taken = []
    for ticket_id in list(candidates):
        state = claim(conn, ticket_id, holder=holder, client_id=client_id, lease=lease, offline=True)
        if state.held_by(client_id):  # another reviewer may have won it meanwhile
            taken.append(state)
    return taken


def active_claims(conn: Connection) -> list[ClaimState]:
    now = store_now(conn)
    return [_state(row) for row in conn.execute(select(CLAIMS).where(CLAIMS.c.expires_at > now))]


def _state(row: object) -> ClaimState:
    return ClaimState(
        ticket_id=row.ticket_id,  # type: ignore[attr-defined]
        holder=row.holder,  # type: ignore[attr-defined]
        client_id=row.client_id,  # type: ignore[attr-defined]
        expires_at=row.expires_at,  # type: ignore[attr-defined]
        version=row.version,  # type: ignore[attr-defined]
        offline=row.offline,  # type: ignore[attr-defined]
    )
