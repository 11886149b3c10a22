"""Converting decisions and reason codes to and from table rows: the store and the replica
share these columns, so they share this code."""

from __future__ import annotations

import json
from typing import Any

from app.core.domain import Action, Decision, DecisionStatus, ReasonCode, Role, parse_rfc3339
from app.core.validation import canonical_json


def decision_values(decision: Decision) -> dict[str, Any]:
    return {
        "decision_id": decision.decision_id,
        "source": decision.source,
        "external_id": decision.external_id,
        "workflow": decision.workflow,
        "action": str(decision.action),
        "reason_code": decision.reason_code,
        "note": decision.note,
        "reviewer": decision.reviewer,
        "role": str(decision.role),
        "decided_at": decision.decided_at,
        "client_id": decision.client_id,
        "ai": canonical_json(decision.ai),
        "status": str(decision.status),
        "ticket_revision": decision.ticket_revision,
        "supersedes": decision.supersedes,
    }


def decision_from_row(row: Any) -> Decision:
    return Decision(
        decision_id=row.decision_id,
        source=row.source,
        external_id=row.external_id,
        workflow=row.workflow,
        action=Action(row.action),
        reason_code=row.reason_code,
        note=row.note,
        reviewer=row.reviewer,
        role=Role(row.role),
        decided_at=row.decided_at,
        client_id=row.client_id,
        ai=json.loads(row.ai),
        status=DecisionStatus(row.status),
        ticket_revision=row.ticket_revision,
        supersedes=row.supersedes,
    )


def decision_from_record(record: dict[str, Any]) -> Decision:
    """A `signoff.decision/1` record back into a Decision."""
    return Decision(
        decision_id=record["decision_id"],
        source=record["source"],
        external_id=record["external_id"],
        workflow=record["workflow"],
        action=Action(record["action"]),
        reason_code=record["reason_code"],
        note=record.get("note"),
        reviewer=record["reviewer"],
        role=Role(record["role"]),
        decided_at=parse_rfc3339(record["decided_at"]),
        client_id=record["client_id"],
        ai=record["ai"],
        status=DecisionStatus(record["status"]),
        ticket_revision=record.get("ticket_revision", 1),
        supersedes=record.get("supersedes"),
    )


def reason_values(reason: ReasonCode) -> dict[str, Any]:
    return {
        "workflow": reason.workflow,
        "action": str(reason.action),
        "code": reason.code,
        "label": reason.label,
        "escalates": reason.escalates,
        "active": reason.active,
        "position": reason.position,
    }


def reason_from_row(row: Any) -> ReasonCode:
    return ReasonCode(
        code=row.code,
        action=Action(row.action),
        label=row.label,
        workflow=row.workflow,
        escalates=row.escalates,
        active=row.active,
        position=row.position,
    )
