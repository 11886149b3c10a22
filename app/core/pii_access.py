"""Reading personal data from the store: the per-store PII setting, showing it to roles that see
it, revealing it (audited) to roles that may ask, and forgetting it under the retention policy.

Personal values live in the store's `ticket_pii` table, never in a replica (see app.core.pii).
A window fetches them on demand and holds them in memory only; offline there is nothing to
show, and the caller says so (`StoreUnavailable`).

Revealing is recorded twice: by the store (`pii_reveals`; on Postgres the database writes it
inside `signoff_reveal_pii`, a SECURITY DEFINER function, so no client can read without the
row) and by the installation (a PII_REVEALED entry in its hash chain, `reveal_for_review`).
On Postgres the database decides (row-level security, the function's checks); on a SQLite file
Signoff checks the same rules itself, which anyone who can open the file could skip: roles are
advisory there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, insert, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.core import audit, pii
from app.core.domain import Role, TicketStatus, utcnow
from app.core.store_errors import StoreRefused, translate_errors
from app.core.store_models import PiiReveal, StoreInfo, StoreTicket, TicketPii

if TYPE_CHECKING:
    from app.core.replica import Replica
    from app.core.store import Store

PII = TicketPii.__table__
REVEALS = PiiReveal.__table__
TICKETS = StoreTicket.__table__
INFO = StoreInfo.__table__
REVEAL_FUNCTION = "signoff_reveal_pii"
HIDDEN_FROM_REVIEWERS = (str(TicketStatus.CONFLICT), str(TicketStatus.ESCALATED))
REFUSED = "personal data refused"  # how every refusal starts, here and in the database


class PiiRefused(StoreRefused):
    """This role may not see (or reveal) personal data, or not on this ticket."""


@dataclass(frozen=True)
class PersonalData:
    """A ticket's personal values for its current revision ({} when it has none)."""

    ticket_id: int
    revision: int
    external_id: str
    workflow: str
    values: dict[str, Any]

    @property
    def fields(self) -> list[str]:
        return pii.field_names(self.values)


# --- the setting ------------------------------------------------------------------------------


def load_policy(store: Store) -> pii.PiiPolicy:
    with translate_errors(store.url), store.engine.connect() as conn:
        return _policy(conn)


def _policy(conn: Connection) -> pii.PiiPolicy:
    keys = [pii.SEE_KEY, pii.REVEAL_KEY]
    info = dict(conn.execute(select(INFO.c.key, INFO.c.value).where(INFO.c.key.in_(keys))).all())
    return pii.PiiPolicy.from_info(info)  # type: ignore[arg-type]


def save_policy(store: Store, policy: pii.PiiPolicy, *, role: str) -> dict[str, tuple[Any, Any]]:
    """Replace the store's PII setting (administrators only). Returns what changed, for
    `audit.changes_data` (event POLICY_CHANGED) in the caller's local chain."""
    if str(role) != Role.ADMIN:
        raise PiiRefused("only an administrator may change who sees personal data")
    old = load_policy(store)
    upsert = sqlite_insert if store.is_sqlite else pg_insert
    with translate_errors(store.url), store.engine.begin() as conn:
        for key, value in policy.to_info().items():
            stmt = upsert(INFO).values(key=key, value=value)
            conn.execute(stmt.on_conflict_do_update(index_elements=[INFO.c.key], set_={"value": value}))
    return {
        name: (list(getattr(old, attr)), list(getattr(policy, attr)))
        for name, attr in ((pii.SEE_KEY, "see"), (pii.REVEAL_KEY, "reveal"))
        if getattr(old, attr) != getattr(policy, attr)
    }


# --- reading ----------------------------------------------------------------------------------


def _current(conn: Connection, ticket_id: int) -> Any:
    row = conn.execute(
        select(
            TICKETS.c.id,
            TICKETS.c.revision,
            TICKETS.c.external_id,
            TICKETS.c.workflow,
            TICKETS.c.queue,
            TICKETS.c.status,
        ).where(TICKETS.c.id == ticket_id)
    ).first()
    if row is None:
        raise PiiRefused(f"ticket {ticket_id} is not in the store, or not visible to this login")
    return row


def _values(conn: Connection, ticket_id: int, revision: int) -> dict[str, Any]:
    fields = conn.execute(
        select(PII.c.fields).where(PII.c.ticket_id == ticket_id, PII.c.revision == revision)
    ).scalar_one_or_none()
    return json.loads(fields) if fields else {}


def personal_data(store: Store, ticket_id: int, *, role: str) -> PersonalData:
    """The personal values of a ticket for a role that sees them (not audited: the store's
    setting lets this role see them). PiiRefused for any other role."""
    if not load_policy(store).sees(role):
        raise PiiRefused(f"the store's setting does not show personal data to {role}")
    with translate_errors(store.url), store.engine.connect() as conn:
        ticket = _current(conn, ticket_id)
        # On Postgres, row security returns no row to a login the setting does not cover.
        values = _values(conn, ticket.id, ticket.revision)
    return PersonalData(ticket.id, ticket.revision, ticket.external_id, ticket.workflow, values)


def reveal(store: Store, ticket_id: int, *, login: str, role: str) -> PersonalData:
    """Reveal a ticket's personal values to a role that sees only the mask, recording it in the
    store's `pii_reveals` in the same transaction. PiiRefused when the role may not."""
    try:
        with translate_errors(store.url), store.engine.begin() as conn:
            if _has_reveal_function(conn):
                return _reveal_in_database(conn, ticket_id)
            return _reveal_here(conn, ticket_id, login=login, role=role)
    except StoreRefused as refused:
        if isinstance(refused, PiiRefused) or not refused.reason.startswith(REFUSED):
            raise
        raise PiiRefused(refused.reason) from refused


def _has_reveal_function(conn: Connection) -> bool:
    """Postgres after `signoff admin setup-postgres`: the database does the checking."""
    if conn.dialect.name != "postgresql":
        return False
    return conn.execute(
        text(f"SELECT to_regprocedure('{REVEAL_FUNCTION}(integer)') IS NOT NULL")
    ).scalar_one()


def _reveal_in_database(conn: Connection, ticket_id: int) -> PersonalData:
    """The function checks the caller (session_user), writes `pii_reveals` and returns one row;
    its refusals start with REFUSED."""
    row = conn.execute(text(f"SELECT * FROM {REVEAL_FUNCTION}(:ticket_id)"), {"ticket_id": ticket_id}).one()
    values = json.loads(row.fields) if row.fields else {}
    return PersonalData(row.ticket_id, row.revision, row.external_id, row.workflow, values)


def _reveal_here(conn: Connection, ticket_id: int, *, login: str, role: str) -> PersonalData:
    policy = _policy(conn)
    if not (policy.sees(role) or policy.may_reveal(role)):
        raise PiiRefused(f"{REFUSED}: the store's setting lets {role} neither see nor reveal it")
    ticket = _current(conn, ticket_id)
    hidden = ticket.queue == "escalation" or ticket.status in HIDDEN_FROM_REVIEWERS
    if str(role) == Role.REVIEWER and hidden:
        raise PiiRefused(f"{REFUSED}: ticket {ticket.external_id} is not visible to reviewers")
    values = _values(conn, ticket.id, ticket.revision)
    if values and not policy.sees(role):
        conn.execute(
            insert(REVEALS).values(
                ticket_id=ticket.id,
                revision=ticket.revision,
                login=login[:200],
                role=str(role),
                fields=json.dumps(sorted(set(pii.field_names(values)))),
                revealed_at=utcnow(),
            )
        )
    return PersonalData(ticket.id, ticket.revision, ticket.external_id, ticket.workflow, values)


def reveal_for_review(
    store: Store, replica: Replica, ticket_id: int, *, actor: str, role: Role, where: str = "review"
) -> PersonalData:
    """Reveal (see `reveal`) and record PII_REVEALED in this installation's audit chain. The
    values are returned for display only: never write them to the replica."""
    revealed = reveal(store, ticket_id, login=actor, role=str(role))
    if revealed.values:
        replica.record_event(
            audit.AuditEvent.PII_REVEALED,
            actor=actor,
            role=role,
            ticket_id=ticket_id,
            data=audit.pii_revealed_data(
                external_id=revealed.external_id,
                workflow=revealed.workflow,
                fields=revealed.fields,
                where=where,
            ),
        )
    return revealed


def reveals(store: Store, ticket_id: int | None = None) -> list[dict[str, Any]]:
    """The store's reveal log (a ticket's, or all), oldest first."""
    stmt = select(REVEALS).order_by(REVEALS.c.id)
    if ticket_id is not None:
        stmt = stmt.where(REVEALS.c.ticket_id == ticket_id)
    with translate_errors(store.url), store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


# --- retention --------------------------------------------------------------------------------


def forget(conn: Connection, revisions: Iterable[tuple[int, int]]) -> int:
    """Drop the personal values of these (ticket id, revision) pairs: a retention purge."""
    keys = list(revisions)
    removed = 0
    for start in range(0, len(keys), 500):
        part: Sequence[tuple[int, int]] = keys[start : start + 500]
        removed += conn.execute(delete(PII).where(tuple_(PII.c.ticket_id, PII.c.revision).in_(part))).rowcount
    return removed
