"""The circuit breaker: when people reject too many of a workflow's AI recommendations, tell
the upstream pipeline to stop acting on its own for that workflow.

Over each workflow's window (policy: default 48 h), the rate is rejections / (approvals +
rejections) among standing decisions (a superseded decision gave way to a later call; a
clarification is no verdict on the AI). With at least `min_sample` decisions and a rate at or
above the threshold (default 5 %), `evaluate` writes a pause to `automation_controls`, which
pipelines read. A pause stays until an admin resumes; after a resume the breaker counts only
decisions made since, so the evidence that tripped it does not trip it again at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.core import audit, policy_store
from app.core.db import READ_ONLY
from app.core.domain import Action, DecisionStatus, Role, to_rfc3339, utcnow
from app.core.policy import BREAKER, BreakerSettings
from app.core.store_errors import StoreRefused, translate_errors
from app.core.store_models import StoreDecision, Workflow
from app.core.store_policy_models import AutomationControl

if TYPE_CHECKING:
    from app.core.replica import Replica
    from app.core.store import Store

log = logging.getLogger(__name__)

CONTROLS = AutomationControl.__table__
DECISIONS = StoreDecision.__table__
WORKFLOWS = Workflow.__table__
MANUAL = "manual"
BREAKER_ACTOR = "circuit breaker"


@dataclass(frozen=True)
class Control:
    workflow: str
    paused: bool
    reason: str
    source: str
    set_by: str
    set_at: datetime
    rate: float | None = None
    sample_size: int | None = None
    window_hours: int | None = None

    def describe(self) -> str:
        when = to_rfc3339(self.set_at)[:16].replace("T", " ")
        state = "paused" if self.paused else "running"
        return f"{self.workflow}: automation {state} since {when} UTC by {self.set_by} — {self.reason}"


@dataclass(frozen=True)
class Measure:
    """One workflow's evidence over its window."""

    workflow: str
    rejected: int
    sample_size: int  # approvals + rejections counted
    since: datetime
    settings: BreakerSettings

    @property
    def rate(self) -> float:
        return self.rejected / self.sample_size if self.sample_size else 0.0

    @property
    def trips(self) -> bool:
        return self.sample_size >= self.settings.min_sample and self.rate >= self.settings.threshold


@dataclass(frozen=True)
class Trip:
    workflow: str
    rate: float
    rejected: int
    sample_size: int
    window_hours: int
    threshold: float
    at: datetime

    def describe(self) -> str:
        return (
            f"circuit breaker: {self.rejected} of {self.sample_size} AI recommendations rejected "
            f"({self.rate:.1%}) in the last {self.window_hours} h, threshold {self.threshold:.1%}"
        )


def _control(row: Any) -> Control:
    return Control(
        workflow=row.workflow,
        paused=row.paused,
        reason=row.reason,
        source=row.source,
        set_by=row.set_by,
        set_at=row.set_at,
        rate=row.rate,
        sample_size=row.sample_size,
        window_hours=row.window_hours,
    )


def _controls(conn: Connection) -> dict[str, Control]:
    return {row.workflow: _control(row) for row in conn.execute(select(CONTROLS))}


def controls(store: Store) -> list[Control]:
    """Every workflow's control row (a workflow without one has never been paused)."""
    with translate_errors(store.url), store.engine.connect() as conn:
        return sorted(_controls(conn).values(), key=lambda c: c.workflow)


def paused(store: Store) -> list[Control]:
    return [c for c in controls(store) if c.paused]


# --- measuring -------------------------------------------------------------------------------


def _measure(
    conn: Connection, workflow: str, settings: BreakerSettings, control: Control | None, now: datetime
) -> Measure:
    since = now - timedelta(hours=settings.window_hours)
    if control is not None and not control.paused and control.set_at > since:
        since = control.set_at  # re-armed by a resume: only what came after counts
    counts = dict(
        conn.execute(
            select(DECISIONS.c.action, func.count())
            .where(
                DECISIONS.c.workflow == workflow,
                DECISIONS.c.decided_at > since,
                DECISIONS.c.decided_at <= now,
                DECISIONS.c.status != str(DecisionStatus.SUPERSEDED),
                DECISIONS.c.action.in_([str(Action.APPROVE), str(Action.REJECT)]),
            )
            .group_by(DECISIONS.c.action)
        ).all()
    )
    rejected = counts.get(str(Action.REJECT), 0)
    return Measure(workflow, rejected, rejected + counts.get(str(Action.APPROVE), 0), since, settings)


def measure(store: Store, workflow: str, now: datetime | None = None) -> Measure:
    """Where a workflow stands now (for the policy editor)."""
    now = now or utcnow()
    with translate_errors(store.url), store.engine.connect() as conn:
        settings = policy_store.effective(policy_store.active_policies(conn), workflow).policy.breaker
        return _measure(conn, workflow, settings, _controls(conn).get(workflow), now)


def evaluate(store: Store, now: datetime | None = None) -> list[Trip]:
    """Check every workflow; pause the ones whose rejection rate reached their threshold.
    Idempotent, and safe with several installations at once: each trip is written (and so
    returned) exactly once, by whoever got there first. Run it after every sync push."""
    now = now or utcnow()
    # Measure on a read-only connection (no write lock on a shared SQLite file for the common
    # case, nothing to do); the conditional write below keeps it exact when something trips.
    tripping = []
    with translate_errors(store.url), store.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
        policies = policy_store.active_policies(conn)
        current = _controls(conn)
        for workflow in conn.execute(select(WORKFLOWS.c.name).order_by(WORKFLOWS.c.name)).scalars():
            control = current.get(workflow)
            if control is not None and control.paused:
                continue
            settings = policy_store.effective(policies, workflow).policy.breaker
            found = _measure(conn, workflow, settings, control, now)
            if found.trips:
                tripping.append(found)
    trips = []
    if not tripping:
        return trips
    with translate_errors(store.url), store.engine.begin() as conn:
        for found in tripping:
            trip = Trip(
                workflow=found.workflow,
                rate=found.rate,
                rejected=found.rejected,
                sample_size=found.sample_size,
                window_hours=found.settings.window_hours,
                threshold=found.settings.threshold,
                at=now,
            )
            if _set_paused(conn, store.is_sqlite, _values(trip_control(trip)), expect_paused=False):
                trips.append(trip)
    return trips


def check_after_sync(store: Store, replica: Replica, *, actor: str, role: Role) -> list[Trip]:
    """What a sync cycle runs after its push: evaluate, and audit any trip in this
    installation's chain. A store that refuses this login the write (row security that lets
    only some roles pause) is logged, never a failed sync: another installation will trip it."""
    try:
        trips = evaluate(store)
    except StoreRefused as refused:
        log.warning("circuit breaker not evaluated: %s", refused)
        return []
    record_trips(replica, trips, actor=actor, role=role)
    return trips


def _values(control: Control) -> dict[str, Any]:
    return {name: getattr(control, name) for name in Control.__dataclass_fields__}


def _set_paused(conn: Connection, sqlite: bool, values: dict[str, Any], *, expect_paused: bool) -> bool:
    """Write a control row only if the workflow is still as expected (not paused, or paused):
    RETURNING says whether this call made the change (rowcount is unreliable for an
    INSERT … ON CONFLICT DO NOTHING on some drivers)."""
    workflow = values["workflow"]
    changed = conn.execute(
        update(CONTROLS)
        .where(CONTROLS.c.workflow == workflow, CONTROLS.c.paused.is_(expect_paused))
        .values(**values)
        .returning(CONTROLS.c.workflow)
    ).first()
    if changed is not None or expect_paused:
        return changed is not None
    # No row yet means "not paused": insert, unless another installation just did.
    insert = (sqlite_insert if sqlite else pg_insert)(CONTROLS).values(**values)
    inserted = conn.execute(
        insert.on_conflict_do_nothing(index_elements=["workflow"]).returning(CONTROLS.c.workflow)
    ).first()
    return inserted is not None


# --- by hand ---------------------------------------------------------------------------------


class ControlError(Exception):
    """A pause or resume that cannot be done as asked; the message says why."""


def _by_hand(
    store: Store, workflow: str, reason: str, *, pause: bool, actor: str, role: Role | str, now: datetime
) -> Control:
    verb = "pause" if pause else "resume"
    policy_store.require_admin(role, f"{verb} automation")
    reason = " ".join(reason.split())
    if not reason:
        raise ControlError(f"say why you {verb} automation for {workflow} (the reason is recorded)")
    control = Control(workflow, pause, reason, MANUAL, actor[:200], now)
    with translate_errors(store.url), store.engine.begin() as conn:
        if not _set_paused(conn, store.is_sqlite, _values(control), expect_paused=not pause):
            raise ControlError(f"automation for {workflow} is already {'paused' if pause else 'running'}")
    return control


def pause(
    store: Store, workflow: str, reason: str, *, actor: str, role: Role | str, now: datetime | None = None
) -> Control:
    """An admin stops the pipeline acting on its own for `workflow`, saying why."""
    return _by_hand(store, workflow, reason, pause=True, actor=actor, role=role, now=now or utcnow())


def resume(
    store: Store, workflow: str, reason: str, *, actor: str, role: Role | str, now: datetime | None = None
) -> Control:
    """An admin lets the pipeline act on its own again, saying why; the breaker re-arms on
    decisions made from now on."""
    return _by_hand(store, workflow, reason, pause=False, actor=actor, role=role, now=now or utcnow())


# --- audit -----------------------------------------------------------------------------------


def control_event(control: Control) -> str:
    return audit.AuditEvent.AUTOMATION_PAUSED if control.paused else audit.AuditEvent.AUTOMATION_RESUMED


def control_audit_data(control: Control) -> dict[str, Any]:
    """AUTOMATION_PAUSED / AUTOMATION_RESUMED data: the workflow (a filterable fact), the change
    (as `audit.changes_data` has it), who or what made it and the evidence."""
    return {
        "workflow": control.workflow,
        **audit.changes_data({"automation_paused": (not control.paused, control.paused)}),
        "reason": control.reason,
        "source": control.source,
        "rate": control.rate,
        "sample_size": control.sample_size,
        "window_hours": control.window_hours,
    }


def trip_control(trip: Trip) -> Control:
    return Control(
        workflow=trip.workflow,
        paused=True,
        reason=trip.describe(),
        source=BREAKER,
        set_by=BREAKER_ACTOR,
        set_at=trip.at,
        rate=trip.rate,
        sample_size=trip.sample_size,
        window_hours=trip.window_hours,
    )


def record(replica: Replica, changes: Sequence[Control], *, actor: str, role: Role) -> None:
    """Audit pauses and resumes (a trip: `trip_control(trip)`) in this installation's chain."""
    for control in changes:
        replica.record_event(control_event(control), actor=actor, role=role, data=control_audit_data(control))


def record_trips(replica: Replica, trips: Sequence[Trip], *, actor: str, role: Role) -> None:
    record(replica, [trip_control(t) for t in trips], actor=actor, role=role)


def pause_and_record(
    store: Store, replica: Replica, workflow: str, reason: str, *, actor: str, role: Role
) -> Control:
    """Pause by hand and audit it (the policy editor's path)."""
    control = pause(store, workflow, reason, actor=actor, role=role)
    record(replica, [control], actor=actor, role=role)
    return control


def resume_and_record(
    store: Store, replica: Replica, workflow: str, reason: str, *, actor: str, role: Role
) -> Control:
    """Resume by hand and audit it (the policy editor's path)."""
    control = resume(store, workflow, reason, actor=actor, role=role)
    record(replica, [control], actor=actor, role=role)
    return control
