"""Per-workflow settings an administrator sets: shadow mode and the share of tickets that get a
blind second review. Kept in the store (`workflow_settings`), read by the store's push rule, the
metrics and the pipeline (through `signoff metrics --json`)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select, update

from app.core import policy
from app.core.db import READ_ONLY
from app.core.domain import Queue, Role, parse_rfc3339, to_rfc3339, utcnow
from app.core.store_errors import translate_errors
from app.core.store_models import WorkflowSettings

if TYPE_CHECKING:  # the store's push rule imports this module: no import cycle through Store
    from app.core.store import Store

SETTINGS = WorkflowSettings.__table__
CHANGERS = (str(Role.ADMIN),)


class SettingsError(Exception):
    """A settings change that cannot be made as asked; the message says why."""


@dataclass(frozen=True)
class WorkflowConfig:
    workflow: str
    shadow_mode: bool = False
    shadow_since: datetime | None = None
    second_review_share: float = 0.0
    salt: str = ""
    updated_at: datetime | None = None
    updated_by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "shadow_mode": self.shadow_mode,
            "shadow_since": to_rfc3339(self.shadow_since) if self.shadow_since else None,
            "second_review_share": self.second_review_share,
            "updated_at": to_rfc3339(self.updated_at) if self.updated_at else None,
            "updated_by": self.updated_by,
        }


def _config(row: Any) -> WorkflowConfig:
    return WorkflowConfig(
        workflow=row.workflow,
        shadow_mode=bool(row.shadow_mode),
        shadow_since=row.shadow_since,
        second_review_share=float(row.second_review_share),
        salt=row.second_review_salt,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def config_of(conn: Connection, workflow: str) -> WorkflowConfig | None:
    row = conn.execute(select(SETTINGS).where(SETTINGS.c.workflow == workflow)).first()
    return _config(row) if row is not None else None


def all_configs(conn: Connection) -> dict[str, WorkflowConfig]:
    return {r.workflow: _config(r) for r in conn.execute(select(SETTINGS).order_by(SETTINGS.c.workflow))}


def shadow_workflows(conn: Connection) -> set[str]:
    """The workflows in shadow mode: what a pipeline reads as
    `SELECT shadow_mode FROM workflow_settings WHERE workflow = ?` (no row: not in shadow mode)."""
    return set(conn.execute(select(SETTINGS.c.workflow).where(SETTINGS.c.shadow_mode.is_(True))).scalars())


Router = Callable[[dict[str, Any]], policy.Routing]


def shadow_router(router: Router, shadow: Collection[str]) -> Router:
    """Ingest's router for a store with workflows in shadow mode: nothing of theirs is automated,
    so a ticket the policy would automate comes to the review queue (its standard priority and
    SLA) and every item gets a human decision to compare with the AI's proposal."""
    if not shadow:
        return router

    def route(ticket: dict[str, Any]) -> policy.Routing:
        routing = router(ticket)
        if not routing.auto or ticket["workflow"] not in shadow:
            return routing
        created = parse_rfc3339(ticket["created_at"])
        return policy.Routing(
            queue=Queue.REVIEW,
            priority=policy.PRIORITY[Queue.REVIEW],
            due_at=created + policy.SLA[Queue.REVIEW],
        )

    return route


def read_configs(store: Store) -> dict[str, WorkflowConfig]:
    with translate_errors(store.url), store.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
        return all_configs(conn)


def change(
    store: Store,
    workflow: str,
    *,
    actor: str,
    role: str,
    shadow_mode: bool | None = None,
    second_review_share: float | None = None,
) -> tuple[WorkflowConfig, WorkflowConfig]:
    """Set what is given, keep the rest; returns (before, after). Administrators only."""
    if str(role) not in CHANGERS:
        raise SettingsError(f"only an administrator may change workflow settings (you are {role})")
    if second_review_share is not None and not 0.0 <= second_review_share <= 1.0:
        raise SettingsError(f"the second-review share is between 0 and 1, not {second_review_share}")
    now = utcnow()
    with translate_errors(store.url), store.engine.begin() as conn:
        before = config_of(conn, workflow)
        current = before or WorkflowConfig(workflow, salt=secrets.token_hex(16))
        after = replace(current, updated_at=now, updated_by=actor)
        if shadow_mode is not None and shadow_mode != current.shadow_mode:
            after = replace(after, shadow_mode=shadow_mode, shadow_since=now if shadow_mode else None)
        if second_review_share is not None:
            after = replace(after, second_review_share=second_review_share)
        values = {
            "shadow_mode": after.shadow_mode,
            "shadow_since": after.shadow_since,
            "second_review_share": after.second_review_share,
            "second_review_salt": after.salt,
            "updated_at": now,
            "updated_by": actor,
        }
        if before is None:
            conn.execute(insert(SETTINGS).values(workflow=workflow, **values))
        else:
            conn.execute(update(SETTINGS).where(SETTINGS.c.workflow == workflow).values(**values))
    return before or WorkflowConfig(workflow), after


def differences(before: WorkflowConfig, after: WorkflowConfig) -> dict[str, tuple[Any, Any]]:
    """What changed, as audit.changes_data takes it."""
    return {
        name: (getattr(before, name), getattr(after, name))
        for name in ("shadow_mode", "second_review_share")
        if getattr(before, name) != getattr(after, name)
    }
