"""The replica's audit tables: the hash-chained log and its head anchor. Import them through
app.core.replica_models (which imports this module last, after its base class). Schema changes need an
Alembic revision in app/core/migrations/replica/versions (r0002 made these)."""

from __future__ import annotations

from sqlalchemy import Column, Index, Text
from sqlmodel import Field

from app.core.replica_models import ReplicaModel


class AuditEntry(ReplicaModel, table=True):
    """Append-only, hash-chained (see app.core.audit). Triggers refuse UPDATE and DELETE, except
    the retention purge dropping an old entry's payload (its digest stays in the chain)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_event_at", "event", "at"),
        Index("ix_audit_log_actor_at", "actor", "at"),
        Index("ix_audit_log_decision_id", "decision_id"),
        Index("ix_audit_log_external_id", "external_id"),
        Index("ix_audit_log_model_version_at", "model_version", "at"),
    )
    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    client_id: str = Field(max_length=36)
    at: str = Field(max_length=32)
    actor: str = Field(max_length=200)
    role: str = Field(max_length=32)
    event: str = Field(max_length=64)
    ticket_id: int | None = Field(default=None, index=True)
    # Facts taken from the payload when the entry is written, hashed with it, kept after a purge.
    external_id: str | None = Field(default=None, max_length=200)
    workflow: str | None = Field(default=None, max_length=64)
    action: str | None = Field(default=None, max_length=16)
    reason_code: str | None = Field(default=None, max_length=64)
    model_version: str | None = Field(default=None, max_length=100)
    queue: str | None = Field(default=None, max_length=32)
    decision_id: str | None = Field(default=None, max_length=36)
    content_hash: str | None = Field(default=None, max_length=64)
    payload: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # None once purged
    payload_sha256: str = Field(max_length=64)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(ReplicaModel, table=True):
    """One row, moved by a trigger on every append: the size and hash the log must end with,
    so deleting entries from the end (truncation) is noticed too."""

    __tablename__ = "audit_head"
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    size: int
    hash: str = Field(max_length=64)
