"""The store's audit tables: every installation's chain, its checkpoints, ticket revisions as
reviewers saw them, and the retention policy with its purge log. Import them through
app.core.store_models (which imports this module last, after its base class). Schema changes
need an Alembic revision in app/core/migrations/store/versions (s0002 made these, with the
triggers that enforce the rules in the database itself)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field

from app.core.dbtypes import UTCDateTime
from app.core.store_models import StoreModel


class AuditClient(StoreModel, table=True):
    """An installation that pushes its chain here, bound to the origin that first registered it
    (on Postgres the login role, set by a trigger; on SQLite a note of user and host)."""

    __tablename__ = "audit_clients"
    client_id: str = Field(primary_key=True, max_length=36)
    origin: str = Field(max_length=200)
    label: str = Field(max_length=200)
    registered_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class StoreAuditEntry(StoreModel, table=True):
    """A copy of one entry of one installation's chain; columns as in the replica's audit_log."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_at", "at"),
        Index("ix_audit_entries_event_at", "event", "at"),
        Index("ix_audit_entries_actor_at", "actor", "at"),
        Index("ix_audit_entries_ticket_id", "ticket_id"),
        Index("ix_audit_entries_decision_id", "decision_id"),
        Index("ix_audit_entries_external_id", "external_id"),
        Index("ix_audit_entries_model_version_at", "model_version", "at"),
    )
    client_id: str = Field(primary_key=True, max_length=36, foreign_key="audit_clients.client_id")
    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    at: str = Field(max_length=32)
    actor: str = Field(max_length=200)
    role: str = Field(max_length=32)
    event: str = Field(max_length=64)
    ticket_id: int | None = Field(default=None)
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
    received_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class AuditCheckpoint(StoreModel, table=True):
    """A client's claim "my chain has `size` entries ending in `head_hash`". Each one must
    extend the one before; later evidence that the chain was rewritten or cut short."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (UniqueConstraint("client_id", "size", name="uq_audit_checkpoint_size"),)
    id: int | None = Field(default=None, primary_key=True)
    client_id: str = Field(max_length=36, foreign_key="audit_clients.client_id")
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    head_hash: str = Field(max_length=64)
    received_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class TicketRevision(StoreModel, table=True):
    """A ticket's content as it was before new content replaced it (a trigger on tickets keeps
    these), so a decision opens on what its reviewer saw. `payload` is None once purged."""

    __tablename__ = "ticket_revisions"
    __table_args__ = (Index("ix_ticket_revisions_content_hash", "content_hash"),)
    ticket_id: int = Field(
        primary_key=True, foreign_key="tickets.id", sa_column_kwargs={"autoincrement": False}
    )
    revision: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    content_hash: str = Field(max_length=64)
    payload: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    purged_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class RetentionPolicyRow(StoreModel, table=True):
    """The store's one retention policy (id 1). None days: keep for ever."""

    __tablename__ = "retention_policy"
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    interaction_days: int | None = Field(default=None)
    decision_log_days: int | None = Field(default=None)
    purge_roles: str = Field(max_length=200)
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_by: str = Field(max_length=200)


class RetentionPurge(StoreModel, table=True):
    """One purge, append-only: what was cut and by whom. Audit entries may lose their payload
    only when older than a purge's `audit_before` (a trigger checks)."""

    __tablename__ = "retention_purges"
    id: int | None = Field(default=None, primary_key=True)
    purged_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    actor: str = Field(max_length=200)
    role: str = Field(max_length=32)
    origin: str = Field(max_length=200)
    interaction_before: str | None = Field(default=None, max_length=32)
    audit_before: str | None = Field(default=None, max_length=32)
    tickets: int = Field(default=0)
    revisions: int = Field(default=0)
    entries: int = Field(default=0)
    notes: int = Field(default=0)
