"""The store's metrics tables: the pipeline's processed volume (the denominator of exception
rates), per-workflow settings for shadow mode and blind second review, and the second-review
pairs. Import them through app.core.store_models (which imports this module last, after its base
class). Schema changes need an Alembic revision in app/core/migrations/store/versions (s0006)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Date, Index
from sqlmodel import Field

from app.core.dbtypes import UTCDateTime
from app.core.store_models import StoreModel, StoreTicket


class ProcessedVolume(StoreModel, table=True):
    """How many items a pipeline processed for a workflow on a (UTC) day, automated or not.
    Re-reporting a (workflow, day, source) replaces the number."""

    __tablename__ = "processed_volume"
    workflow: str = Field(primary_key=True, max_length=64)
    day: date = Field(sa_column=Column(Date, primary_key=True, autoincrement=False))
    source: str = Field(primary_key=True, max_length=100)
    items: int
    reported_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class WorkflowSettings(StoreModel, table=True):
    """What an administrator set for one workflow. In shadow mode the pipeline acts on nothing
    by itself; `second_review_share` of tickets get a blind second reviewer, chosen by a hash of
    the ticket id and `second_review_salt` (so nobody can predict or steer the choice)."""

    __tablename__ = "workflow_settings"
    workflow: str = Field(primary_key=True, max_length=64)
    shadow_mode: bool = Field(default=False)
    shadow_since: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    second_review_share: float = Field(default=0.0)
    second_review_salt: str = Field(max_length=64)
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_by: str = Field(max_length=200)


class SecondReview(StoreModel, table=True):
    """A ticket chosen for a blind second review: opened by its first decision, closed by the
    second reviewer's. `agreed` is None while open."""

    __tablename__ = "second_reviews"
    __table_args__ = (
        Index("ix_second_reviews_second_decision", "second_decision_id"),
        Index("ix_second_reviews_workflow_closed", "workflow", "closed_at"),
    )
    ticket_id: int = Field(
        primary_key=True, foreign_key="tickets.id", sa_column_kwargs={"autoincrement": False}
    )
    workflow: str = Field(max_length=64)
    first_decision_id: str = Field(max_length=36)
    first_reviewer: str = Field(max_length=200)
    first_action: str = Field(max_length=16)
    opened_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    second_decision_id: str | None = Field(default=None, max_length=36)
    second_reviewer: str | None = Field(default=None, max_length=200)
    second_action: str | None = Field(default=None, max_length=16)
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    agreed: bool | None = Field(default=None)


# The metrics read tickets by creation time: the index is declared here, with the migration that
# made it (s0006), rather than in the tickets model.
Index("ix_tickets_created_at", StoreTicket.__table__.c.created_at)
