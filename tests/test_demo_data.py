"""Demo tickets: valid against the contract, deterministic, and realistic enough to demo."""

from __future__ import annotations

import itertools
import json
import random
import time
import unicodedata
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

import app.core
from app.core.demo_data import WORKFLOWS, generate_tickets, iter_tickets

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SCHEMA_PATH = Path(app.core.__file__).parent / "spec" / "ticket-v1.schema.json"
HTML = (
    "<b>bold</b> <script>alert(1)</script> <img src=x onerror=alert(1)> "
    '<a href="http://evil.example">click</a>'
)
EXCEPTION_CODES = {
    "low_confidence",
    "ambiguous_intent",
    "missing_field",
    "sentiment_conflict",
    "sensitive_attribute",
    "high_value",
    "policy_flag",
    "sample_audit",
}


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _texts(ticket: dict[str, Any]) -> Iterator[str]:
    for message in ticket["interaction"]["messages"]:
        yield message["text"]


def _is_adversarial(ticket: dict[str, Any]) -> bool:
    return any(
        "<script>" in t or len(t) >= 50_000 or "\u2028" in t or "DROP TABLE" in t for t in _texts(ticket)
    )


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


@pytest.fixture(scope="module")
def tickets() -> list[dict[str, Any]]:
    return generate_tickets(now=NOW)


@pytest.fixture(scope="module")
def many() -> list[dict[str, Any]]:
    return generate_tickets(3_000, seed=11, now=NOW)


# -- contract -------------------------------------------------------------------------


def test_default_count_is_300(tickets: list[dict[str, Any]]) -> None:
    assert len(tickets) == 300


def test_every_ticket_is_valid(
    validator: Draft202012Validator, tickets: list[dict[str, Any]], many: list[dict[str, Any]]
) -> None:
    for i, ticket in enumerate(itertools.chain(tickets, many)):
        errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(ticket)]
        assert not errors, (i, ticket["external_id"], errors)


def test_format_checker_is_active(validator: Draft202012Validator) -> None:
    # Guards the validity test: without rfc3339-validator, date-times are not checked at all.
    ticket = generate_tickets(1, now=NOW)[0]
    ticket["created_at"] = "yesterday"
    assert not validator.is_valid(ticket)


def test_tickets_round_trip_through_json(tickets: list[dict[str, Any]]) -> None:
    assert json.loads(json.dumps(tickets)) == tickets


def test_source_and_external_id_unique(tickets: list[dict[str, Any]], many: list[dict[str, Any]]) -> None:
    for batch in (tickets, many):
        keys = [(t["source"], t["external_id"]) for t in batch]
        assert len(keys) == len(set(keys))


def test_unique_across_a_large_run() -> None:
    keys = {(t["source"], t["external_id"]) for t in iter_tickets(30_000, seed=3, now=NOW)}
    assert len(keys) == 30_000


def test_tickets_share_no_mutable_parts(tickets: list[dict[str, Any]]) -> None:
    # A consumer that edits one ticket (as the adversarial builder does) must not touch another.
    seen: set[int] = set()
    for ticket in tickets:
        for part in (ticket["subject"], ticket["interaction"], ticket["ai"], ticket["exception"]):
            assert id(part) not in seen
            seen.add(id(part))
        for message in ticket["interaction"]["messages"]:
            assert id(message) not in seen
            seen.add(id(message))


# -- determinism and API ----------------------------------------------------------------


def test_same_seed_same_output() -> None:
    assert generate_tickets(200, seed=5, now=NOW) == generate_tickets(200, seed=5, now=NOW)


def test_different_seed_different_output() -> None:
    a = generate_tickets(200, seed=5, now=NOW)
    b = generate_tickets(200, seed=6, now=NOW)
    assert a != b
    assert sum(x == y for x, y in zip(a, b, strict=True)) < 5


def test_iter_equals_generate() -> None:
    for count, seed in ((300, 7), (57, 99), (5, 1)):
        assert list(iter_tickets(count, seed=seed, now=NOW)) == generate_tickets(count, seed=seed, now=NOW)


def test_iter_is_lazy() -> None:
    stream = iter_tickets(10**9, now=NOW)
    first = next(stream)
    assert first["schema"] == "signoff.ticket/1"


def test_global_random_is_untouched() -> None:
    random.seed(1234)
    state = random.getstate()
    a = generate_tickets(50, now=NOW)
    assert random.getstate() == state
    random.seed(99)
    assert generate_tickets(50, now=NOW) == a


def test_default_now_is_current_minute() -> None:
    for _ in range(3):  # retry if the minute turns over between the two calls
        floor = datetime.now(UTC).replace(second=0, microsecond=0)
        implicit = generate_tickets(40, seed=2)
        if datetime.now(UTC).replace(second=0, microsecond=0) == floor:
            assert implicit == generate_tickets(40, seed=2, now=floor)
            return
    pytest.fail("minute kept turning over")


def test_naive_now_is_utc() -> None:
    naive = NOW.replace(tzinfo=None)
    assert generate_tickets(30, now=naive) == generate_tickets(30, now=NOW)


def test_other_timezone_same_instant() -> None:
    plus_two = NOW.astimezone(timezone(timedelta(hours=2)))
    assert generate_tickets(30, now=plus_two) == generate_tickets(30, now=NOW)


def test_zero_and_negative_counts() -> None:
    assert generate_tickets(0, now=NOW) == []
    assert list(iter_tickets(0, now=NOW)) == []
    with pytest.raises(ValueError):
        generate_tickets(-1, now=NOW)


def test_small_counts_are_valid(validator: Draft202012Validator) -> None:
    for count in range(1, 12):
        batch = generate_tickets(count, seed=count, now=NOW)
        assert len(batch) == count
        assert all(validator.is_valid(t) for t in batch)


# -- realism ----------------------------------------------------------------------------


def test_all_workflows_present(tickets: list[dict[str, Any]]) -> None:
    assert WORKFLOWS == (
        "donor_segmentation",
        "ask_amount",
        "reactivation_outreach",
        "lead_qualification",
        "message_draft",
    )
    counts = Counter(t["workflow"] for t in tickets)
    assert set(counts) == set(WORKFLOWS)
    assert min(counts.values()) >= 30  # none is a token appearance


def test_each_workflow_has_its_own_source_and_models(many: list[dict[str, Any]]) -> None:
    sources: dict[str, set[str]] = {}
    versions: dict[str, set[str]] = {}
    for t in many:
        sources.setdefault(t["workflow"], set()).add(t["source"])
        versions.setdefault(t["ai"]["model"], set()).add(t["ai"]["model_version"])
    owners = [s for group in sources.values() for s in group]
    assert len(owners) == len(set(owners)), "a source feeds more than one workflow"
    assert len(versions) >= 5
    assert all(len(v) >= 2 for v in versions.values()), versions


def test_versions_are_comparable(many: list[dict[str, Any]]) -> None:
    # Each model's two most common versions both hold a real share of its tickets.
    by_model: dict[str, Counter[str]] = {}
    for t in many:
        by_model.setdefault(t["ai"]["model"], Counter())[t["ai"]["model_version"]] += 1
    for model, counts in by_model.items():
        top = counts.most_common(2)
        assert top[1][1] >= 0.15 * sum(counts.values()), (model, counts)


def test_confidence_spread(tickets: list[dict[str, Any]], many: list[dict[str, Any]]) -> None:
    for batch in (tickets, many):
        conf = [t["ai"]["confidence"] for t in batch]
        assert min(conf) <= 0.25
        assert max(conf) >= 0.95
        assert all(0.15 <= c <= 0.97 for c in conf)
        middle = sum(0.55 <= c <= 0.9 for c in conf) / len(conf)
        assert middle >= 0.5
        assert sum(c < 0.55 for c in conf) >= 0.1 * len(conf)
        assert sum(c > 0.9 for c in conf) >= 0.03 * len(conf)


def test_exception_codes_and_consistency(tickets: list[dict[str, Any]], many: list[dict[str, Any]]) -> None:
    assert {t["exception"]["code"] for t in tickets} == EXCEPTION_CODES
    for t in many:
        code, conf = t["exception"]["code"], t["ai"]["confidence"]
        triggers = t["exception"].get("triggers", [])
        risk = t.get("risk", {})
        if code == "low_confidence":
            assert conf < 0.6
        if code == "sample_audit":
            assert conf >= 0.9
            assert t["routing"]["queue"] == "sample_audit"
            assert "2%" in t["exception"]["summary"]
        if code == "sensitive_attribute":
            assert risk.get("sensitive") is True and risk.get("flags")
            assert any(x.startswith("sensitive_flag:") for x in triggers)
        if code == "policy_flag":
            assert any(x.startswith("policy:") for x in triggers)
        if "confidence_below_0.60" in triggers:
            assert conf < 0.6
        if "confidence_below_0.90" in triggers:
            assert 0.6 <= conf < 0.9
        assert t["exception"]["summary"].strip()


def test_sensitive_flags_cover_bereavement_health_legal(many: list[dict[str, Any]]) -> None:
    flags = Counter(f for t in many if t.get("risk", {}).get("sensitive") for f in t["risk"]["flags"])
    assert {"bereavement", "health", "legal"} <= set(flags)


def test_some_sensitive_and_some_high_risk(tickets: list[dict[str, Any]]) -> None:
    sensitive = sum(bool(t.get("risk", {}).get("sensitive")) for t in tickets)
    tiers = Counter(t.get("risk", {}).get("tier") for t in tickets)
    assert 5 <= sensitive <= 0.3 * len(tickets)
    assert tiers["high"] >= 10 and tiers["medium"] >= 10 and tiers["low"] >= 10


def test_money_workflows_carry_amounts(tickets: list[dict[str, Any]]) -> None:
    asks = [t for t in tickets if t["workflow"] == "ask_amount"]
    assert asks
    for t in asks:
        rec = t["ai"]["recommendation"]
        assert rec["action"] == "set_ask_amount"
        assert t["risk"]["amount"] == rec["details"]["amount"] > 0
        assert t["risk"]["currency"] == rec["details"]["currency"]
        assert rec["label"].startswith("Ask ") and f"{rec['details']['amount']:,}" in rec["label"]
    assert any(t["risk"]["amount"] >= 10_000 for t in asks)


def test_value_tiers_and_channels_vary(tickets: list[dict[str, Any]]) -> None:
    tiers = {t["subject"].get("value_tier") for t in tickets}
    assert {"major", "mid", "standard", "unknown"} <= tiers
    channels = Counter(t["interaction"]["channel"] for t in tickets)
    assert len(channels) >= 5


def test_short_long_and_threaded_messages(tickets: list[dict[str, Any]]) -> None:
    lengths = [len(m) for t in tickets for m in _texts(t)]
    assert sum(n <= 40 for n in lengths) >= 5
    assert sum(1 for t in tickets for m in _texts(t) if m.count("\n\n") >= 2) >= 5
    threads = [t for t in tickets if len(t["interaction"]["messages"]) >= 2]
    assert len(threads) >= 15
    assert max(len(t["interaction"]["messages"]) for t in tickets) <= 6
    assert {len(t["interaction"]["messages"]) for t in threads} >= {2, 3, 4}
    for t in threads:
        times = [m["at"] for m in t["interaction"]["messages"] if "at" in m]
        assert times == sorted(times)
        assert all("from" in m for m in t["interaction"]["messages"])
        if t["interaction"]["channel"] == "email":  # a conversation, not a CRM timeline
            assert len({m["from"] for m in t["interaction"]["messages"]}) >= 2


def test_signals_have_weights(tickets: list[dict[str, Any]]) -> None:
    with_signals = [t for t in tickets if t["ai"].get("signals")]
    assert len(with_signals) >= 0.8 * len(tickets)
    weights = [s["weight"] for t in with_signals for s in t["ai"]["signals"] if "weight" in s]
    assert any(w < 0 for w in weights) and any(w > 0 for w in weights)


def test_timestamps_are_plausible(tickets: list[dict[str, Any]]) -> None:
    created = [_parse(t["created_at"]) for t in tickets]
    assert all(NOW - timedelta(days=11) <= c < NOW for c in created)
    assert max(created) - min(created) >= timedelta(days=7)
    stale = 0
    for t, c in zip(tickets, created, strict=True):
        for m in t["interaction"]["messages"]:
            if "at" in m:
                assert _parse(m["at"]) <= c
        if "received_at" in t["interaction"]:
            assert _parse(t["interaction"]["received_at"]) <= c
        if "data_as_of" in t["ai"]:
            as_of = _parse(t["ai"]["data_as_of"])
            assert as_of <= c
            stale += c - as_of >= timedelta(days=14)
        due = t.get("routing", {}).get("due_at")
        if due:
            assert _parse(due) > c
    assert 5 <= stale <= 0.3 * len(tickets)


def test_routing_hints_are_the_exception(tickets: list[dict[str, Any]]) -> None:
    routed = [t["routing"] for t in tickets if "routing" in t]
    assert 0.05 * len(tickets) <= len(routed) <= 0.35 * len(tickets)
    assert any("priority" in r for r in routed) and any("queue" in r for r in routed)


def test_invented_contacts_use_example_domains(many: list[dict[str, Any]]) -> None:
    allowed = ("example.org", "example.net", "example.com", ".example")
    for t in many:
        addresses = [t["subject"].get("email")]
        addresses += [m.get("from") for m in t["interaction"]["messages"]]
        for addr in addresses:
            if addr and "@" in addr:
                assert addr.endswith(allowed), addr
        for text in _texts(t):
            for word in text.split():
                if word.startswith(("http://", "https://")):
                    host = word.split("/")[2].rstrip('",.')
                    assert host.endswith(allowed), word
        phone = t["subject"].get("phone")
        if phone:
            assert "555-01" in phone or "7946 0" in phone


def test_ask_label_matches_the_brief_style(many: list[dict[str, Any]]) -> None:
    labels = {t["ai"]["recommendation"]["label"] for t in many if t["workflow"] == "ask_amount"}
    assert any(label.startswith("Ask $") and " for the " in label for label in labels)


# -- adversarial tickets --------------------------------------------------------------


def test_adversarial_tickets_present(tickets: list[dict[str, Any]]) -> None:
    texts = [text for t in tickets for text in _texts(t)]
    assert any(HTML in text for text in texts)
    assert any(len(text) >= 50_000 for text in texts)
    unicode_texts = [t for t in texts if "\u2028" in t]
    assert unicode_texts
    sample = unicode_texts[0]
    assert any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in sample)  # RTL script
    assert any(ord(ch) >= 0x1F300 for ch in sample)  # emoji
    assert any("DROP TABLE" in text for text in texts)
    hostile = [t for t in tickets if _is_adversarial(t)]
    assert 2 <= len(hostile) <= 4


def test_adversarial_tickets_stay_valid(
    validator: Draft202012Validator, tickets: list[dict[str, Any]]
) -> None:
    hostile = [t for t in tickets if _is_adversarial(t)]
    assert hostile
    for t in hostile:
        assert validator.is_valid(t)


def test_large_runs_keep_only_a_handful_of_hostile_tickets() -> None:
    hostile = sum(_is_adversarial(t) for t in iter_tickets(5_000, now=NOW))
    assert 2 <= hostile <= 4


# -- speed ----------------------------------------------------------------------------


def test_streaming_is_fast_enough_for_benchmarks() -> None:
    # A million tickets must take well under a minute; allow generous headroom for slow CI.
    start = time.perf_counter()
    for _ in iter_tickets(20_000, now=NOW):
        pass
    rate = 20_000 / (time.perf_counter() - start)
    assert rate > 5_000, f"{rate:,.0f} tickets/s"
