"""Routing policy: which queue a ticket goes to, with what priority and due time.

A policy is an ordered list of rules, evaluated first-match. Each rule matches on confidence
band × risk tier × value tier × sensitive flag × exception code (an empty condition matches
anything) and names a queue, a priority and an SLA. The queue may be AUTO: the ticket needs no
human (see `AUTO`). Everything here is pure: `policy_store` loads and saves policies.

Upstream routing hints are honoured, except that a hint never makes a ticket lighter than its
rule allows (and never a high-risk or sensitive one), nor a heavy one later or less urgent.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from itertools import product
from typing import Any, NamedTuple

from app.core.domain import Queue, Role, TicketStatus, parse_rfc3339

# "No ticket": the practice automates these. When one is sent anyway it is stored with status
# AUTO and queue AUTO: no human queue shows it, nothing valid is lost, admins see it counted,
# and QA sampling may still pick it. A routing hint to any human queue overrides it.
AUTO = "auto"

SLA: dict[Queue, timedelta] = {
    Queue.REVIEW: timedelta(hours=24),
    Queue.HUMAN_ONLY: timedelta(hours=4),
    Queue.ESCALATION: timedelta(hours=1),
    Queue.SAMPLE_AUDIT: timedelta(hours=72),
}
PRIORITY: dict[Queue, int] = {
    Queue.SAMPLE_AUDIT: 20,
    Queue.REVIEW: 50,
    Queue.HUMAN_ONLY: 70,
    Queue.ESCALATION: 90,
}
# Heavier queues get more scrutiny; a hint may never move a ticket to a lighter one than policy.
WEIGHT: dict[str, int] = {
    AUTO: -1,
    Queue.SAMPLE_AUDIT: 0,
    Queue.REVIEW: 1,
    Queue.HUMAN_ONLY: 2,
    Queue.ESCALATION: 3,
}
LOW_CONFIDENCE = 0.60
HIGH_CONFIDENCE = 0.90

CONFIDENCE_BANDS = ("low", "medium", "high")
RISK_TIERS = ("low", "medium", "high", "unknown")  # unknown: the ticket has no risk tier
VALUE_TIERS = ("major", "mid", "standard", "unknown")  # unknown also when absent
OUTCOMES = (AUTO, *(str(q) for q in Queue))
EXCEPTION_CODE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")  # as the ticket schema has it


class PolicyError(ValueError):
    """A policy that cannot be used as written; `problems` lists every reason, one a line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Bands:
    """Confidence bands: low below `low_below`, high above `high_above`, medium between."""

    low_below: float = LOW_CONFIDENCE
    high_above: float = HIGH_CONFIDENCE

    def band(self, confidence: float) -> str:
        if confidence < self.low_below:
            return "low"
        if confidence > self.high_above:
            return "high"
        return "medium"


@dataclass(frozen=True)
class Rule:
    name: str
    queue: str  # a Queue value or AUTO
    priority: int = 50
    sla_minutes: int | None = None  # None only for AUTO
    confidence: tuple[str, ...] = ()  # bands; empty: any
    risk: tuple[str, ...] = ()
    value: tuple[str, ...] = ()
    sensitive: bool | None = None  # None: either
    exception_codes: tuple[str, ...] = ()
    hints_may_lighten: bool = False  # may an upstream hint move the ticket to a lighter queue?

    @property
    def matches_everything(self) -> bool:
        return not (self.confidence or self.risk or self.value or self.exception_codes) and (
            self.sensitive is None
        )

    def matches(self, facts: Facts) -> bool:
        return (
            (not self.confidence or facts.band in self.confidence)
            and (not self.risk or facts.risk in self.risk)
            and (not self.value or facts.value in self.value)
            and (self.sensitive is None or facts.sensitive == self.sensitive)
            and (not self.exception_codes or facts.exception_code in self.exception_codes)
        )

    @property
    def sla(self) -> timedelta | None:
        return _sla_of(self.sla_minutes)


BREAKER = "breaker"  # automation_controls.source of a pause the circuit breaker set


@dataclass(frozen=True)
class BreakerSettings:
    """Circuit breaker: pause automation when at least `threshold` of the AI's recommendations
    were rejected over the last `window_hours`, counted once `min_sample` decisions exist."""

    threshold: float = 0.05
    window_hours: int = 48
    min_sample: int = 50


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...]
    bands: Bands = field(default_factory=Bands)
    breaker: BreakerSettings = field(default_factory=BreakerSettings)

    def rules_document(self) -> list[dict[str, Any]]:
        return [_rule_document(rule) for rule in self.rules]

    def settings_document(self) -> dict[str, Any]:
        return {"bands": asdict(self.bands), "breaker": asdict(self.breaker)}

    @classmethod
    def from_documents(cls, rules: Iterable[Mapping[str, Any]], settings: Mapping[str, Any]) -> Policy:
        """Parse stored (or hand-written) JSON; raises PolicyError naming every problem."""
        problems: list[str] = []
        parsed = []
        for number, doc in enumerate(rules, start=1):
            try:
                parsed.append(_rule_from_document(doc, number))
            except (TypeError, ValueError, KeyError) as error:
                problems.append(f"rule {number}: {_plain(error)}")
        try:
            bands = Bands(**dict(settings.get("bands") or {}))
            breaker = BreakerSettings(**dict(settings.get("breaker") or {}))
        except TypeError as error:
            problems.append(f"settings: {_plain(error)}")
            bands, breaker = Bands(), BreakerSettings()
        if problems:
            raise PolicyError(problems)
        return cls(rules=tuple(parsed), bands=bands, breaker=breaker)


def _rule_document(rule: Rule) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": rule.name, "queue": rule.queue, "priority": rule.priority}
    if rule.sla_minutes is not None:
        doc["sla_minutes"] = rule.sla_minutes
    when = {
        key: list(getattr(rule, key))
        for key in ("confidence", "risk", "value", "exception_codes")
        if getattr(rule, key)
    }
    if rule.sensitive is not None:
        when["sensitive"] = rule.sensitive
    doc["when"] = when
    if rule.hints_may_lighten:
        doc["hints_may_lighten"] = True
    return doc


_WHEN_KEYS = {"confidence", "risk", "value", "sensitive", "exception_codes"}
_RULE_KEYS = {"name", "queue", "priority", "sla_minutes", "when", "hints_may_lighten"}


def _rule_from_document(doc: Mapping[str, Any], number: int) -> Rule:
    if not isinstance(doc, Mapping):
        raise TypeError("a rule is a JSON object")
    unknown = set(doc) - _RULE_KEYS
    when = doc.get("when") or {}
    unknown |= {f"when.{k}" for k in set(when) - _WHEN_KEYS}
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}")

    def strings(key: str) -> tuple[str, ...]:
        value = when.get(key) or ()
        if isinstance(value, str) or not all(isinstance(v, str) for v in value):
            raise TypeError(f"when.{key} must be a list of strings")
        return tuple(value)

    sensitive = when.get("sensitive")
    if sensitive is not None and not isinstance(sensitive, bool):
        raise TypeError("when.sensitive must be true, false or absent")
    return Rule(
        name=str(doc.get("name") or f"Rule {number}"),
        queue=_queue_of(str(doc["queue"])),
        priority=int(doc.get("priority", 50)),
        sla_minutes=None if doc.get("sla_minutes") is None else int(doc["sla_minutes"]),
        confidence=strings("confidence"),
        risk=strings("risk"),
        value=strings("value"),
        sensitive=sensitive,
        exception_codes=strings("exception_codes"),
        hints_may_lighten=bool(doc.get("hints_may_lighten", False)),
    )


@functools.cache
def _sla_of(minutes: int | None) -> timedelta | None:
    return timedelta(minutes=minutes) if minutes is not None else None


def _queue_of(name: str) -> str:
    """A Queue member when the name is one (routing compares them a million times), else the
    text as given, for validation to name."""
    return Queue(name) if name in Queue._value2member_map_ else name


def _plain(error: Exception) -> str:
    return str(error).strip("'\"") or type(error).__name__


def _minutes(queue: Queue) -> int:
    return int(SLA[queue].total_seconds() // 60)


# The practice's defaults, as a policy: first match wins.
DEFAULT_RULES: tuple[Rule, ...] = (
    # A QA sample audits a decision already carried out: whatever its risk, it is an audit.
    Rule(
        "QA sample of an automated decision",
        Queue.SAMPLE_AUDIT,
        PRIORITY[Queue.SAMPLE_AUDIT],
        _minutes(Queue.SAMPLE_AUDIT),
        exception_codes=("sample_audit",),
    ),
    Rule("Sensitive", Queue.HUMAN_ONLY, PRIORITY[Queue.HUMAN_ONLY], 240, sensitive=True),
    Rule("High value", Queue.HUMAN_ONLY, PRIORITY[Queue.HUMAN_ONLY], 240, value=("major",)),
    Rule("High risk", Queue.HUMAN_ONLY, PRIORITY[Queue.HUMAN_ONLY], 240, risk=("high",)),
    Rule("Low confidence", Queue.HUMAN_ONLY, PRIORITY[Queue.HUMAN_ONLY], 240, confidence=("low",)),
    Rule("Confident and low risk", AUTO, 0, None, confidence=("high",), risk=("low",)),
    Rule(
        "Everything else",
        Queue.REVIEW,
        PRIORITY[Queue.REVIEW],
        _minutes(Queue.REVIEW),
        hints_may_lighten=True,
    ),
)
DEFAULT_POLICY = Policy(rules=DEFAULT_RULES)


# --- routing ---------------------------------------------------------------------------------


class Facts(NamedTuple):
    """What the rules look at, read from a ticket (a tuple: ingest reads a million of them)."""

    band: str
    risk: str
    value: str
    sensitive: bool
    exception_code: str

    @property
    def high_risk(self) -> bool:
        return self.risk == "high" or self.sensitive


DEFAULT_BANDS = Bands()


def facts(ticket: Mapping[str, Any], bands: Bands = DEFAULT_BANDS) -> Facts:
    risk = ticket.get("risk") or {}
    return Facts(
        bands.band(float(ticket["ai"]["confidence"])),
        risk.get("tier") or "unknown",
        (ticket.get("subject") or {}).get("value_tier") or "unknown",
        bool(risk.get("sensitive")),
        ticket["exception"]["code"],
    )


@dataclass(frozen=True)
class Routing:
    queue: str  # a Queue value, or AUTO
    priority: int
    due_at: datetime | None  # None for AUTO: nobody has to do anything by then

    @property
    def auto(self) -> bool:
        return self.queue == AUTO

    @property
    def status(self) -> TicketStatus | str:
        """The status a newly routed ticket starts with."""
        return AUTO if self.auto else TicketStatus.OPEN


def _first(policy: Policy, found: Facts) -> Rule:
    for rule in policy.rules:
        if rule.matches(found):
            return rule
    return DEFAULT_RULES[-1]  # an unvalidated policy without a catch-all: review, as before


def match(ticket: Mapping[str, Any], policy: Policy = DEFAULT_POLICY) -> Rule:
    """The first rule that matches; a validated policy always ends with a catch-all."""
    return _first(policy, facts(ticket, policy.bands))


def policy_queue(ticket: Mapping[str, Any], policy: Policy = DEFAULT_POLICY) -> str:
    """The queue the policy gives, before any hint."""
    return match(ticket, policy).queue


def route(ticket: Mapping[str, Any], policy: Policy = DEFAULT_POLICY) -> Routing:
    """Queue, priority and due time for a ticket under a policy, honouring upstream hints
    where the policy allows them. Pure: same ticket and policy, same answer."""
    found = facts(ticket, policy.bands)
    rule = _first(policy, found)
    hints = ticket.get("routing") or {}
    queue = rule.queue
    if "queue" in hints:
        hinted = Queue(hints["queue"])
        if WEIGHT[hinted] >= WEIGHT[queue] or _may_lighten(rule, found):
            queue = hinted
    if queue == AUTO:
        return Routing(queue=AUTO, priority=0, due_at=None)
    if not isinstance(queue, Queue):  # a rule read from JSON names its queue as text
        queue = Queue(queue)
    created = parse_rfc3339(ticket["created_at"])
    # A hint that moved the ticket gets that queue's standard priority and SLA.
    base_priority, base_sla = (
        (rule.priority, rule.sla or SLA[queue]) if queue == rule.queue else (PRIORITY[queue], SLA[queue])
    )
    priority = hints.get("priority", base_priority)
    due = parse_rfc3339(hints["due_at"]) if "due_at" in hints else created + base_sla
    if WEIGHT[queue] >= WEIGHT[Queue.HUMAN_ONLY]:
        # Nor may hints make a high-risk ticket wait longer or rank lower than policy says.
        priority = max(priority, base_priority)
        due = min(due, created + base_sla)
    return Routing(queue=queue, priority=priority, due_at=due)


def _may_lighten(rule: Rule, found: Facts) -> bool:
    # Never for a high-risk or sensitive ticket, never out of a heavy queue, whatever the rule says.
    return rule.hints_may_lighten and not found.high_risk and WEIGHT[rule.queue] < WEIGHT[Queue.HUMAN_ONLY]


def default_view(role: Role | str) -> TicketStatus:
    """The queue view a role opens on when it has none saved: escalation managers start on
    the Escalated view, where their decisions are the final call."""
    return TicketStatus.ESCALATED if str(role) == Role.ESCALATION_MANAGER else TicketStatus.OPEN


# --- validation ------------------------------------------------------------------------------


def validate(policy: Policy) -> list[str]:
    """Every problem that stops a policy from being saved, in words an admin can act on."""
    problems: list[str] = []
    if not policy.rules:
        return ["a policy needs at least one rule"]
    for number, rule in enumerate(policy.rules, start=1):
        problems.extend(f"rule {number} ({rule.name}): {p}" for p in _rule_problems(rule))
    if not policy.rules[-1].matches_everything:
        problems.append("the last rule must match every ticket: leave all its conditions empty")
    bands, breaker = policy.bands, policy.breaker
    if not 0 <= bands.low_below <= bands.high_above <= 1:
        problems.append("confidence bands: need 0 ≤ low-below ≤ high-above ≤ 1")
    if not 0 < breaker.threshold <= 1:
        problems.append("circuit breaker: the threshold is a rate above 0 and at most 100 %")
    if breaker.window_hours < 1:
        problems.append("circuit breaker: the window is at least 1 hour")
    if breaker.min_sample < 1:
        problems.append("circuit breaker: the minimum sample is at least 1 decision")
    if not problems:
        problems.extend(_safety_problems(policy))
    return problems


def _rule_problems(rule: Rule) -> list[str]:
    problems = []
    if rule.queue not in OUTCOMES:
        problems.append(f"queue {rule.queue!r} is not one of {', '.join(OUTCOMES)}")
    if not 0 <= rule.priority <= 100:
        problems.append("priority must be 0–100")
    if rule.queue == AUTO and rule.sla_minutes is not None:
        problems.append("an auto rule has no SLA")
    if rule.queue != AUTO and (rule.sla_minutes is None or rule.sla_minutes < 1):
        problems.append("needs an SLA of at least 1 minute")
    for key, allowed in (("confidence", CONFIDENCE_BANDS), ("risk", RISK_TIERS), ("value", VALUE_TIERS)):
        wrong = [v for v in getattr(rule, key) if v not in allowed]
        if wrong:
            problems.append(f"{key} {', '.join(map(repr, wrong))} unknown (use {', '.join(allowed)})")
    wrong = [c for c in rule.exception_codes if not EXCEPTION_CODE.match(c)]
    if wrong:
        problems.append(f"exception code(s) {', '.join(map(repr, wrong))} not like missing_field")
    return problems


def _safety_problems(policy: Policy) -> list[str]:
    """A high-risk or sensitive ticket is never automated: check every kind of ticket the
    rules can tell apart (exception codes they name, plus one they do not)."""
    codes = [*sorted({c for r in policy.rules for c in r.exception_codes}), "(any other code)"]
    high_first = sorted(RISK_TIERS, key=lambda tier: tier != "high")  # name the worse case first
    for risk, sensitive, band, value, code in product(
        high_first, (False, True), CONFIDENCE_BANDS, VALUE_TIERS, codes
    ):
        found = Facts(band, risk, value, sensitive, code)
        if not found.high_risk:
            continue
        rule = next(r for r in policy.rules if r.matches(found))
        if rule.queue == AUTO:
            kinds = (("high-risk", risk == "high"), ("sensitive", sensitive))
            kind = " and ".join(name for name, applies in kinds if applies)
            return [
                f"rule {policy.rules.index(rule) + 1} ({rule.name}) would automate {kind} tickets "
                f"(e.g. confidence {band}, risk {risk}, value {value}, exception {code}); "
                "add a rule before it that sends them to a human queue"
            ]
    return []


def checked(policy: Policy) -> Policy:
    """The policy, if valid; PolicyError otherwise."""
    problems = validate(policy)
    if problems:
        raise PolicyError(problems)
    return policy


def with_rules(policy: Policy, rules: Iterable[Rule]) -> Policy:
    return replace(policy, rules=tuple(rules))


def describe_changes(old: Policy, new: Policy) -> dict[str, tuple[Any, Any]]:
    """{what: (before, after)} for the audit log: rules by position, then settings."""
    changes: dict[str, tuple[Any, Any]] = {}
    before, after = old.rules_document(), new.rules_document()
    for index in range(max(len(before), len(after))):
        was = before[index] if index < len(before) else None
        now = after[index] if index < len(after) else None
        if was != now:
            changes[f"rule {index + 1}"] = (was, now)
    for section, values in new.settings_document().items():
        for key, value in values.items():
            previous = old.settings_document()[section][key]
            if previous != value:
                changes[f"{section}.{key}"] = (previous, value)
    return changes
