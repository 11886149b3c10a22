"""The shared store: where pipelines put tickets and read decisions back.

Hot paths (ingest, pull, push) use SQLAlchemy Core on the SQLModel tables: ORM objects per row
would cost more than the database work itself.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from typing import Any

from sqlalchemy import Connection, Engine, Table, func, insert, select

from app.core import policy_store, store_claims, store_fetch
from app.core.db import is_sqlite, sqlite_path, store_engine
from app.core.domain import (
    Decision,
    ReasonCode,
    utcnow,
)
from app.core.metrics import workflow_settings
from app.core.migrations import runner
from app.core.netfs import network_warning
from app.core.reasons import default_reason_codes
from app.core.rows import decision_from_row, reason_from_row, reason_values
from app.core.store_changes import COUNTERS
from app.core.store_claims import ClaimState
from app.core.store_errors import (
    StoreError,
    StoreNotInitialized,
    StoreOutdated,
    StoreRefused,
    StoreUnavailable,
    redact_url,
    translate_errors,
)
from app.core.store_ingest import IngestOutcome, db_text, ingest_prepared, prepare, ticket_columns
from app.core.store_models import StoreDecision, StoreInfo, StoreReasonCode, StoreTicket, Workflow
from app.core.store_push import PushOutcome, push_decisions

log = logging.getLogger(__name__)

TICKETS = StoreTicket.__table__
DECISIONS = StoreDecision.__table__
REASONS = StoreReasonCode.__table__
WORKFLOWS = Workflow.__table__
INFO = StoreInfo.__table__

# Re-exported: callers import the store's vocabulary from here.
__all__ = [
    "IngestOutcome",
    "PushOutcome",
    "Store",
    "StoreError",
    "StoreNotInitialized",
    "StoreOutdated",
    "StoreRefused",
    "StoreUnavailable",
    "batched",
    "db_text",
    "redact_url",
    "ticket_columns",
]


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """itertools.batched arrived in Python 3.12; Signoff supports 3.11."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


class Store:
    """One shared store, opened by URL. Thread-safe: each call checks out its own connection."""

    def __init__(self, url: str, engine: Engine) -> None:
        self.url = url
        self.engine = engine
        self._store_id: str | None = None

    # --- opening -------------------------------------------------------------------------

    @classmethod
    def initialize(cls, url: str) -> Store:
        """Create the store, or upgrade it to this version's schema; idempotent."""
        engine = store_engine(url)
        with translate_errors(url):
            current = runner.current_revision(engine, "store")
        if current is not None and current not in runner.known_revisions("store"):
            engine.dispose()
            raise StoreOutdated(_newer_schema(url, current))
        with translate_errors(url):
            runner.upgrade(engine, "store")
            store = cls(url, engine)
            store._seed()
        return store

    @classmethod
    def open(cls, url: str) -> Store:
        """Open an existing store at the schema this version expects, or say how to fix it."""
        path = sqlite_path(url)
        if path is not None and not path.exists():
            # SQLite would silently create an empty file here; a missing shared file is an
            # unreachable store (unmounted drive, VPN down), not a new one.
            raise StoreUnavailable(f"cannot reach the store {redact_url(url)}: no such file {path}")
        engine = store_engine(url)
        try:
            with translate_errors(url):
                current = runner.current_revision(engine, "store")
        except StoreRefused as refused:
            engine.dispose()
            raise StoreNotInitialized(
                f"{redact_url(url)} is not a Signoff store: {refused.reason}"
            ) from refused
        head = runner.head_revision("store")
        if current != head:
            engine.dispose()  # a refused store keeps no pooled connection open
        if current is not None and current.startswith("r"):
            raise StoreNotInitialized(
                f"{redact_url(url)} is a Signoff replica (one installation's local copy), not a shared "
                "store; give the URL of the store the team shares"
            )
        upgrade_hint = f"run: signoff init-store --store '{redact_url(url)}'"
        if current is None:
            raise StoreNotInitialized(f"{redact_url(url)} is not a Signoff store yet; {upgrade_hint}")
        if current != head:
            if current not in runner.known_revisions("store"):
                raise StoreOutdated(_newer_schema(url, current))
            raise StoreOutdated(
                f"{redact_url(url)} uses store schema {current}, this Signoff needs {head}; {upgrade_hint}"
            )
        return cls(url, engine)

    def warnings(self) -> list[str]:
        """Things about this store a reviewer should know (a shared file on a network drive)."""
        path = sqlite_path(self.url)
        warning = network_warning(path) if path is not None else None
        return [warning] if warning else []

    def close(self) -> None:
        self.engine.dispose()

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    @property
    def store_id(self) -> str:
        if self._store_id is None:
            with self._connect() as conn:
                self._store_id = conn.execute(
                    select(INFO.c.value).where(INFO.c.key == "store_id")
                ).scalar_one()
        return self._store_id

    def _seed(self) -> None:
        with self.engine.begin() as conn:
            if conn.execute(select(INFO.c.value).where(INFO.c.key == "store_id")).first() is None:
                conn.execute(
                    insert(INFO),
                    [
                        {"key": "store_id", "value": str(uuid.uuid4())},
                        {"key": "created_at", "value": utcnow().isoformat()},
                    ],
                )
            if conn.execute(select(REASONS.c.id).limit(1)).first() is None:
                conn.execute(
                    insert(REASONS),
                    [reason_values(r) for r in default_reason_codes()],
                )

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        with translate_errors(self.url), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with translate_errors(self.url), self.engine.begin() as conn:
            yield conn

    # --- reference data ------------------------------------------------------------------

    def reason_codes(self) -> list[ReasonCode]:
        with self._connect() as conn:
            rows = conn.execute(select(REASONS)).all()
        return [reason_from_row(r) for r in rows]

    def workflows(self) -> list[tuple[str, str]]:
        with self._connect() as conn:
            return [(r.name, r.label) for r in conn.execute(select(WORKFLOWS).order_by(WORKFLOWS.c.name))]

    # --- tickets in ----------------------------------------------------------------------

    def ingest(
        self, tickets: Iterable[tuple[int, dict[str, Any]]], *, batch_size: int = 2000
    ) -> IngestOutcome:
        """Store validated tickets, given with their line numbers. Re-sending the same content
        is a no-op; new content updates an undecided ticket (and reopens one awaiting
        clarification); a decided ticket refuses it. Each workflow's active policy routes its
        tickets (loaded once per call: a policy saved meanwhile applies to the next call)."""
        outcome = IngestOutcome()
        with self._connect() as conn:
            # A workflow in shadow mode automates nothing: every item comes to review.
            router = workflow_settings.shadow_router(
                policy_store.router(policy_store.active_policies(conn)),
                workflow_settings.shadow_workflows(conn),
            )
        prepared = (prepare(line, ticket, router) for line, ticket in tickets)
        for chunk in batched(prepared, batch_size):
            with self._transaction() as conn:
                ingest_prepared(conn, chunk, outcome)
        return outcome

    def pull_tickets(self, after_seq: int, limit: int = 5000) -> list[dict[str, Any]]:
        """Tickets changed after a cursor, in change order. Safe against out-of-order commits
        because change_seq is handed out under a lock held to commit (see Counter)."""
        with self._connect() as conn:
            return store_fetch.ticket_dicts(conn, after_seq, limit)

    def ticket_count(self) -> int:
        with self._connect() as conn:
            return conn.execute(select(func.count()).select_from(TICKETS)).scalar_one()

    # --- decisions back ------------------------------------------------------------------

    def push_decisions(self, decisions: Sequence[Decision]) -> PushOutcome:
        """Idempotent: a decision_id already in the store counts as accepted and changes
        nothing, so a retry after a crash or a timeout never duplicates."""
        if not decisions:
            return PushOutcome()
        with self._transaction() as conn:
            return push_decisions(conn, decisions)

    def has_decisions(self, decision_ids: Sequence[str]) -> set[str]:
        """Which of these decisions the store has (restore detection: a store restored from an
        older backup lost the latest ones it had accepted)."""
        if not decision_ids:
            return set()
        with self._connect() as conn:
            return set(
                conn.execute(
                    select(DECISIONS.c.decision_id).where(DECISIONS.c.decision_id.in_(list(decision_ids)))
                ).scalars()
            )

    def pull_decisions(self, after_seq: int, limit: int = 5000) -> list[dict[str, Any]]:
        """Decisions (every reviewer's) changed after a cursor, in change order."""
        return self._changed_since(DECISIONS, after_seq, limit)

    def _changed_since(self, table: Table, after_seq: int, limit: int) -> list[dict[str, Any]]:
        with self._connect() as conn:
            rows = conn.execute(
                select(table).where(table.c.change_seq > after_seq).order_by(table.c.change_seq).limit(limit)
            ).all()
        return [r._asdict() for r in rows]

    def change_counter(self) -> int:
        """The highest change number handed out. A replica that has seen more than this is
        looking at a store restored from an older backup."""
        with self._connect() as conn:
            return conn.execute(select(COUNTERS.c.value).where(COUNTERS.c.name == "change")).scalar_one()

    # --- claims --------------------------------------------------------------------------

    def claim(self, ticket_id: int, *, holder: str, client_id: str) -> ClaimState:
        with self._transaction() as conn:
            return store_claims.claim(conn, ticket_id, holder=holder, client_id=client_id)

    def release(self, ticket_ids: Sequence[int], *, client_id: str) -> int:
        with self._transaction() as conn:
            return store_claims.release(conn, ticket_ids, client_id=client_id)

    def claim_batch(
        self,
        *,
        holder: str,
        client_id: str,
        count: int,
        workflow: str | None = None,
        queue: str | None = None,
    ) -> list[ClaimState]:
        with self._transaction() as conn:
            return store_claims.claim_batch(
                conn, holder=holder, client_id=client_id, count=count, workflow=workflow, queue=queue
            )

    def active_claims(self) -> list[ClaimState]:
        with self._connect() as conn:
            return store_claims.active_claims(conn)

    def iter_decisions(self, batch_size: int = 5000) -> Iterator[dict[str, Any]]:
        """Every decision as a `signoff.decision/1` record, oldest change first, streamed."""
        after = 0
        while True:
            with self._connect() as conn:
                rows = conn.execute(
                    select(DECISIONS)
                    .where(DECISIONS.c.change_seq > after)
                    .order_by(DECISIONS.c.change_seq)
                    .limit(batch_size)
                ).all()
            if not rows:
                return
            for row in rows:
                yield decision_from_row(row).to_record()
            after = rows[-1].change_seq


def _newer_schema(url: str, current: str) -> str:
    return (
        f"{redact_url(url)} was upgraded by a newer Signoff (schema {current}); "
        "install that version to use it"
    )
