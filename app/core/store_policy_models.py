"""The store's policy tables: routing policies per workflow (versioned) and the automation
controls pipelines read. Import them through app.core.store_models (which imports this module
last, after its base class). Schema changes need an Alembic revision in
app/core/migrations/store/versions (s0004 made these)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field

from app.core.dbtypes import UTCDateTime
from app.core.store_models import StoreModel


class StorePolicy(StoreModel, table=True):
    """One version of one workflow's routing policy; the highest version is the active one.
    Rows are never changed: a new version is a new row, so every policy ever used stays known.
    Workflow "*" is the store-wide default for workflows without a policy of their own."""

    __tablename__ = "policies"
    workflow: str = Field(primary_key=True, max_length=64)
    version: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    rules: str = Field(sa_column=Column(Text, nullable=False))  # JSON list, first match wins
    settings: str = Field(sa_column=Column(Text, nullable=False))  # JSON: confidence bands, breaker
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class AutomationControl(StoreModel, table=True):
    """Whether the upstream pipeline may act on its own for a workflow. Pipelines read it:
    `SELECT paused FROM automation_controls WHERE workflow = ?` (no row: not paused).
    `source` is "breaker" (the circuit breaker tripped) or "manual" (an admin)."""

    __tablename__ = "automation_controls"
    workflow: str = Field(primary_key=True, max_length=64)
    paused: bool
    reason: str = Field(sa_column=Column(Text, nullable=False))
    source: str = Field(max_length=16)
    set_by: str = Field(max_length=200)
    set_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # The evidence of a breaker trip: rejection rate, decisions counted, over how many hours.
    rate: float | None = Field(default=None)
    sample_size: int | None = Field(default=None)
    window_hours: int | None = Field(default=None)
