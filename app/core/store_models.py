"""Tables of the shared store (SQLite file or Postgres). Schema changes need an Alembic revision
in app/core/migrations/store/versions; tests/test_migrations.py compares the two."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, MetaData, Text, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig

from app.core.dbtypes import UTCDateTime


class StoreModel(SQLModel, registry=registry(metadata=MetaData())):
    """Base of the store's tables: their own metadata, never mixed with the replica's."""

    # Pydantic builds a validator per model at import (~3 ms each, ~30 tables on the start
    # path); table models are never validated, so build it only if something asks.
    model_config = SQLModelConfig(from_attributes=True, defer_build=True)


class StoreInfo(StoreModel, table=True):
    __tablename__ = "store_info"
    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_column=Column(Text, nullable=False))


class Counter(StoreModel, table=True):
    """Change counter. Taking it with UPDATE ... RETURNING holds a row lock until commit, so
    change_seq values become visible in commit order and a pull cursor can never skip a row."""

    __tablename__ = "counters"
    name: str = Field(primary_key=True, max_length=32)
    value: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


class Workflow(StoreModel, table=True):
    __tablename__ = "workflows"
    name: str = Field(primary_key=True, max_length=64)
    label: str = Field(max_length=200)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class StoreReasonCode(StoreModel, table=True):
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


class StoreTicket(StoreModel, table=True):
    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_ticket_source_external_id"),
        Index("ix_tickets_change_seq", "change_seq"),
        Index("ix_tickets_workflow_status", "workflow", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=100)
    external_id: str = Field(max_length=200)
    workflow: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    status: str = Field(max_length=32)
    queue: str = Field(max_length=32)
    priority: int = Field(default=50)
    due_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    confidence: float
    exception_code: str = Field(max_length=64)
    risk_tier: str | None = Field(default=None, max_length=16)
    title: str = Field(max_length=500)
    revision: int = Field(default=1)
    content_hash: str = Field(max_length=64)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    change_seq: int = Field(sa_column=Column(BigInteger, nullable=False))


class StoreDecision(StoreModel, table=True):
    __tablename__ = "decisions"
    __table_args__ = (
        Index("ix_decisions_ticket", "ticket_id"),
        Index("ix_decisions_change_seq", "change_seq"),
        Index("ix_decisions_decided_at", "decided_at"),
    )
    decision_id: str = Field(primary_key=True, max_length=36)
    ticket_id: int = Field(foreign_key="tickets.id")
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
    received_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    change_seq: int = Field(sa_column=Column(BigInteger, nullable=False))


class Claim(StoreModel, table=True):
    """A lease on a ticket: who reviews it, until when. Rows, not advisory locks, so a claim
    survives a dropped connection and simply expires when its client dies."""

    __tablename__ = "claims"
    __table_args__ = (Index("ix_claims_expires_at", "expires_at"),)
    ticket_id: int = Field(
        primary_key=True, foreign_key="tickets.id", sa_column_kwargs={"autoincrement": False}
    )
    holder: str = Field(max_length=200)
    client_id: str = Field(max_length=36)
    claimed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    version: int = Field(default=1)
    offline: bool = Field(default=False)


# The audit tables live in their own module; importing it here registers them with the metadata.
from app.core.store_audit_models import (  # noqa: E402, F401
    AuditCheckpoint,
    AuditClient,
    RetentionPolicyRow,
    RetentionPurge,
    StoreAuditEntry,
    TicketRevision,
)
from app.core.store_metrics_models import ProcessedVolume, SecondReview, WorkflowSettings  # noqa: E402, F401
from app.core.store_pii_models import PiiReveal, TicketPii  # noqa: E402, F401
from app.core.store_policy_models import AutomationControl, StorePolicy  # noqa: E402, F401
