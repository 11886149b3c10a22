"""A generated audit history with known answers: several installations deciding, undoing,
being refused and revealing PII over three weeks. The answers are kept beside the entries, so
the governance queries can be checked against facts, not against another query."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.core import audit
from app.core.domain import to_rfc3339
from app.core.replica import Replica

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday; last week is 16-23 November
START = NOW - timedelta(days=23)
WORKFLOWS = ("lead_qualification", "ask_amount", "donor_segmentation")
QUEUES = ("review", "human_only", "escalation")
REASONS = {
    "approve": ("ai_correct", "minor_edit"),
    "reject": ("wrong_segment", "policy_legal"),
    "clarify": ("needs_more_info",),
}
# How often reviewers reject each model version's recommendations: a clear worst one.
REJECT_RATE = {"2.0.0": 0.55, "1.1.0": 0.3, "1.0.0": 0.1}


@dataclass(frozen=True)
class Decided:
    installation: str
    actor: str
    external_id: str
    ticket_id: int
    workflow: str
    action: str
    reason_code: str
    model_version: str
    queue: str
    at: datetime
    decision_id: str
    undone: bool = False
    refused: bool = False

    @property
    def effective(self) -> bool:
        return not (self.undone or self.refused)


@dataclass(frozen=True)
class Reveal:
    actor: str
    at: datetime
    external_id: str
    ticket_id: int


@dataclass
class History:
    logs: dict[str, Replica]
    decisions: list[Decided] = field(default_factory=list)
    reveals: list[Reveal] = field(default_factory=list)
    entries: int = 0

    def close(self) -> None:
        for replica in self.logs.values():
            replica.close()

    def rejections_by_version(self) -> list[tuple[str, int]]:
        counts = Counter(d.model_version for d in self.decisions if d.effective and d.action == "reject")
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def generate(folder: Path, *, decisions_each: int = 60, seed: int = 7) -> History:
    rng = random.Random(seed)
    installations = {"desk-a": ("alice", "bob"), "desk-b": ("carol",), "laptop-c": ("dave", "alice")}
    history = History(logs={name: Replica.open(folder / f"{name}.sqlite3") for name in installations})
    for name, actors in installations.items():
        events: list[tuple[datetime, str, dict, Decided]] = []
        for _ in range(decisions_each):
            at = START + timedelta(minutes=rng.randrange(0, 23 * 24 * 60))
            version = rng.choice(tuple(REJECT_RATE))
            action = (
                "reject"
                if rng.random() < REJECT_RATE[version]
                else rng.choice(("approve", "approve", "clarify"))
            )
            number = rng.randrange(1, 400)
            fate = rng.random()
            decided = Decided(
                installation=name,
                actor=rng.choice(actors),
                external_id=f"t-{number:04d}",
                ticket_id=1000 + number,  # apart from real ticket ids in the same store
                workflow=rng.choice(WORKFLOWS),
                action=action,
                reason_code=rng.choice(REASONS[action]),
                model_version=version,
                queue=rng.choice(QUEUES),
                at=at.replace(microsecond=0),
                decision_id=str(uuid.UUID(int=rng.getrandbits(128))),
                undone=fate < 0.08,
                refused=0.08 <= fate < 0.13,
            )
            history.decisions.append(decided)
            record = {
                "decision_id": decided.decision_id,
                "external_id": decided.external_id,
                "workflow": decided.workflow,
                "action": decided.action,
                "reason_code": decided.reason_code,
                "note": rng.choice((None, "checked the CRM", '=HYPERLINK("http://evil.example")')),
                "ai": {"model_version": version},
            }
            data = {
                "decision": record,
                "ticket_revision": 1,
                "content_hash": "c" * 64,
                "queue": decided.queue,
            }
            events.append((decided.at, audit.AuditEvent.DECISION_RECORDED, data, decided))
            about = {"decision_id": decided.decision_id}
            later = decided.at + timedelta(minutes=2)
            if decided.undone:
                events.append((later, audit.AuditEvent.DECISION_UNDONE, about, decided))
            elif decided.refused:
                refusal = {**about, "reason": "reason code retired"}
                events.append((later, audit.AuditEvent.DECISION_REJECTED_BY_STORE, refusal, decided))
            else:
                events.append((later, audit.AuditEvent.DECISION_PUSHED, about, decided))
            if rng.random() < 0.1:
                seen_at = decided.at - timedelta(minutes=1)
                history.reveals.append(Reveal(decided.actor, seen_at, decided.external_id, decided.ticket_id))
                data = audit.pii_revealed_data(
                    external_id=decided.external_id, workflow=decided.workflow, fields=["email"]
                )
                events.append((seen_at, audit.AuditEvent.PII_REVEALED, data, decided))
        events.sort(key=lambda e: (e[0], e[1]))
        replica = history.logs[name]
        with replica.engine.begin() as conn:
            for at, event, data, decided in events:
                audit.append(
                    conn,
                    client_id=replica.client_id or "",
                    actor=decided.actor,
                    role="reviewer",
                    event=event,
                    data=data,
                    ticket_id=decided.ticket_id,
                    at=at,
                )
        history.entries += len(events)
    ranking = history.rejections_by_version()
    assert ranking[0][1] > ranking[1][1], "the generated history must have one worst model version"
    return history


def rfc(moment: datetime) -> str:
    return to_rfc3339(moment)
