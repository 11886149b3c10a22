"""Policies and reason-code escalation flags in the shared store: load, save (admins only),
and record every change in this installation's audit chain.

A workflow's active policy is its highest version; a workflow without one uses the store-wide
policy "*", and without that the practice's defaults (`policy.DEFAULT_POLICY`, version 0).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, exc, func, insert, select, update

from app.core import audit, policy
from app.core.domain import ReasonCode, Role, utcnow
from app.core.policy import Policy, PolicyError
from app.core.rows import reason_from_row
from app.core.store_errors import translate_errors
from app.core.store_models import StoreReasonCode, StoreTicket
from app.core.store_policy_models import StorePolicy

if TYPE_CHECKING:  # the store imports this module to route ingest
    from app.core.replica import Replica
    from app.core.store import Store

POLICIES = StorePolicy.__table__
REASONS = StoreReasonCode.__table__
TICKETS = StoreTicket.__table__
ALL_WORKFLOWS = "*"

Router = Callable[[dict[str, Any]], policy.Routing]
ReasonKey = tuple[str, str, str]  # (workflow, action, code)


class NotAllowed(Exception):
    """Only administrators change policies, reason codes and automation controls."""


class PolicyConflict(Exception):
    """Someone saved a newer version since this one was loaded: reload, then edit again."""


@dataclass(frozen=True)
class StoredPolicy:
    workflow: str  # the workflow asked about
    version: int  # 0: the built-in defaults, never saved
    policy: Policy
    created_by: str | None = None
    created_at: datetime | None = None
    source: str | None = None  # whose policy applies: the workflow, "*", or None for the defaults

    @property
    def inherited(self) -> bool:
        return self.source != self.workflow

    @property
    def own_version(self) -> int:
        """The workflow's own latest version (0: none yet): what `save_policy` expects."""
        return 0 if self.inherited else self.version


@dataclass(frozen=True)
class SavedPolicy:
    stored: StoredPolicy
    changes: dict[str, tuple[Any, Any]]


def require_admin(role: Role | str, what: str) -> None:
    if str(role) != Role.ADMIN:
        raise NotAllowed(f"only an administrator may {what}")


# --- reading ---------------------------------------------------------------------------------


def _stored(row: Any, workflow: str) -> StoredPolicy:
    return StoredPolicy(
        workflow=workflow,
        version=row.version,
        policy=Policy.from_documents(json.loads(row.rules), json.loads(row.settings)),
        created_by=row.created_by,
        created_at=row.created_at,
        source=row.workflow,
    )


def active_policies(conn: Connection) -> dict[str, StoredPolicy]:
    """Every workflow's (and "*"'s) active policy, in one query: the table is small."""
    latest = (
        select(POLICIES.c.workflow, func.max(POLICIES.c.version).label("version"))
        .group_by(POLICIES.c.workflow)
        .subquery()
    )
    rows = conn.execute(
        select(POLICIES).join(
            latest, and_(POLICIES.c.workflow == latest.c.workflow, POLICIES.c.version == latest.c.version)
        )
    )
    return {row.workflow: _stored(row, row.workflow) for row in rows}


def effective(policies: Mapping[str, StoredPolicy], workflow: str) -> StoredPolicy:
    own = policies.get(workflow) or policies.get(ALL_WORKFLOWS)
    if own is None:
        return StoredPolicy(workflow=workflow, version=0, policy=policy.DEFAULT_POLICY)
    return StoredPolicy(
        workflow=workflow,
        version=own.version,
        policy=own.policy,
        created_by=own.created_by,
        created_at=own.created_at,
        source=own.source,
    )


def router(policies: Mapping[str, StoredPolicy]) -> Router:
    """Routes each ticket with its workflow's active policy (loaded once, by the caller)."""
    by_workflow: dict[str, Policy] = {}

    def route(ticket: dict[str, Any]) -> policy.Routing:
        workflow = ticket["workflow"]
        chosen = by_workflow.get(workflow)
        if chosen is None:
            chosen = by_workflow[workflow] = effective(policies, workflow).policy
        return policy.route(ticket, chosen)

    return route


def load_policy(store: Store, workflow: str) -> StoredPolicy:
    """The policy that routes `workflow` now (its own, the store-wide one, or the defaults)."""
    with translate_errors(store.url), store.engine.connect() as conn:
        return effective(active_policies(conn), workflow)


def policy_history(store: Store, workflow: str) -> list[StoredPolicy]:
    """Every saved version of a workflow's own policy, newest first."""
    with translate_errors(store.url), store.engine.connect() as conn:
        rows = conn.execute(
            select(POLICIES).where(POLICIES.c.workflow == workflow).order_by(POLICIES.c.version.desc())
        ).all()
    return [_stored(row, workflow) for row in rows]


def auto_routed_counts(store: Store) -> dict[str, int]:
    """Tickets per workflow that the policy automated (status auto): no human queue shows
    them, so admins see them counted here."""
    with translate_errors(store.url), store.engine.connect() as conn:
        rows = conn.execute(
            select(TICKETS.c.workflow, func.count())
            .where(TICKETS.c.status == policy.AUTO)
            .group_by(TICKETS.c.workflow)
        ).all()
    return {workflow: count for workflow, count in rows}


# --- saving ----------------------------------------------------------------------------------


def save_policy(
    store: Store, workflow: str, new: Policy, *, expected_version: int, actor: str, role: Role | str
) -> SavedPolicy:
    """Save `new` as the next version of `workflow`'s own policy (administrators only).
    `expected_version` is the version the editor started from (0: none of its own yet); if
    someone saved since, PolicyConflict. Invalid policies raise PolicyError. Audit the
    returned changes with `record_policy_change` (or use `change_policy`)."""
    require_admin(role, "change a routing policy")
    policy.checked(new)
    now = utcnow()
    with translate_errors(store.url):
        try:
            with store.engine.begin() as conn:
                policies = active_policies(conn)
                current = policies.get(workflow)
                if (current.version if current else 0) != expected_version:
                    who = f"{current.created_by} saved version {current.version}" if current else "no version"
                    raise PolicyConflict(
                        f"the {workflow} policy is not at version {expected_version} ({who}): reload it, "
                        "then make your change again"
                    )
                before = effective(policies, workflow).policy
                conn.execute(
                    insert(POLICIES).values(
                        workflow=workflow,
                        version=expected_version + 1,
                        rules=json.dumps(new.rules_document(), ensure_ascii=False),
                        settings=json.dumps(new.settings_document(), ensure_ascii=False),
                        created_by=actor[:200],
                        created_at=now,
                    )
                )
        except exc.IntegrityError as error:  # two admins saved the same version at once
            raise PolicyConflict(
                f"someone else saved the {workflow} policy at the same moment: reload it, then "
                "make your change again"
            ) from error
    stored = StoredPolicy(workflow, expected_version + 1, new, actor[:200], now, workflow)
    return SavedPolicy(stored, policy.describe_changes(before, new))


def policy_audit_data(saved: SavedPolicy) -> dict[str, Any]:
    """POLICY_CHANGED data: the workflow (a filterable fact), the new version and the changes."""
    return {
        "workflow": saved.stored.workflow,
        "version": saved.stored.version,
        **audit.changes_data(saved.changes),
    }


def record_policy_change(replica: Replica, saved: SavedPolicy, *, actor: str, role: Role) -> None:
    replica.record_event(
        audit.AuditEvent.POLICY_CHANGED, actor=actor, role=role, data=policy_audit_data(saved)
    )


def change_policy(
    store: Store,
    replica: Replica,
    workflow: str,
    new: Policy,
    *,
    expected_version: int,
    actor: str,
    role: Role,
) -> SavedPolicy:
    """Save and audit in one call (the policy editor's path)."""
    saved = save_policy(store, workflow, new, expected_version=expected_version, actor=actor, role=role)
    record_policy_change(replica, saved, actor=actor, role=role)
    return saved


# --- reason codes: which escalate ------------------------------------------------------------


def reason_codes(store: Store) -> list[ReasonCode]:
    with translate_errors(store.url), store.engine.connect() as conn:
        rows = conn.execute(
            select(REASONS).order_by(REASONS.c.workflow, REASONS.c.action, REASONS.c.position, REASONS.c.code)
        ).all()
    return [reason_from_row(r) for r in rows]


def set_escalates(
    store: Store, wanted: Mapping[ReasonKey, bool], *, actor: str, role: Role | str
) -> dict[str, tuple[bool, bool]]:
    """Mark reason codes as escalating or not (administrators only). A decision with an
    escalating code sends its ticket to the escalation queue (1-hour SLA) for an escalation
    manager's final call. Returns what really changed, as {"workflow/action:code": (was, now)}."""
    require_admin(role, "change which reason codes escalate")
    changes: dict[str, tuple[bool, bool]] = {}
    with translate_errors(store.url), store.engine.begin() as conn:
        for (workflow, action, code), escalates in sorted(wanted.items()):
            key = (REASONS.c.workflow == workflow) & (REASONS.c.action == action) & (REASONS.c.code == code)
            was = conn.execute(select(REASONS.c.escalates).where(key)).scalar_one_or_none()
            if was is None:
                raise PolicyError([f"no reason code {action}:{code} for workflow {workflow}"])
            if bool(was) != escalates:
                conn.execute(update(REASONS).where(key).values(escalates=escalates))
                changes[f"{workflow}/{action}:{code}"] = (bool(was), escalates)
    return changes


def escalates_audit_data(changes: Mapping[str, tuple[bool, bool]]) -> dict[str, Any]:
    """REASON_CODES_CHANGED data for escalation flags: no code added or retired, flags changed."""
    return {
        **audit.reason_codes_data(added=[], retired=[]),
        **audit.changes_data({f"{key} escalates": values for key, values in changes.items()}),
    }


def change_escalates(
    store: Store, replica: Replica, wanted: Mapping[ReasonKey, bool], *, actor: str, role: Role
) -> dict[str, tuple[bool, bool]]:
    """Save and audit escalation flags in one call (the policy editor's path)."""
    changes = set_escalates(store, wanted, actor=actor, role=role)
    if changes:
        replica.record_event(
            audit.AuditEvent.REASON_CODES_CHANGED, actor=actor, role=role, data=escalates_audit_data(changes)
        )
    return changes
