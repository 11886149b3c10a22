"""The default reason-code catalog from the interchange contract (docs/spec/README.md, section 3)."""

from __future__ import annotations

from app.core.domain import Action, ReasonCode

_DEFAULTS: dict[Action, list[tuple[str, str]]] = {
    Action.APPROVE: [
        ("ai_correct", "AI is correct"),
        ("verified_manually", "Verified manually"),
        ("context_supports", "Context supports it"),
        ("acceptable_risk", "Acceptable risk"),
    ],
    Action.REJECT: [
        ("wrong_segment", "Wrong segment"),
        ("stale_data", "Stale data"),
        ("poor_timing", "Poor timing"),
        ("too_aggressive", "Too aggressive"),
        ("missing_context", "Missing context"),
        ("misread_intent", "Misread intent"),
        ("compliance_concern", "Compliance concern"),
        ("policy_legal", "Policy / legal (escalates)"),
    ],
    Action.CLARIFY: [
        ("needs_more_info", "Needs more info"),
        ("ambiguous_intent", "Ambiguous intent"),
        ("conflicting_data", "Conflicting data"),
        ("missing_field", "Missing field"),
    ],
}

ESCALATING_BY_DEFAULT = frozenset({"policy_legal"})


def default_reason_codes() -> list[ReasonCode]:
    return [
        ReasonCode(
            code=code,
            action=action,
            label=label,
            escalates=code in ESCALATING_BY_DEFAULT,
            position=position,
        )
        for action, codes in _DEFAULTS.items()
        for position, (code, label) in enumerate(codes)
    ]


def codes_for(catalog: list[ReasonCode], action: Action, workflow: str) -> list[ReasonCode]:
    """Active codes for an action; a workflow's own codes replace the '*' defaults for that action."""
    own = [r for r in catalog if r.action == action and r.workflow == workflow and r.active]
    chosen = own or [r for r in catalog if r.action == action and r.workflow == "*" and r.active]
    return sorted(chosen, key=lambda r: (r.position, r.code))
