"""QA sampling: a random, stratified sample of the decisions a pipeline made on its own, turned
into sample_audit tickets so people check them.

Stratified random sampling with proportional allocation: the items are split into strata (by
workflow, confidence band, value tier … as asked) and each stratum gives exactly its share,
n_h = N_h × p_h, the fraction rounded up or down at random so the expected share is exact
however small the stratum. p_h is the base rate, multiplied for low-confidence and high-value
strata when over-sampling is asked (never above 1). Each sample ticket carries its inclusion
probability, so audit results can be weighted back to the whole population.

Reproducible: the same file, spec and seed choose the same items.
"""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from app.core import policy_store
from app.core.domain import Action, DecisionStatus
from app.core.policy import Bands
from app.core.store_errors import translate_errors
from app.core.store_models import StoreDecision, StoreTicket
from app.core.validation import LineError, ValidTicket, read_jsonl

if TYPE_CHECKING:
    from app.core.store import IngestOutcome, Store

STRATA = ("workflow", "confidence_band", "value_tier", "risk_tier", "source")
DEFAULT_STRATA = ("workflow", "confidence_band", "value_tier")
SAMPLE_CODE = "sample_audit"
PROBABILITY_TRIGGER = "sample_probability:"
LOW_CONFIDENCE_FLAG = "low_confidence"
HIGH_VALUE_FLAG = "high_value"

Stratum = tuple[tuple[str, str], ...]  # ((key, value), …), sorted as the spec lists the keys


class SampleError(ValueError):
    """A sampling request that cannot be carried out as asked; the message says why."""


@dataclass(frozen=True)
class SampleSpec:
    rate: float
    stratify: tuple[str, ...] = DEFAULT_STRATA
    seed: int = 0
    oversample_low_confidence: float = 1.0  # rate multiplier for the low confidence band
    oversample_high_value: float = 1.0  # rate multiplier for value tier "major"

    def __post_init__(self) -> None:
        if not 0 < self.rate <= 1:
            raise SampleError(f"the rate is a fraction above 0 and at most 1, not {self.rate}")
        unknown = [k for k in self.stratify if k not in STRATA]
        if unknown:
            raise SampleError(f"cannot stratify by {', '.join(unknown)}; choose from {', '.join(STRATA)}")
        if len(set(self.stratify)) != len(self.stratify):
            raise SampleError("each stratification key once, please")
        if self.oversample_low_confidence < 1 or self.oversample_high_value < 1:
            raise SampleError("over-sampling factors are 1 (none) or more")


def attributes(ticket: Mapping[str, Any], bands: Bands) -> dict[str, str]:
    """What a ticket can be stratified by."""
    risk = ticket.get("risk") or {}
    return {
        "workflow": ticket["workflow"],
        "confidence_band": bands.band(float(ticket["ai"]["confidence"])),
        "value_tier": (ticket.get("subject") or {}).get("value_tier") or "unknown",
        "risk_tier": risk.get("tier") or "unknown",
        "source": ticket.get("source") or "",
    }


def stratum_of(attrs: Mapping[str, str], spec: SampleSpec) -> Stratum:
    """The spec's keys, plus the over-sampling flags when they change the rate: an over-sampled
    part of a stratum is a stratum of its own, so its rate is met exactly too."""
    keys = list(spec.stratify)
    if spec.oversample_low_confidence > 1:
        keys.append(LOW_CONFIDENCE_FLAG)
    if spec.oversample_high_value > 1:
        keys.append(HIGH_VALUE_FLAG)
    flags = {
        LOW_CONFIDENCE_FLAG: "yes" if attrs["confidence_band"] == "low" else "no",
        HIGH_VALUE_FLAG: "yes" if attrs["value_tier"] == "major" else "no",
    }
    return tuple((key, attrs[key] if key in attrs else flags[key]) for key in keys)


def stratum_rate(stratum: Stratum, spec: SampleSpec, attrs: Mapping[str, str]) -> float:
    rate = spec.rate
    if attrs["confidence_band"] == "low":
        rate *= spec.oversample_low_confidence
    if attrs["value_tier"] == "major":
        rate *= spec.oversample_high_value
    return min(1.0, rate)


def describe_stratum(stratum: Stratum) -> str:
    return ", ".join(f"{key}={value}" for key, value in stratum) or "all"


@dataclass
class StratumPlan:
    stratum: Stratum
    rate: float
    lines: list[int] = field(default_factory=list)  # every item's line, in file order
    chosen: list[int] = field(default_factory=list)


@dataclass
class SamplePlan:
    spec: SampleSpec
    strata: dict[Stratum, StratumPlan] = field(default_factory=dict)

    def add(self, line: int, attrs: Mapping[str, str]) -> None:
        stratum = stratum_of(attrs, self.spec)
        plan = self.strata.get(stratum)
        if plan is None:
            plan = self.strata[stratum] = StratumPlan(stratum, stratum_rate(stratum, self.spec, attrs))
        plan.lines.append(line)

    def choose(self) -> None:
        """Pick each stratum's share. Strata in a fixed order, one generator: reproducible."""
        rng = random.Random(self.spec.seed)
        for stratum in sorted(self.strata):
            plan = self.strata[stratum]
            exact = len(plan.lines) * plan.rate
            count = math.floor(exact) + (1 if rng.random() < exact - math.floor(exact) else 0)
            plan.chosen = sorted(rng.sample(plan.lines, count))

    @property
    def population(self) -> int:
        return sum(len(p.lines) for p in self.strata.values())

    @property
    def chosen(self) -> dict[int, StratumPlan]:
        """line -> its stratum, for every chosen line."""
        return {line: plan for plan in self.strata.values() for line in plan.chosen}


def plan_sample(
    items: Iterable[tuple[int, Mapping[str, Any]]], spec: SampleSpec, bands_for: Callable[[str], Bands]
) -> SamplePlan:
    """First pass: every item's stratum; then the choice. Keeps line numbers, not tickets, so a
    file of millions costs little memory."""
    plan = SamplePlan(spec)
    for line, ticket in items:
        plan.add(line, attributes(ticket, bands_for(ticket["workflow"])))
    plan.choose()
    return plan


def sample_ticket(ticket: Mapping[str, Any], stratum: StratumPlan) -> dict[str, Any]:
    """An automated decision as a sample_audit ticket: same item and recommendation, the
    exception says why it is here (and with what probability it was chosen)."""
    sample = {key: value for key, value in ticket.items() if key != "routing"}  # the policy routes it
    original = ticket["exception"]
    sample["exception"] = {
        "code": SAMPLE_CODE,
        "summary": "QA sample: check this automated decision"[:500],
        "details": (
            "Chosen at random for a quality audit of decisions the pipeline carried out on its own "
            f"({describe_stratum(stratum.stratum)}). The pipeline's own note: "
            f"{original.get('code')}: {original.get('summary')}"
        )[:20000],
        "triggers": [
            "qa_sample",
            f"{PROBABILITY_TRIGGER}{stratum.rate:.6g}",
            f"stratum:{describe_stratum(stratum.stratum)}"[:200],
        ],
    }
    return sample


def inclusion_probability(payload: Mapping[str, Any]) -> float | None:
    for trigger in (payload.get("exception") or {}).get("triggers") or []:
        if isinstance(trigger, str) and trigger.startswith(PROBABILITY_TRIGGER):
            try:
                value = float(trigger[len(PROBABILITY_TRIGGER) :])
            except ValueError:
                return None
            return value if 0 < value <= 1 else None
    return None


# --- a file into the store -------------------------------------------------------------------


@dataclass
class SampleReport:
    lines: int = 0
    errors: list[LineError] = field(default_factory=list)
    plan: SamplePlan | None = None
    outcome: IngestOutcome | None = None

    @property
    def sampled(self) -> int:
        return len(self.plan.chosen) if self.plan else 0

    def summary(self) -> str:
        plan = self.plan
        population = plan.population if plan else 0
        text = (
            f"{self.lines} lines read, {population} automated decisions in "
            f"{len(plan.strata) if plan else 0} strata, {self.sampled} sampled"
        )
        if self.outcome is not None:
            o = self.outcome
            text += f"; sample_audit tickets: {o.inserted} new, {o.updated} updated, {o.unchanged} unchanged"
        if self.errors:
            text += f"; {len(self.errors)} lines rejected"
        return text

    def strata_lines(self) -> list[str]:
        if self.plan is None:
            return []
        return [
            f"  {describe_stratum(p.stratum)}: {len(p.chosen)} of {len(p.lines)} (rate {p.rate:.4g})"
            for p in sorted(self.plan.strata.values(), key=lambda p: p.stratum)
        ]


def _valid(path: Path, report: SampleReport | None) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open("rb") as stream:
        for item in read_jsonl(stream):
            if isinstance(item, ValidTicket):
                yield item.line, item.ticket
            elif report is not None:
                report.errors.append(item)
            if report is not None:
                report.lines += 1


def sample_file(store: Store, path: Path, spec: SampleSpec, *, dry_run: bool = False) -> SampleReport:
    """Read a JSON Lines file of automated decisions (signoff.ticket/1) twice: once to count
    the strata and choose, once to store the chosen ones as sample_audit tickets (routed by
    their workflow's policy, like any ticket). Bad lines are reported, never stop the rest."""
    with translate_errors(store.url), store.engine.connect() as conn:
        policies = policy_store.active_policies(conn)
    bands: dict[str, Bands] = {}

    def bands_for(workflow: str) -> Bands:
        if workflow not in bands:
            bands[workflow] = policy_store.effective(policies, workflow).policy.bands
        return bands[workflow]

    report = SampleReport()
    report.plan = plan_sample(_valid(path, report), spec, bands_for)
    if dry_run:
        return report
    chosen = report.plan.chosen

    def samples() -> Iterator[tuple[int, dict[str, Any]]]:
        for line, ticket in _valid(path, None):
            if line in chosen:
                yield line, sample_ticket(ticket, chosen[line])

    report.outcome = store.ingest(samples())
    return report


# --- results: what the audits found ------------------------------------------------------------


@dataclass(frozen=True)
class AuditResult:
    workflow: str
    audited: int  # sample tickets with a standing approve or reject
    overturned: int  # of those, rejected: the automated decision was wrong
    estimated_error_rate: float | None  # weighted by 1 / inclusion probability


def audit_results(store: Store) -> dict[str, AuditResult]:
    """Per workflow: how the sample audits came out, and the error rate of automated decisions
    they estimate (each audit weighted by how unlikely its choice was). For the metrics."""
    tickets, decisions = StoreTicket.__table__, StoreDecision.__table__
    stmt = (
        select(tickets.c.workflow, tickets.c.payload, decisions.c.action)
        .join(decisions, decisions.c.ticket_id == tickets.c.id)
        .where(
            tickets.c.exception_code == SAMPLE_CODE,
            decisions.c.status != str(DecisionStatus.SUPERSEDED),
            decisions.c.action.in_([str(Action.APPROVE), str(Action.REJECT)]),
        )
    )
    tally: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0, 0.0])  # n, rejected, w, w·rejected
    with translate_errors(store.url), store.engine.connect() as conn:
        for workflow, payload, action in conn.execute(stmt):
            probability = inclusion_probability(json.loads(payload))
            weight = 1 / probability if probability else 1.0
            rejected = action == Action.REJECT
            entry = tally[workflow]
            entry[0] += 1
            entry[1] += rejected
            entry[2] += weight
            entry[3] += weight * rejected
    return {
        workflow: AuditResult(workflow, int(n), int(rejected), (w_rejected / weight) if weight else None)
        for workflow, (n, rejected, weight, w_rejected) in sorted(tally.items())
    }


def parse_stratify(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())
