"""The store's personal-data tables: the values of the fields the ticket schema marks PII, kept
apart from the ticket payload so the database can withhold them, and the log of every reveal.
Import them through app.core.store_models (which imports this module last, after its base
class). Schema changes need an Alembic revision in app/core/migrations/store/versions (s0005
made these, with the triggers that keep `pii_reveals` append-only)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field

from app.core.dbtypes import UTCDateTime
from app.core.store_models import StoreModel


class TicketPii(StoreModel, table=True):
    """One revision's personal fields as JSON {field path: value}, e.g.
    {"subject.email": "…", "interaction.messages[0].from": "…"}. The ticket's payload holds the
    mask (`app.core.pii.MASK`) in their place. On Postgres only roles that may see personal data
    can read these rows (row-level security, `signoff admin setup-postgres`)."""

    __tablename__ = "ticket_pii"
    ticket_id: int = Field(
        primary_key=True,
        foreign_key="tickets.id",
        ondelete="CASCADE",  # personal data does not outlive its ticket
        sa_column_kwargs={"autoincrement": False},
    )
    revision: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    content_hash: str = Field(max_length=64)  # the full ticket's hash, as on the ticket row
    fields: str = Field(sa_column=Column(Text, nullable=False))
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class PiiReveal(StoreModel, table=True):
    """Someone was shown personal data they do not see by default: who (the login on Postgres,
    set by the database), which ticket revision, which fields. Append-only (triggers)."""

    __tablename__ = "pii_reveals"
    __table_args__ = (
        Index("ix_pii_reveals_ticket", "ticket_id"),
        Index("ix_pii_reveals_revealed_at", "revealed_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int  # no foreign key: the log outlives a deleted ticket
    revision: int
    login: str = Field(max_length=200)
    role: str = Field(max_length=32)
    fields: str = Field(sa_column=Column(Text, nullable=False))  # JSON list of field names
    revealed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
