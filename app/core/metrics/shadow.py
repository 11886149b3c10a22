"""Shadow mode: while a workflow's pipeline acts on nothing by itself, every item comes to review
with the AI's proposal, so how often people agreed with it, per confidence band, is the evidence
for leaving shadow mode (and at which threshold)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from app.core.domain import Action, to_rfc3339
from app.core.metrics.calibration import DEFAULT_TARGET, Cells, calibration_entry
from app.core.metrics.outcomes import CaseFacts
from app.core.metrics.workflow_settings import WorkflowConfig


class ShadowTally:
    def __init__(self, configs: dict[str, WorkflowConfig]) -> None:
        self._since = {
            name: config.shadow_since
            for name, config in configs.items()
            if config.shadow_mode and config.shadow_since is not None
        }
        self._cells: dict[str, Cells] = defaultdict(Cells)

    def add(self, facts: CaseFacts) -> None:
        since = self._since.get(facts.ticket.workflow)
        if since is None or facts.ticket.created_at < since or facts.outcome is None:
            return
        self._cells[facts.ticket.workflow].add(facts.ticket.confidence, facts.outcome == Action.APPROVE)

    def as_list(self, target: float = DEFAULT_TARGET) -> list[dict[str, Any]]:
        return [
            {"workflow": name, "since": to_rfc3339(since), **calibration_entry(self._cells[name], target)}
            for name, since in sorted(self._since.items())
        ]
