"""QA sampling on generated automated decisions: every stratum gets its share (over-sampled
where asked), the sample is spread at random and reproducible by seed, the chosen decisions
become sample_audit tickets, and their audits feed a weighted error-rate estimate."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import BACKENDS, backend_url, make_decision, pg_database, store_ticket, write_jsonl

from app.cli import main as cli
from app.core import policy, policy_store, sampling
from app.core.domain import Action, Queue, Role
from app.core.policy import Bands, Policy
from app.core.sampling import SampleError, SampleSpec
from app.core.store import Store

pg_database = pytest.fixture(scope="module")(pg_database)

WORKFLOWS = ("lead_qualification", "ask_amount", "donor_segmentation", "reactivation")
VALUE_TIERS = ("major", "mid", "standard", "unknown")
SPEC = SampleSpec(rate=0.02, seed=11, oversample_low_confidence=3.0, oversample_high_value=2.0)


def automated_decision(number: int, rng: random.Random) -> dict[str, Any]:
    """A small, valid signoff.ticket/1 for a decision the pipeline carried out by itself."""
    return {
        "schema": "signoff.ticket/1",
        "external_id": f"auto-{number:06d}",
        "source": "pipeline",
        "workflow": rng.choice(WORKFLOWS),
        "created_at": "2026-11-20T10:00:00Z",
        "subject": {"kind": "donor", "ref": f"crm:{number}", "value_tier": rng.choice(VALUE_TIERS)},
        "interaction": {"channel": "other", "messages": [{"text": "-"}]},
        "ai": {
            "model": "m",
            "model_version": "1",
            "recommendation": {"action": "send"},
            # Mostly confident, as automated decisions are; some low ones to over-sample.
            "confidence": round(rng.choice([rng.uniform(0.9, 1.0)] * 6 + [rng.uniform(0.3, 0.9)]), 4),
            "rationale": "-",
        },
        "exception": {"code": "none", "summary": "auto-approved"},
        "risk": {"tier": "low"},
    }


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = random.Random(2026)
    path = tmp_path_factory.mktemp("sampling") / "auto-decisions.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for number in range(100_000):
            out.write(json.dumps(automated_decision(number, rng)) + "\n")
    return path


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.initialize(f"sqlite:///{tmp_path / 'store.db'}")
    yield store
    store.close()


def expected_rate(stratum: sampling.Stratum) -> float:
    values = dict(stratum)
    rate = SPEC.rate
    if values["confidence_band"] == "low":
        rate *= SPEC.oversample_low_confidence
    if values["value_tier"] == "major":
        rate *= SPEC.oversample_high_value
    return rate


def test_100k_decisions_every_stratum_gets_its_share_and_becomes_sample_audit_tickets(
    store: Store, big_file: Path
) -> None:
    report = sampling.sample_file(store, big_file, SPEC)
    plan = report.plan
    assert plan is not None and report.errors == [] and report.lines == plan.population == 100_000
    # 4 workflows × 3 bands × 4 value tiers (the over-sampling flags follow band and tier here).
    assert len(plan.strata) == 48
    for part in plan.strata.values():
        rate = expected_rate(part.stratum)
        assert part.rate == pytest.approx(rate)
        # Exact allocation: the share is N·p rounded up or down, never further off.
        assert abs(len(part.chosen) - len(part.lines) * rate) < 1, describe(part)
    # Over-sampling really shows: the low-confidence major-donor strata at 12 %.
    low_major = [p for p in plan.strata.values() if dict(p.stratum)["confidence_band"] == "low"]
    low_major = [p for p in low_major if dict(p.stratum)["value_tier"] == "major"]
    assert sum(len(p.chosen) for p in low_major) / sum(len(p.lines) for p in low_major) == pytest.approx(
        0.12, abs=0.01
    )
    # All within statistical tolerance of the planned total (exact allocation: a few items).
    planned = sum(len(p.lines) * p.rate for p in plan.strata.values())
    assert abs(report.sampled - planned) < 5 * planned**0.5
    # Spread at random over the file, not the first lines of each stratum: positions by decile.
    deciles = Counter(line * 10 // (100_001) for line in plan.chosen)
    expected = report.sampled / 10
    assert all(abs(deciles[d] - expected) < 5 * expected**0.5 for d in range(10)), deciles
    # Every chosen decision is now a sample_audit ticket, routed by policy, probability attached.
    assert report.outcome is not None and report.outcome.inserted == report.sampled == store.ticket_count()
    line, part = next(iter(plan.chosen.items()))
    row = store_ticket(store, f"auto-{line - 1:06d}")
    assert (row.queue, row.exception_code) == (Queue.SAMPLE_AUDIT, "sample_audit")
    payload = json.loads(row.payload)
    assert sampling.inclusion_probability(payload) == pytest.approx(part.rate)
    assert payload["exception"]["details"].endswith("none: auto-approved")


def describe(part: sampling.StratumPlan) -> str:
    return f"{sampling.describe_stratum(part.stratum)}: {len(part.chosen)} of {len(part.lines)}"


def test_the_same_seed_chooses_the_same_sample_and_another_seed_another(big_file: Path) -> None:
    bands = policy.DEFAULT_POLICY.bands

    def chosen(spec: SampleSpec) -> set[int]:
        rng = random.Random(2026)  # the same items as the big file, without reading it
        items = ((n + 1, automated_decision(n, rng)) for n in range(100_000))
        return set(sampling.plan_sample(items, spec, lambda _w: bands).chosen)

    first, again = chosen(SPEC), chosen(SPEC)
    assert first == again and len(first) > 2000
    other = chosen(SampleSpec(rate=0.02, seed=12, oversample_low_confidence=3.0, oversample_high_value=2.0))
    assert len(first & other) < len(first) / 5  # independent draws overlap by about the rate


def test_the_cli_samples_reproducibly(tmp_path: Path, big_file: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    small = write_jsonl(tmp_path / "auto.jsonl", big_file.read_text(encoding="utf-8").splitlines()[:5000])

    def args(seed: int) -> list[str]:
        keys = "workflow,confidence_band,value_tier"
        return [
            "sample",
            str(small),
            "--store",
            url,
            "--rate",
            "0.02",
            "--seed",
            str(seed),
            "--stratify",
            keys,
        ]

    assert cli(["init-store", "--store", url]) == 0
    assert cli(args(7)) == 0
    store = Store.open(url)
    try:
        first = {r["external_id"] for r in store.pull_tickets(0)}
        assert 80 <= len(first) <= 125
        assert cli(args(7)) == 0  # the same seed: the same tickets, nothing new
        assert {r["external_id"] for r in store.pull_tickets(0)} == first
        assert cli(args(8)) == 0
        assert len({r["external_id"] for r in store.pull_tickets(0)}) > len(first)
    finally:
        store.close()


def test_the_cli_reports_bad_lines_and_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert cli(["init-store", "--store", url]) == 0
    rng = random.Random(1)
    lines = [json.dumps(automated_decision(n, rng)) for n in range(50)]
    lines[3] = '{"schema": "signoff.ticket/1"}'
    path = write_jsonl(tmp_path / "auto.jsonl", lines)
    capsys.readouterr()
    assert cli(["sample", str(path), "--store", url, "--rate", "1"]) == 1  # some lines rejected
    out, err = capsys.readouterr()
    assert "auto.jsonl:4: " in err
    assert "49 automated decisions" in out and "49 sampled" in out
    assert cli(["sample", str(path), "--store", url, "--rate", "1.5"]) == 2
    assert cli(["sample", str(path), "--store", url, "--rate", "0.1", "--stratify", "colour"]) == 2
    assert "cannot stratify by colour" in capsys.readouterr().err
    assert cli(["sample", str(tmp_path / "missing.jsonl"), "--store", url, "--rate", "0.1"]) == 2


def test_spec_checks() -> None:
    with pytest.raises(SampleError):
        SampleSpec(rate=0)
    with pytest.raises(SampleError):
        SampleSpec(rate=0.1, stratify=("workflow", "workflow"))
    with pytest.raises(SampleError):
        SampleSpec(rate=0.1, oversample_high_value=0.5)


def test_strata_use_each_workflows_confidence_bands(store: Store, tmp_path: Path) -> None:
    policy_store.save_policy(
        store,
        "ask_amount",
        Policy(policy.DEFAULT_RULES, Bands(low_below=0.95, high_above=0.99)),
        expected_version=0,
        actor="ada",
        role=Role.ADMIN,
    )
    rng = random.Random(3)
    tickets = [automated_decision(n, rng) for n in range(400)]
    for ticket in tickets:
        ticket["ai"]["confidence"] = 0.97
    report = sampling.sample_file(
        store, write_jsonl(tmp_path / "a.jsonl", tickets), SampleSpec(0.5), dry_run=True
    )
    bands = {
        dict(p.stratum)["workflow"]: dict(p.stratum)["confidence_band"] for p in report.plan.strata.values()
    }  # type: ignore[union-attr]
    assert bands["ask_amount"] == "medium" and bands["lead_qualification"] == "high"
    assert store.ticket_count() == 0  # a dry run stores nothing


@pytest.fixture(params=BACKENDS)
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    store = Store.initialize(backend_url(request, tmp_path))
    yield store
    store.close()


def test_audit_results_estimate_the_automated_error_rate(any_store: Store, tmp_path: Path) -> None:
    store = any_store
    rng = random.Random(5)
    tickets = [automated_decision(n, rng) for n in range(200)]
    for n, ticket in enumerate(tickets):
        ticket["workflow"] = "ask_amount"
        ticket["subject"]["value_tier"] = "major" if n < 100 else "standard"
        ticket["ai"]["confidence"] = 0.95
    spec = SampleSpec(rate=0.1, stratify=("workflow",), oversample_high_value=4.0, seed=1)
    report = sampling.sample_file(store, write_jsonl(tmp_path / "a.jsonl", tickets), spec)
    assert report.sampled == 40 + 10  # 40 % of the major donors, 10 % of the rest
    samples = {r["external_id"]: r for r in store.pull_tickets(0)}
    # Auditors overturn every sampled major-donor decision and none of the others.
    decisions = []
    for ticket in tickets:
        if ticket["external_id"] in samples:
            sample = json.loads(samples[ticket["external_id"]]["payload"])
            major = ticket["subject"]["value_tier"] == "major"
            decisions.append(
                make_decision(
                    sample,
                    Action.REJECT if major else Action.APPROVE,
                    "stale_data" if major else "ai_correct",
                )
            )
    assert not store.push_decisions(decisions).refused
    (result,) = sampling.audit_results(store).values()
    assert (result.workflow, result.audited, result.overturned) == ("ask_amount", 50, 40)
    # Unweighted, 80 % looks wrong; weighted back to the population, half of it is.
    assert result.estimated_error_rate == pytest.approx(0.5)
