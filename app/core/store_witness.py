"""Restore detection for a replica that has only been reading: witness tickets.

A replica that sent decisions notices a restore because the store lost one of them (see
`Syncer.check_identity`). One that only reads has just its cursors, and once a restored store
has handed out more change numbers than the replica saw, the counter no longer tells. What the
replica does know is how the store showed it the tickets it pulled last. In the genuine store
a ticket's change number only grows (every write takes a new one, under the counter's lock),
each change number is used once, and an id keeps its (source, external_id) while the ticket
lives. So at the start of a sync we compare a few tickets both ways:

- witnesses: the WITNESSES tickets with the highest change numbers this replica pulled,
  recorded in `replica_info` by the transaction that applies each pull (the replica keeps no
  index on change_seq, and a scan of a large replica each sync would cost seconds). The store
  going back in time shows as a witness at a lower change number than the replica saw, one at
  the same change number with other content, or one whose id now holds another ticket at a
  number no higher (a restored id sequence hands the lost ids out again).
- the window: the store's tickets whose change number is at most the replica's pull cursor and
  within WINDOW of it. The replica pulled everything up to its cursor, so each must be in the
  replica exactly as the store has it; one that is not was numbered again after a restore. A
  ticket the replica lacks counts only if its id is above every id the replica ever pulled
  (recorded with the witnesses): a lower one may be a copy it forgot (withdrawn from its view).

Never taken as proof, so never a false alarm: a witness the store no longer has (an
administrator may delete a ticket, whose decisions are then refused, see store_push; on
Postgres row security hides escalated tickets from a reviewer, see `roles.withdrawn_tickets`),
a witness's id on another ticket at a higher number (SQLite hands the highest id out again
after a deletion), and any ticket at a higher change number (decisions, new content and
retention purges renumber tickets). The window is only checked for logins that see every
ticket (SQLite, Postgres without row security for the login, managers and admins): for a
reviewer, a ticket can come into view without a new number (a role change). The store's
counter, the witnesses and the window come in one statement (one snapshot). A witness recorded
before a later pull is older but still valid: the genuine store has that ticket at that number
or higher. A pull from cursor 0 (a new or rebuilt replica) replaces the witnesses, so none from
before a restore is held against the restored store.

What remains undetected (false negatives): a restored store whose later changes moved every
witness to a change number at least as high as the replica saw (or re-made it exactly as it
was) and left nothing within the window, at or below the replica's cursor, that the replica
lacks (for a reviewer on Postgres only the witnesses count); a restore that shows only as
witnesses gone (indistinguishable from deletions) with no id or number handed out again where
we look; and changes this replica never saw (invisible to its login).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, false, func, or_, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.core.db import READ_ONLY
from app.core.replica import Replica
from app.core.replica_models import ReplicaInfo, ReplicaTicket
from app.core.store import Store, StoreError
from app.core.store_changes import COUNTERS
from app.core.store_models import StoreTicket

WITNESSES = 16
WINDOW = 16

STORE_TICKETS = StoreTicket.__table__
REPLICA_TICKETS = ReplicaTicket.__table__
REPLICA_INFO = ReplicaInfo.__table__
WITNESS_KEY = "restore_witnesses"
_FIELDS = ("id", "source", "external_id", "revision", "content_hash", "change_seq")
_SEE_EVERYTHING = ("escalation_manager", "admin")


@dataclass(frozen=True)
class TicketMark:
    """A ticket as one side has it: enough to tell whether it is the same version."""

    id: int
    source: str
    external_id: str
    revision: int
    content_hash: str
    change_seq: int

    @classmethod
    def of(cls, row: Any) -> TicketMark:
        return cls(*(getattr(row, name) for name in _FIELDS))

    @property
    def name(self) -> str:
        return f"#{self.id} ({self.source}/{self.external_id})"


def keep_latest(latest: dict[int, TicketMark], rows: Sequence[dict[str, Any]]) -> None:
    """Fold one pulled page (in change order) into `latest`, the WITNESSES newest tickets."""
    for row in rows:
        latest[row["id"]] = TicketMark(*(row[name] for name in _FIELDS))
    if len(latest) > WITNESSES:
        for mark in sorted(latest.values(), key=lambda m: m.change_seq)[: len(latest) - WITNESSES]:
            del latest[mark.id]


@dataclass(frozen=True)
class Record:
    """What the replica keeps for the check: the witnesses, and the highest ticket id it ever
    pulled (forgetting a withdrawn ticket's copy does not lower it)."""

    witnesses: list[TicketMark]
    max_id: int
    wide: bool | None = None  # pulled by a login that sees every ticket (None: not recorded)


def remember(
    conn: Connection,
    pulled: Sequence[TicketMark],
    *,
    fresh: bool,
    max_id: int = 0,
    wide: bool | None = None,
) -> None:
    """Record the witnesses in the replica, in the transaction that applies the pull (so they
    always match its cursor). `fresh`: the pull started from nothing (a new or rebuilt replica),
    so what was recorded before belongs to another past of the store and is dropped."""
    before = None if fresh else _recorded(conn)
    marks = {m.id: m for m in before.witnesses} if before else {}
    for mark in pulled:
        if mark.id not in marks or marks[mark.id].change_seq < mark.change_seq:
            marks[mark.id] = mark
    newest = sorted(marks.values(), key=lambda m: m.change_seq, reverse=True)[:WITNESSES]
    max_id = max([max_id, before.max_id if before else 0, *(m.id for m in pulled)])
    if wide is None and before is not None:
        wide = before.wide
    value = json.dumps(
        {
            "max_id": max_id,
            "wide": wide,
            "witnesses": [[getattr(m, name) for name in _FIELDS] for m in newest],
        }
    )
    stmt = sqlite_insert(REPLICA_INFO).values(key=WITNESS_KEY, value=value)
    conn.execute(stmt.on_conflict_do_update(index_elements=[REPLICA_INFO.c.key], set_={"value": value}))


def _recorded(conn: Connection) -> Record | None:
    value = conn.execute(
        select(REPLICA_INFO.c.value).where(REPLICA_INFO.c.key == WITNESS_KEY)
    ).scalar_one_or_none()
    if value is None:
        return None
    data = json.loads(value)
    return Record(
        [TicketMark(*fields) for fields in data["witnesses"]], int(data["max_id"]), data.get("wide")
    )


def _witnesses(replica: Replica, cursor: int) -> Record:
    with _replica_read(replica) as conn:
        record = _recorded(conn)
        # Copies applied without a record (Replica.apply_pull) count for the highest id too.
        highest = conn.execute(select(func.max(REPLICA_TICKETS.c.id))).scalar() or 0
    if record is None:
        # A replica last synced by a Signoff without witnesses: find them once (a scan of the
        # ticket copies, no index on change_seq) and record them.
        columns = [REPLICA_TICKETS.c[name] for name in _FIELDS]
        with replica.engine.begin() as conn:
            query = select(*columns).order_by(REPLICA_TICKETS.c.change_seq.desc()).limit(WITNESSES)
            marks = [TicketMark.of(r) for r in conn.execute(query)]
            remember(conn, marks, fresh=True, max_id=highest)
        record = Record(marks, highest)
    # Never past the cursor (a witness recorded beyond it would not be one the store owes us).
    return Record(
        [w for w in record.witnesses if w.change_seq <= cursor], max(record.max_id, highest), record.wide
    )


@dataclass(frozen=True)
class Observation:
    """The store's change counter, read together with what the witnesses and the window need."""

    counter: int
    cursor: int
    seen: list[TicketMark]  # the witnesses, as this replica pulled them
    max_id: int  # the highest ticket id this replica ever pulled
    current: dict[int, TicketMark]  # the same tickets as the store has them now (if it shows them)
    window: list[TicketMark]  # the store's tickets in the window (logins that see every ticket)
    wide: bool = False  # this login sees every ticket now
    # The login now sees every ticket but the replica was pulled by one that did not (a reviewer
    # made escalation manager): tickets hidden before lie below the cursor, so pull again from
    # the start instead of reading their absence as a restore.
    widened: bool = False

    def restore_evidence(self, replica: Replica) -> str | None:
        """Why the store must have gone back in time since the replica last pulled from it, or
        None when the witnesses and the window agree with the replica."""
        evidence = _judge_witnesses(self.seen, self.current)
        if evidence or not self.window:
            return evidence
        columns = [REPLICA_TICKETS.c[name] for name in _FIELDS]
        with _replica_read(replica) as conn:
            ids = [t.id for t in self.window]
            mine = {
                r.id: TicketMark.of(r)
                for r in conn.execute(select(*columns).where(REPLICA_TICKETS.c.id.in_(ids)))
            }
        for ticket in self.window:
            have = mine.get(ticket.id)
            if have == ticket:
                continue
            if have is None:
                if ticket.id <= self.max_id:
                    continue  # a copy this replica may have forgotten (withdrawn from its view)
                had = f"never pulled it (it never pulled an id above #{self.max_id})"
            elif have.change_seq == ticket.change_seq:
                had = f"pulled {have.name} with other content at that change number"
            else:
                had = f"has it at change #{have.change_seq}"
            return (
                f"the store has ticket {ticket.name} at change #{ticket.change_seq}, within what this "
                f"replica already pulled (up to #{self.cursor}), but the replica {had}"
            )
        return None


def observe(store: Store, replica: Replica) -> Observation:
    """Read the store's change counter and the witnesses' and window's tickets, in one statement
    (so the identity check costs the store the one round trip the counter alone did)."""
    cursor = replica.pull_cursor
    record = _witnesses(replica, cursor) if cursor > 0 else Record([], 0)
    with _snapshot(store) as conn:
        wide = _sees_every_ticket(conn, store)
        widened = wide and record.wide is False
        with_window = cursor > 0 and wide and not widened
        counter, current, window = _store_marks(conn, [w.id for w in record.witnesses], cursor, with_window)
    return Observation(counter, cursor, record.witnesses, record.max_id, current, window, wide, widened)


def restore_evidence(store: Store, replica: Replica) -> str | None:
    """`observe` and judge at once (the counter itself is `Syncer.check_identity`'s business)."""
    return observe(store, replica).restore_evidence(replica)


def _judge_witnesses(seen: Sequence[TicketMark], current: dict[int, TicketMark]) -> str | None:
    for witness in seen:
        now = current.get(witness.id)
        if now is None:
            continue
        if (now.source, now.external_id) != (witness.source, witness.external_id):
            if now.change_seq > witness.change_seq:
                # A SQLite store hands the highest id out again once that ticket is deleted
                # (tickets have no AUTOINCREMENT): a later number on another ticket proves nothing.
                continue
            return (
                f"ticket #{witness.id} was {witness.source}/{witness.external_id} when this replica "
                f"pulled it (change #{witness.change_seq}); the store now gives that id to "
                f"{now.source}/{now.external_id}"
            )
        if now.change_seq < witness.change_seq:
            return _lower(witness, now.change_seq)
        if now.change_seq == witness.change_seq and (now.revision, now.content_hash) != (
            witness.revision,
            witness.content_hash,
        ):
            return (
                f"ticket {witness.name} has other content at change #{witness.change_seq} than this "
                "replica pulled at that change number"
            )
    return None


def _lower(witness: TicketMark, now: int) -> str:
    return (
        f"ticket {witness.name} is at change #{now} in the store, but this replica already pulled it "
        f"at change #{witness.change_seq}"
    )


@contextmanager
def _snapshot(store: Store) -> Iterator[Connection]:
    """One consistent view of the store for every read (Postgres: REPEATABLE READ).
    Through the store's own `_connect`, so its error translation (and a test's faults) apply."""
    with store._connect() as conn:
        if store.is_sqlite:
            conn.execution_options(**{READ_ONLY: True})  # a deferred BEGIN: no write lock
        else:
            conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


@contextmanager
def _replica_read(replica: Replica) -> Iterator[Connection]:
    with replica.engine.connect() as conn:
        conn.execution_options(**{READ_ONLY: True})
        yield conn


def _sees_every_ticket(conn: Connection, store: Store) -> bool:
    """SQLite, a Postgres store without row security for this login, or a manager or admin."""
    if store.is_sqlite:
        return True
    facts = conn.execute(
        text(
            "SELECT row_security_active('tickets') AS rls, "
            "to_regprocedure('signoff_login_role()') IS NOT NULL AS has_roles"
        )
    ).one()
    if not facts.rls:
        return True
    role = conn.execute(text("SELECT signoff_login_role()")).scalar() if facts.has_roles else None
    return role in _SEE_EVERYTHING


def _store_marks(
    conn: Connection, ids: Sequence[int], cursor: int, with_window: bool
) -> tuple[int, dict[int, TicketMark], list[TicketMark]]:
    """The change counter, the witnesses as the store has them now, and (`with_window`) the
    window's tickets: the counter row joined to the tickets wanted, so always one row at least."""
    columns = [STORE_TICKETS.c[name] for name in _FIELDS]
    in_window = (STORE_TICKETS.c.change_seq > cursor - WINDOW) & (STORE_TICKETS.c.change_seq <= cursor)
    wanted = [STORE_TICKETS.c.id.in_(list(ids))] if ids else []
    if with_window:
        wanted.append(in_window)
    rows = conn.execute(
        select(COUNTERS.c.value.label("counter"), *columns, in_window.label("in_window"))
        .select_from(COUNTERS.outerjoin(STORE_TICKETS, or_(*wanted) if wanted else false()))
        .where(COUNTERS.c.name == "change")
    ).all()
    if not rows:
        raise StoreError("the store has no change counter")
    marks = [r for r in rows if r.id is not None]
    asked = set(ids)
    current = {r.id: TicketMark.of(r) for r in marks if r.id in asked}
    window = sorted(
        (TicketMark.of(r) for r in marks if with_window and r.in_window), key=lambda m: m.change_seq
    )
    return rows[0].counter, current, window
