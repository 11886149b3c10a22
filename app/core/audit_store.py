"""The store side of the audit trail: each installation pushes its new entries and a checkpoint
on every sync; `verify_store` recomputes every client's chain against its checkpoints.

The database enforces the rules (see migration s0002): entries must continue their client's
chain, checkpoints must extend the previous one and name the stored head, nothing is updated or
deleted except a retention purge dropping old payloads, and on Postgres a client id belongs to
the login role that registered it. This module adds what only a full recomputation can see:
edited contents, forged hashes, rows changed behind the triggers' back.
"""

from __future__ import annotations

import getpass
import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, insert, select

from app.core import audit
from app.core.audit import GENESIS_HASH, ChainCheck, VerifyResult
from app.core.db import READ_ONLY
from app.core.domain import utcnow
from app.core.replica import Replica
from app.core.store import Store
from app.core.store_errors import StoreRefused, translate_errors
from app.core.store_models import AuditCheckpoint, AuditClient, RetentionPurge, StoreAuditEntry

log = logging.getLogger(__name__)

ENTRIES = StoreAuditEntry.__table__
CHECKPOINTS = AuditCheckpoint.__table__
CLIENTS = AuditClient.__table__
PURGES = RetentionPurge.__table__
PUSH_BATCH = 2000
VERIFY_BATCH = 5000


@dataclass
class PushAuditResult:
    pushed: int = 0  # entries the store took this time
    checkpoint: int | None = None  # size of this client's latest checkpoint in the store
    error: str | None = None  # why (some) entries were not pushed; the next sync tries again

    @property
    def ok(self) -> bool:
        return self.error is None


@contextmanager
def _store_write(store: Store) -> Iterator[Connection]:
    with translate_errors(store.url), store.engine.begin() as conn:
        yield conn


@contextmanager
def _store_read(store: Store) -> Iterator[Connection]:
    with translate_errors(store.url), store.engine.connect() as conn:
        yield conn


@contextmanager
def _replica_read(replica: Replica) -> Iterator[Connection]:
    with replica.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
        yield conn


def default_origin() -> str:
    """Who registered a client, as far as a SQLite store can tell (a note, not a control)."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name in this environment
        user = "unknown"
    return f"{user}@{socket.gethostname()}"[:200]


def _store_head(conn: Connection, client_id: str) -> tuple[int, str, int | None]:
    """(entries, hash of the last one, latest checkpoint size) the store has for a client."""
    last = conn.execute(
        select(ENTRIES.c.seq, ENTRIES.c.hash)
        .where(ENTRIES.c.client_id == client_id)
        .order_by(ENTRIES.c.seq.desc())
        .limit(1)
    ).first()
    checkpoint = conn.execute(
        select(func.max(CHECKPOINTS.c.size)).where(CHECKPOINTS.c.client_id == client_id)
    ).scalar()
    return (last.seq, last.hash, checkpoint) if last else (0, GENESIS_HASH, checkpoint)


def _register(conn: Connection, client_id: str, label: str) -> None:
    known = conn.execute(select(CLIENTS.c.client_id).where(CLIENTS.c.client_id == client_id)).first()
    if known is None:
        # On Postgres a trigger replaces the origin with the login role (session_user).
        conn.execute(
            insert(CLIENTS).values(
                client_id=client_id, origin=default_origin(), label=label[:200], registered_at=utcnow()
            )
        )


def _local_divergence(replica: Replica, size: int, head: str) -> str | None:
    """Entries the store already has must still be in the local log, unchanged."""
    if size == 0:
        return None
    with _replica_read(replica) as conn:
        row = conn.execute(select(audit.AUDIT.c.hash).where(audit.AUDIT.c.seq == size)).first()
    if row is None:
        return (
            f"the store holds {size} entries of this installation's audit log but the local log "
            "has fewer: local entries were removed"
        )
    if row.hash != head:
        return f"local audit entry {size} differs from the store's copy: the local log was rewritten"
    return None


def push_entries(
    replica: Replica, store: Store, *, label: str = "", batch_size: int = PUSH_BATCH
) -> PushAuditResult:
    """Push the local entries the store does not have yet, each batch with a checkpoint, in one
    store transaction per batch. Entries are checked before they leave: a local log that fails
    verification is not pushed (the store keeps the last good checkpoint as evidence).
    Raises StoreUnavailable when the store cannot be reached; other refusals are reported."""
    client_id = replica.client_id
    assert client_id is not None
    with _store_read(store) as conn:
        size, head, checkpoint = _store_head(conn, client_id)
    result = PushAuditResult(checkpoint=checkpoint)
    result.error = _local_divergence(replica, size, head)
    if result.error:
        return result
    with _replica_read(replica) as conn:
        check = ChainCheck(client_id, purge_cutoff=audit.local_purge_cutoff(conn), after=(size, head))
    while True:
        with _replica_read(replica) as conn:
            rows = conn.execute(
                select(audit.AUDIT)
                .where(audit.AUDIT.c.seq > check.size)
                .order_by(audit.AUDIT.c.seq)
                .limit(batch_size)
            ).all()
        good = []
        for row in rows:
            if not check.add(row):
                result.error = f"local audit log fails verification at entry {row.seq}: {check.problem}"
                break
            good.append(row)
        if good:
            try:
                _push_batch(store, client_id, label, good)
            except StoreRefused as refused:
                result.error = str(refused)
                return result
            result.pushed += len(good)
            result.checkpoint = good[-1].seq
        if result.error or len(rows) < batch_size:
            return result


def _push_batch(store: Store, client_id: str, label: str, rows: list[Any]) -> None:
    now = utcnow()
    values = [{**row._mapping, "received_at": now} for row in rows]
    with _store_write(store) as conn:
        _register(conn, client_id, label)
        conn.execute(insert(ENTRIES), values)
        conn.execute(
            insert(CHECKPOINTS).values(
                client_id=client_id, size=rows[-1].seq, head_hash=rows[-1].hash, received_at=now
            )
        )


# --- verifying the store ------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientVerdict:
    client_id: str
    origin: str
    label: str
    result: VerifyResult
    checkpoints: int
    confirmed: int  # entries covered by the latest checkpoint that matched

    def describe(self) -> str:
        who = f"client {self.client_id} ({self.label or 'no label'}, origin {self.origin})"
        confirmed = f"; {self.confirmed} confirmed by {self.checkpoints} checkpoints"
        return f"{who}: {self.result.describe()}{confirmed if self.result.ok else ''}"


@dataclass
class StoreVerifyReport:
    clients: list[ClientVerdict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # rows that belong to no registered client

    @property
    def ok(self) -> bool:
        return not self.problems and all(c.result.ok for c in self.clients)

    @property
    def first_bad(self) -> ClientVerdict | None:
        return next((c for c in self.clients if not c.result.ok), None)

    def describe(self) -> str:
        lines = [c.describe() for c in self.clients] + self.problems
        total = sum(c.result.entries for c in self.clients)
        verdict = "OK" if self.ok else "BROKEN"
        lines.append(
            f"store audit trail {verdict}: {len(self.clients)} installations, {total} entries checked"
        )
        return "\n".join(lines)


def _entries(conn: Connection, client_id: str) -> Iterator[Any]:
    """A client's entries in seq order, a batch at a time (keyset: a million stay cheap)."""
    after = 0
    while True:
        rows = conn.execute(
            select(ENTRIES)
            .where(ENTRIES.c.client_id == client_id, ENTRIES.c.seq > after)
            .order_by(ENTRIES.c.seq)
            .limit(VERIFY_BATCH)
        ).all()
        yield from rows
        if len(rows) < VERIFY_BATCH:
            return
        after = rows[-1].seq


def _verify_client(conn: Connection, client: Any, store_cutoff: str | None) -> ClientVerdict:
    client_cutoff = audit.purge_cutoff_of(
        conn.execute(
            select(ENTRIES.c.payload).where(
                ENTRIES.c.client_id == client.client_id, ENTRIES.c.event == audit.AuditEvent.RETENTION_PURGE
            )
        ).scalars()
    )
    cutoff = max(filter(None, (store_cutoff, client_cutoff)), default=None)
    checkpoints = conn.execute(
        select(CHECKPOINTS.c.size, CHECKPOINTS.c.head_hash)
        .where(CHECKPOINTS.c.client_id == client.client_id)
        .order_by(CHECKPOINTS.c.id)
    ).all()
    check = ChainCheck(client.client_id, purge_cutoff=cutoff)

    def verdict(result: VerifyResult, confirmed: int) -> ClientVerdict:
        return ClientVerdict(
            client.client_id, client.origin, client.label, result, len(checkpoints), confirmed
        )

    previous = 0
    for number, checkpoint in enumerate(checkpoints, start=1):
        if checkpoint.size <= previous:
            return verdict(
                check.fail(
                    checkpoint.size,
                    f"checkpoint {number} (size {checkpoint.size}) does not extend the one before it "
                    f"(size {previous}): replayed or reordered",
                ),
                0,
            )
        previous = checkpoint.size
    wanted = {c.size: c.head_hash for c in checkpoints}
    confirmed = 0
    for row in _entries(conn, client.client_id):
        if not check.add(row):
            return verdict(check.result(), confirmed)
        expected = wanted.get(row.seq)
        if expected is not None:
            if expected != row.hash:
                return verdict(
                    check.fail(
                        confirmed + 1,
                        f"the checkpoint at entry {row.seq} names another head hash: an entry between "
                        f"{confirmed + 1} and {row.seq} was rewritten (chain recomputed) after it was "
                        "checkpointed, or the checkpoint is another chain's",
                    ),
                    confirmed,
                )
            confirmed = row.seq
    if previous > check.size:
        return verdict(
            check.fail(
                check.size + 1,
                f"a checkpoint confirms {previous} entries but the store holds {check.size}: entries "
                f"{check.size + 1}…{previous} were removed",
            ),
            confirmed,
        )
    return verdict(check.result(), confirmed)


def verify_store(store: Store) -> StoreVerifyReport:
    """Recompute every installation's chain in the store against its checkpoints."""
    report = StoreVerifyReport()
    with _store_read(store) as conn:
        store_cutoff = conn.execute(select(func.max(PURGES.c.audit_before))).scalar()
        clients = conn.execute(select(CLIENTS).order_by(CLIENTS.c.registered_at, CLIENTS.c.client_id)).all()
        for client in clients:
            report.clients.append(_verify_client(conn, client, store_cutoff))
        known = [c.client_id for c in clients]
        for table, what in ((ENTRIES, "audit entries"), (CHECKPOINTS, "checkpoints")):
            orphans = conn.execute(
                select(table.c.client_id, func.count())
                .where(table.c.client_id.not_in(known))
                .group_by(table.c.client_id)
            ).all()
            report.problems.extend(
                f"{count} {what} of client {client_id}, which was never registered"
                for client_id, count in orphans
            )
    return report


def verify_local_against_store(replica: Replica, store: Store) -> VerifyResult:
    """This installation's log against the copy the store holds: catches a local log cut short
    or recomputed after it was pushed, which the local chain alone cannot show. (The local
    chain itself is checked by `audit.verify`.)"""
    client_id = replica.client_id
    assert client_id is not None
    compared, head = 0, GENESIS_HASH
    with _store_read(store) as conn, _replica_read(replica) as local:
        ours = audit.iter_entries(local)
        for theirs in _entries(conn, client_id):
            mine = next(ours, None)
            if mine is None:
                return VerifyResult(
                    False,
                    compared,
                    head,
                    theirs.seq,
                    f"the store holds entry {theirs.seq} of this installation but the local log ends "
                    f"at {compared}: local entries were removed",
                )
            if mine.hash != theirs.hash:
                return VerifyResult(
                    False, compared, head, theirs.seq, "the local entry differs from the copy in the store"
                )
            compared, head = theirs.seq, theirs.hash
    return VerifyResult(True, compared, head)
