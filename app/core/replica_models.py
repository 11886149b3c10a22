"""Tables of an installation's local replica (always SQLite). Schema changes need an Alembic
revision in app/core/migrations/replica/versions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, MetaData, Text, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig

from app.core.dbtypes import UTCDateTime


class ReplicaModel(SQLModel, registry=registry(metadata=MetaData())):
    """Base of the replica's tables: their own metadata, never mixed with the store's."""

    # Pydantic builds a validator per model at import (~3 ms each, ~30 tables on the start
    # path); table models are never validated, so build it only if something asks.
    model_config = SQLModelConfig(from_attributes=True, defer_build=True)


class ReplicaInfo(ReplicaModel, table=True):
    __tablename__ = "replica_info"
    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_column=Column(Text, nullable=False))


class ReplicaReasonCode(ReplicaModel, table=True):
    __tablename__ = "reason_codes"
    __table_args__ = (UniqueConstraint("workflow", "action", "code", name="uq_reason_code"),)
    id: int | None = Field(default=None, primary_key=True)
    workflow: str = Field(default="*", max_length=64)
    action: str = Field(max_length=16)
    code: str = Field(max_length=64)
    label: str = Field(max_length=200)
    escalates: bool = Field(default=False)
    active: bool = Field(default=True)
    position: int = Field(default=0)


class ReplicaWorkflow(ReplicaModel, table=True):
    __tablename__ = "workflows"
    name: str = Field(primary_key=True, max_length=64)
    label: str = Field(max_length=200)


class ReplicaTicket(ReplicaModel, table=True):
    """A ticket as pulled from the store; `id` is the store's id. `status` is the status this
    reviewer sees: the store's, unless a local decision not yet pushed says otherwise."""

    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_ticket_source_external_id"),
        # One index per queue sort order, led by status so the open queue is a range scan.
        Index("ix_tickets_status_due", "status", "due_at", "id"),
        Index("ix_tickets_status_confidence", "status", "confidence", "id"),
        Index("ix_tickets_status_created", "status", "created_at", "id"),
        # A filtered queue in due order (the default sort) is a range scan too: without these a
        # rare workflow or queue walks the whole status index before its first 200 rows (P10).
        Index("ix_tickets_status_workflow_due", "status", "workflow", "due_at", "id"),
        Index("ix_tickets_status_queue_due", "status", "queue", "due_at", "id"),
    )
    id: int = Field(primary_key=True)
    source: str = Field(max_length=100)
    external_id: str = Field(max_length=200)
    workflow: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    status: str = Field(max_length=32)
    store_status: str = Field(max_length=32)
    queue: str = Field(max_length=32)
    priority: int = Field(default=50)
    due_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    confidence: float
    exception_code: str = Field(max_length=64)
    risk_tier: str | None = Field(default=None, max_length=16)
    title: str = Field(max_length=500)
    search_text: str = Field(sa_column=Column(Text, nullable=False))
    revision: int = Field(default=1)
    content_hash: str = Field(max_length=64)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    change_seq: int


class ReplicaDecision(ReplicaModel, table=True):
    __tablename__ = "decisions"
    __table_args__ = (
        Index("ix_decisions_ticket", "ticket_id"),
        Index("ix_decisions_push_state", "push_state"),
    )
    decision_id: str = Field(primary_key=True, max_length=36)
    ticket_id: int
    source: str = Field(max_length=100)
    external_id: str = Field(max_length=200)
    workflow: str = Field(max_length=64)
    action: str = Field(max_length=16)
    reason_code: str = Field(max_length=64)
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    reviewer: str = Field(max_length=200)
    role: str = Field(max_length=32)
    decided_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    client_id: str = Field(max_length=36)
    ai: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(max_length=16)
    ticket_revision: int
    supersedes: str | None = Field(default=None, max_length=36)
    push_state: str = Field(max_length=16)
    push_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    pushed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class OutboxEntry(ReplicaModel, table=True):
    """FIFO upload queue; a row leaves only after the store has committed its decision."""

    __tablename__ = "outbox"
    seq: int | None = Field(default=None, primary_key=True)
    decision_id: str = Field(max_length=36, unique=True)
    enqueued_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    attempts: int = Field(default=0)
    next_attempt_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Set while a push is under way: undo must not withdraw what may already be in the store.
    pushing_since: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class PullStaging(ReplicaModel, table=True):
    """Rows of a pull in progress. Applied to `tickets` in one transaction at the end, so a
    crash mid-pull leaves the replica at the old state or the new one, never between."""

    __tablename__ = "pull_staging"
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    row: str = Field(sa_column=Column(Text, nullable=False))  # the ticket columns as JSON
    change_seq: int


class RemoteDecision(ReplicaModel, table=True):
    """Decisions on this store's tickets as the store has them (every reviewer's), so
    conflicts and escalations show all sides."""

    __tablename__ = "remote_decisions"
    __table_args__ = (Index("ix_remote_decisions_ticket", "ticket_id"),)
    decision_id: str = Field(primary_key=True, max_length=36)
    ticket_id: int
    record: str = Field(sa_column=Column(Text, nullable=False))  # signoff.decision/1 as JSON
    status: str = Field(max_length=16)
    change_seq: int


class ReplicaClaim(ReplicaModel, table=True):
    """Claims the store reported at the last sync (who is reviewing what)."""

    __tablename__ = "claims"
    ticket_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    holder: str = Field(max_length=200)
    client_id: str = Field(max_length=36)
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    offline: bool = Field(default=False)


# The audit tables live in their own module; importing it here registers them with the metadata.
from app.core.replica_audit_models import AuditEntry, AuditHead  # noqa: E402, F401
