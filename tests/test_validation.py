"""The signoff.ticket/1 contract at the door: app.core.validation.

Table-driven: one case per rule of the schema (a meta-test checks that every rule in
ticket-v1.schema.json has a case), then the JSON Lines reader and the Python-json pitfalls.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from app.core import validation
from app.core.validation import (
    SCHEMA_ID,
    FieldError,
    LineError,
    ValidTicket,
    canonical_json,
    content_hash,
    first_error,
    load_schema,
    parse_ticket_line,
    read_jsonl,
    validate_ticket,
)

SPEC = Path(validation.__file__).parent / "spec"
EXAMPLE_LINES = [line for line in (SPEC / "examples.jsonl").read_bytes().split(b"\n") if line]

# A ticket with every optional field present, so every rule has something to break.
FULL: dict[str, Any] = {
    "schema": "signoff.ticket/1",
    "external_id": "t-1",
    "source": "crm-lead-agent",
    "workflow": "lead_qualification",
    "created_at": "2026-11-20T14:03:11Z",
    "subject": {
        "kind": "lead",
        "ref": "crm:1",
        "display_name": "Priya Raman",
        "email": "priya@example.com",
        "phone": "+44 20 7946 0000",
        "organization": "Northwind",
        "value_tier": "unknown",
        "attributes": {"industry": "logistics", "size": 12, "ratio": 0.5, "ok": True, "fax": None},
    },
    "interaction": {
        "channel": "email",
        "received_at": "2026-11-20T14:02:58+01:00",
        "messages": [{"from": "priya@example.com", "at": "2026-11-20T14:02:58.123Z", "text": "Hi"}],
    },
    "ai": {
        "model": "lead-qualifier",
        "model_version": "2026.11.2",
        "prompt_version": "v14",
        "recommendation": {
            "action": "approve_as_mql",
            "label": "Qualify as MQL",
            "details": {"amount": 5, "share": 0.5, "currency": "USD", "urgent": False, "x": None},
        },
        "confidence": 0.71,
        "rationale": "Pricing-page visit.",
        "signals": [{"name": "visited_pricing", "value": True, "weight": -0.2}],
        "data_as_of": "2026-11-20T14:02:58Z",
        "proposed_effect": "Creates MQL in CRM.",
    },
    "exception": {
        "code": "missing_field",
        "summary": "Company size unknown",
        "details": "More words.",
        "triggers": ["confidence_below_0.90"],
    },
    "risk": {"tier": "medium", "amount": 0, "currency": "USD", "sensitive": False, "flags": ["x"]},
    "routing": {"queue": "review", "priority": 50, "due_at": "2026-11-21T14:00:00Z", "assignee": "sam"},
}

MINIMAL: dict[str, Any] = {
    "schema": "signoff.ticket/1",
    "external_id": "t-2",
    "workflow": "ask_amount",
    "created_at": "2026-11-20T14:03:11Z",
    "subject": {"kind": "donor", "ref": "crm:D-1"},
    "interaction": {"channel": "crm_note", "messages": [{"text": "note"}]},
    "ai": {
        "model": "m",
        "model_version": "1",
        "recommendation": {"action": "set_ask_amount"},
        "confidence": 0.5,
        "rationale": "r",
    },
    "exception": {"code": "sample_audit", "summary": "s"},
}

DELETE = object()  # as a case value: remove the field instead of setting it


def _steps(path: str) -> list[str | int]:
    return [int(p[1:-1]) if p.startswith("[") else p for p in re.findall(r"\[\d+\]|[^.\[]+", path)]


def mutated(path: str, value: Any, base: dict[str, Any] = FULL) -> Any:
    """A deep copy of `base` with the field at `path` set to `value` (or removed)."""
    if path == "$":
        return value
    ticket = copy.deepcopy(base)
    *parents, last = _steps(path)
    node: Any = ticket
    for step in parents:
        node = node[step]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return ticket


def line_of(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def ok(result: ValidTicket | LineError) -> dict[str, Any]:
    assert isinstance(result, ValidTicket), result
    return result.ticket


def err(result: ValidTicket | LineError) -> FieldError:
    assert isinstance(result, LineError), result
    return result.error


def fast_and_schema_agree(obj: Any) -> bool:
    """The generated quick check never accepts what jsonschema rejects (nor the reverse)."""
    engine = validation._engine()
    assert engine.fast is not None
    return engine.fast(obj) == engine.validator.is_valid(obj)


# --- examples and valid variants -------------------------------------------------------------


@pytest.mark.parametrize("number", range(1, len(EXAMPLE_LINES) + 1))
def test_every_example_line_is_valid(number: int) -> None:
    raw = EXAMPLE_LINES[number - 1]
    assert validate_ticket(json.loads(raw)) == []
    result = parse_ticket_line(raw, number)
    assert isinstance(result, ValidTicket)
    assert result.line == number
    assert fast_and_schema_agree(json.loads(raw))


def test_examples_file_reads_as_five_valid_tickets() -> None:
    results = list(read_jsonl((SPEC / "examples.jsonl").read_bytes()))
    assert [r.line for r in results] == [1, 2, 3, 4, 5]
    assert all(isinstance(r, ValidTicket) for r in results)


def test_full_and_minimal_tickets_are_valid() -> None:
    assert validate_ticket(FULL) == []
    assert validate_ticket(MINIMAL) == []
    assert fast_and_schema_agree(FULL)
    assert fast_and_schema_agree(MINIMAL)


def test_source_defaults_to_default_and_hashes_like_an_explicit_default() -> None:
    implicit = ok(parse_ticket_line(line_of(MINIMAL), 1))
    assert implicit["source"] == "default"
    explicit = ok(parse_ticket_line(line_of({**MINIMAL, "source": "default"}), 1))
    assert content_hash(implicit) == content_hash(explicit)
    assert "source" not in MINIMAL  # parsing never touches the caller's objects


VALID_VARIANTS = [
    ("external_id", "x" * 200),
    ("source", "s" * 100),
    ("workflow", "ab"),
    ("workflow", "a" + "b_9" * 21),
    ("created_at", "2026-11-20T14:03:11+05:30"),
    ("created_at", "2026-11-20T14:03:11-00:00"),
    ("created_at", "2026-11-20T14:03:11.123456789Z"),
    ("created_at", "2026-11-20t14:03:11z"),  # RFC 3339 allows lower case
    ("created_at", "2028-02-29T23:59:59Z"),  # a leap day
    ("created_at", "2026-01-31T00:00:00Z"),
    ("created_at", "0001-01-01T00:00:00Z"),
    ("created_at", "9999-12-31T23:59:59Z"),
    ("subject.attributes", {}),
    ("subject.attributes.big", 10**30),
    ("interaction.messages", [{"text": ""}] * 500),
    ("interaction.messages[0].text", "x" * 200_000),
    ("interaction.messages[0].text", "line\u2028sep\u2029para\x85nel 😀 <b>not html</b>"),
    ("ai.confidence", 0),
    ("ai.confidence", 1),
    ("ai.confidence", 1.0),
    ("ai.signals", []),
    ("ai.signals", [{"name": "n"}] * 200),
    ("ai.signals[0].value", None),
    ("ai.signals[0].value", 3),
    ("ai.signals[0].value", "text"),
    ("ai.signals[0].weight", 5),
    ("exception.triggers", []),
    ("risk", {}),
    ("risk.amount", 1e300),
    ("risk.currency", "EUR"),
    ("routing", {}),
    ("routing.priority", 0),
    ("routing.priority", 100),
    ("routing.priority", 7.0),  # JSON Schema: 1.0 is an integer
]


@pytest.mark.parametrize(("path", "value"), VALID_VARIANTS, ids=[p for p, _ in VALID_VARIANTS])
def test_valid_variants(path: str, value: Any) -> None:
    ticket = mutated(path, value)
    assert validate_ticket(ticket) == []
    assert fast_and_schema_agree(ticket)
    assert isinstance(parse_ticket_line(line_of(ticket), 1), ValidTicket)


def test_whole_float_priority_is_stored_as_an_int() -> None:
    ticket = ok(parse_ticket_line(line_of(mutated("routing.priority", 7.0)), 1))
    assert ticket["routing"]["priority"] == 7
    assert type(ticket["routing"]["priority"]) is int


# --- one case per schema rule ----------------------------------------------------------------

S = "(not in signoff.ticket/1)"
SCALAR = "must be a string, a number, a boolean or null"
SLUG = "must be 2-64 characters of a-z, 0-9 and _, starting with a letter"
DT = "not an RFC 3339 date-time with UTC offset"
KINDS = "'donor', 'lead', 'account', 'customer', 'other'"
CHANNELS = "'email', 'web_form', 'chat', 'phone_note', 'crm_note', 'event', 'other'"

CASES: list[Any] = []


def case(rule: str, path: str, value: Any, message: str, at: str | None = None) -> None:
    """rule: "<schema path>:<keyword>", "[]" for array items, ".*" for free-form values."""
    CASES.append(pytest.param(rule, path, value, at or path, message, id=f"{rule}={value!r:.30}"))


def unknown(parent: str, name: str = "foo") -> None:
    path = f"{parent}.{name}" if parent != "$" else name
    case(f"{parent}:additionalProperties", path, 1, f"unknown field '{name}' {S}")


def _rule_path(path: str) -> str:
    return re.sub(r"\[\d+\]", "[]", path)


def required(path: str) -> None:
    case(f"{_rule_path(path)}:required", path, DELETE, "required field missing")


def string(path: str, low: int, high: int | None) -> None:
    rule = _rule_path(path)
    case(f"{rule}:type", path, 12, "must be a string (got 12)")
    if low == 1:
        case(f"{rule}:minLength", path, "", "must not be empty")
    if high is not None:
        too_long = f"must be at most {high} characters long (got {high + 1})"
        case(f"{rule}:maxLength", path, "x" * (high + 1), too_long)


def date_time(path: str) -> None:
    case(f"{path}:type", path, 1700000000, "must be a string (got 1700000000)")
    for bad in ("2026-11-20T14:03:11", "2026-02-30T00:00:00Z", "yesterday"):
        case(f"{path}:format", path, bad, f"{DT}: {bad!r}")


def obj(path: str) -> None:
    rule = _rule_path(path)
    case(f"{rule}:type", path, "x", "must be an object (got 'x')")
    case(f"{rule}:additionalProperties", f"{path}.foo", 1, f"unknown field 'foo' {S}")


# top level
case("$:type", "$", [], "must be a JSON object, one ticket per line (got an array)")
case("$:type", "$", "ticket", "must be a JSON object, one ticket per line (got 'ticket')")
case("$:type", "$", None, "must be a JSON object, one ticket per line (got null)")
unknown("$")
for name in ("schema", "external_id", "workflow", "created_at"):
    required(name)
for name in ("subject", "interaction", "ai", "exception"):
    required(name)
case("schema:const", "schema", "signoff.ticket/2", "must be 'signoff.ticket/1' (got 'signoff.ticket/2')")
case("schema:const", "schema", 1, "must be 'signoff.ticket/1' (got 1)")
string("external_id", 1, 200)
string("source", 1, 100)
case("source:type", "source", None, "must be a string (got null)")
case("workflow:type", "workflow", ["a"], "must be a string (got an array)")
for bad in ("Bad-Name", "a", "1abc", "lead_qualification\n", "lead qualification", "é" * 5):
    case("workflow:pattern", "workflow", bad, f"{SLUG} (got {bad!r})")
case("workflow:pattern", "workflow", "x" * 65, f"{SLUG} (got {'x' * 60!r}…)")
date_time("created_at")
for bad in ("2026-13-01", "2026-11-20 14:03:11Z", "2026-11-20T14:03:11Z\n", "2026-06-30T23:59:60Z"):
    case("created_at:format", "created_at", bad, f"{DT}: {bad!r}")
for bad in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
    message = f"date-time outside years 0001-9999 once converted to UTC: {bad!r}"
    case("created_at:format", "created_at", bad, message)

# subject
obj("subject")
case("subject:additionalProperties", "subject.nickname", "P", f"unknown field 'nickname' {S}")
required("subject.kind")
required("subject.ref")
case("subject.kind:enum", "subject.kind", "robot", f"must be one of {KINDS} (got 'robot')")
case("subject.kind:enum", "subject.kind", None, f"must be one of {KINDS} (got null)")
string("subject.ref", 1, 200)
string("subject.display_name", 0, 300)
string("subject.email", 0, 320)
string("subject.phone", 0, 64)
string("subject.organization", 0, 300)
case(
    "subject.value_tier:enum",
    "subject.value_tier",
    "vip",
    "must be one of 'major', 'mid', 'standard', 'unknown' (got 'vip')",
)
case("subject.attributes:type", "subject.attributes", [], "must be an object (got an array)")
case("subject.attributes.*:type", "subject.attributes.x", {"a": 1}, f"{SCALAR} (got an object)")
case("subject.attributes.*:type", "subject.attributes.x", [1, 2], f"{SCALAR} (got an array)")

# interaction
obj("interaction")
required("interaction.channel")
required("interaction.messages")
case("interaction.channel:enum", "interaction.channel", "fax", f"must be one of {CHANNELS} (got 'fax')")
date_time("interaction.received_at")
case("interaction.messages:type", "interaction.messages", {"text": "x"}, "must be an array (got an object)")
case("interaction.messages:minItems", "interaction.messages", [], "must have at least 1 item (got 0)")
case(
    "interaction.messages:maxItems",
    "interaction.messages",
    [{"text": "x"}] * 501,
    "must have at most 500 items (got 501)",
)
obj("interaction.messages[0]")
case(
    "interaction.messages[]:additionalProperties",
    "interaction.messages[0].body",
    "x",
    f"unknown field 'body' {S}",
)
required("interaction.messages[0].text")
string("interaction.messages[0].from", 0, 320)
date_time_at = "interaction.messages[0].at"
case("interaction.messages[].at:type", date_time_at, 1, "must be a string (got 1)")
case("interaction.messages[].at:format", date_time_at, "noon", f"{DT}: 'noon'")
string("interaction.messages[0].text", 0, 200_000)

# ai
obj("ai")
case(
    "ai:additionalProperties",
    "ai.confidance",
    0.7,
    "unknown field 'confidance' (not in signoff.ticket/1; did you mean 'confidence'?)",
)
for name in ("model", "model_version", "recommendation", "confidence", "rationale"):
    required(f"ai.{name}")
string("ai.model", 1, 100)
string("ai.model_version", 1, 100)
string("ai.prompt_version", 0, 100)
obj("ai.recommendation")
required("ai.recommendation.action")
string("ai.recommendation.action", 1, 100)
string("ai.recommendation.label", 0, 200)
case("ai.recommendation.details:type", "ai.recommendation.details", "x", "must be an object (got 'x')")
case(
    "ai.recommendation.details.*:type",
    "ai.recommendation.details.amount",
    {"value": 5},
    f"{SCALAR} (got an object)",
)
case("ai.recommendation.details.*:type", "ai.recommendation.details.l", [], f"{SCALAR} (got an array)")
case("ai.confidence:type", "ai.confidence", "0.9", "must be a number (got '0.9')")
case("ai.confidence:type", "ai.confidence", True, "must be a number (got true)")
case("ai.confidence:type", "ai.confidence", False, "must be a number (got false)")
case("ai.confidence:type", "ai.confidence", None, "must be a number (got null)")
case("ai.confidence:minimum", "ai.confidence", -0.1, "must be at least 0 (got -0.1)")
case("ai.confidence:maximum", "ai.confidence", 1.01, "must be at most 1 (got 1.01)")
case("ai.confidence:maximum", "ai.confidence", 1.7, "must be at most 1 (got 1.7)")
case("ai.confidence:maximum", "ai.confidence", 2, "must be at most 1 (got 2)")
string("ai.rationale", 1, 20_000)
case("ai.signals:type", "ai.signals", {"name": "x"}, "must be an array (got an object)")
case("ai.signals:maxItems", "ai.signals", [{"name": "n"}] * 201, "must have at most 200 items (got 201)")
obj("ai.signals[0]")
required("ai.signals[0].name")
string("ai.signals[0].name", 1, 100)
case("ai.signals[].value:type", "ai.signals[0].value", {"a": 1}, f"{SCALAR} (got an object)")
case("ai.signals[].value:type", "ai.signals[0].value", [True], f"{SCALAR} (got an array)")
case("ai.signals[].weight:type", "ai.signals[0].weight", "high", "must be a number (got 'high')")
case("ai.signals[].weight:type", "ai.signals[0].weight", True, "must be a number (got true)")
date_time("ai.data_as_of")
string("ai.proposed_effect", 0, 2000)

# exception
obj("exception")
required("exception.code")
required("exception.summary")
case("exception.code:type", "exception.code", None, "must be a string (got null)")
case("exception.code:pattern", "exception.code", "Low Confidence", f"{SLUG} (got 'Low Confidence')")
string("exception.summary", 1, 500)
string("exception.details", 0, 20_000)
case("exception.triggers:type", "exception.triggers", "t", "must be an array (got 't')")
case("exception.triggers:maxItems", "exception.triggers", ["t"] * 51, "must have at most 50 items (got 51)")
string("exception.triggers[0]", 0, 200)

# risk
obj("risk")
case("risk.tier:enum", "risk.tier", "extreme", "must be one of 'low', 'medium', 'high' (got 'extreme')")
case("risk.amount:type", "risk.amount", "50000", "must be a number (got '50000')")
case("risk.amount:minimum", "risk.amount", -1, "must be at least 0 (got -1)")
case("risk.currency:type", "risk.currency", 840, "must be a string (got 840)")
for bad in ("usd", "US", "USDX", "US1"):
    case(
        "risk.currency:pattern",
        "risk.currency",
        bad,
        f"must be a three-letter upper-case code such as 'USD' (got {bad!r})",
    )
case("risk.sensitive:type", "risk.sensitive", "yes", "must be true or false (got 'yes')")
case("risk.sensitive:type", "risk.sensitive", 1, "must be true or false (got 1)")
case("risk.flags:type", "risk.flags", "bereavement", "must be an array (got 'bereavement')")
case("risk.flags:maxItems", "risk.flags", ["f"] * 51, "must have at most 50 items (got 51)")
string("risk.flags[0]", 0, 100)

# routing
obj("routing")
case(
    "routing.queue:enum",
    "routing.queue",
    "urgent",
    "must be one of 'review', 'human_only', 'escalation', 'sample_audit' (got 'urgent')",
)
case("routing.priority:type", "routing.priority", 1.5, "must be an integer (got 1.5)")
case("routing.priority:type", "routing.priority", "50", "must be an integer (got '50')")
case("routing.priority:type", "routing.priority", True, "must be an integer (got true)")
case("routing.priority:minimum", "routing.priority", -1, "must be at least 0 (got -1)")
case("routing.priority:maximum", "routing.priority", 101, "must be at most 100 (got 101)")
date_time("routing.due_at")
string("routing.assignee", 0, 200)


@pytest.mark.parametrize(("rule", "path", "value", "at", "message"), CASES)
def test_rule(rule: str, path: str, value: Any, at: str, message: str) -> None:
    ticket = mutated(path, value)
    assert validate_ticket(ticket) == [FieldError(at, message)]
    assert fast_and_schema_agree(ticket)
    assert parse_ticket_line(line_of(ticket), 7) == LineError(7, FieldError(at, message))


def _schema_rules(node: dict[str, Any], path: str = "$") -> set[str]:
    def child(name: str) -> str:
        return name if path == "$" else f"{path}.{name}"

    rules = {f"{path}:{k}" for k in node if k in validation._engine().validator.VALIDATORS}
    rules -= {f"{path}:properties", f"{path}:items", f"{path}:required"}
    if node.get("additionalProperties", True) is not False:
        rules.discard(f"{path}:additionalProperties")
    rules |= {f"{child(name)}:required" for name in node.get("required", [])}
    for name, sub in node.get("properties", {}).items():
        rules |= _schema_rules(sub, child(name))
    if isinstance(node.get("items"), dict):
        rules |= _schema_rules(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        rules |= _schema_rules(node["additionalProperties"], f"{path}.*")
    return rules


def test_every_schema_rule_has_a_case() -> None:
    in_schema = _schema_rules(load_schema())
    in_cases = {param.values[0] for param in CASES}
    assert in_schema - in_cases == set(), "rules without a test case"
    assert in_cases - in_schema == set(), "cases naming a rule the schema does not have"
    assert len(in_schema) > 100


def test_the_fast_check_is_in_use_for_the_shipped_schema() -> None:
    # If a schema edit uses a keyword the generated check does not know, validation stays
    # correct but falls back to jsonschema alone, ~10x slower at ingest: make that visible.
    assert validation._engine().fast is not None


def test_fast_check_agrees_with_jsonschema_on_random_mutations() -> None:
    rng = random.Random(20261120)
    values: list[Any] = [
        None, True, False, 0, 1, -1, 0.5, 1.5, 7.0, 101, float("nan"), float("inf"), "", "x",
        "USD", "usd", "lead", "review", "email", "ab", "Bad-Name", "2026-11-20T14:03:11Z",
        "2026-02-30T00:00:00Z", "a" * 201, [], ["x"], [{"text": "x"}], [{"name": "n"}], {},
        {"a": 1}, {"a": {}}, {"text": "x"}, "signoff.ticket/1",
    ]  # fmt: skip
    bases = [FULL, MINIMAL, *(json.loads(line) for line in EXAMPLE_LINES)]
    for _ in range(1500):
        ticket = copy.deepcopy(rng.choice(bases))
        for _ in range(rng.randint(1, 3)):
            node, key = _random_slot(rng, ticket)
            action = rng.random()
            if action < 0.25 and isinstance(node, dict):
                node.pop(key, None)
            elif action < 0.4 and isinstance(node, dict):
                node[rng.choice(["foo", "text", "name", "value"])] = rng.choice(values)
            else:
                node[key] = copy.deepcopy(rng.choice(values))
        assert fast_and_schema_agree(ticket), ticket


def _random_slot(rng: random.Random, ticket: dict[str, Any]) -> tuple[Any, Any]:
    slots: list[tuple[Any, Any]] = []
    stack: list[Any] = [ticket]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            slots.append((node, key))
            if isinstance(value, dict | list) and value:
                stack.append(value)
    return rng.choice(slots)


# --- several errors, ordering, first_error ---------------------------------------------------


def test_all_errors_sorted_by_path() -> None:
    ticket = copy.deepcopy(FULL)
    ticket["routing"]["priority"] = 101
    ticket["ai"]["confidence"] = 1.7
    del ticket["ai"]["rationale"]
    ticket["subject"]["nickname"] = "P"
    ticket["interaction"]["messages"] = [{"text": "ok"}] * 2 + [{"text": 1}] * 9
    errors = validate_ticket(ticket)
    assert [e.path for e in errors] == [
        "ai.confidence",
        "ai.rationale",
        *(f"interaction.messages[{i}].text" for i in range(2, 11)),  # 2 before 10
        "routing.priority",
        "subject.nickname",
    ]
    assert errors == validate_ticket(copy.deepcopy(ticket))  # deterministic
    assert first_error(errors) == FieldError("ai.confidence", "must be at most 1 (got 1.7)")


def test_first_error_prefers_the_whole_line_then_path_order() -> None:
    a = FieldError("ai.model", "required field missing")
    b = FieldError("messages[10]", "x")
    c = FieldError("messages[9]", "x")
    root = FieldError("$", "not valid JSON")
    assert first_error([b, c]) == c
    assert first_error([b, a, root]) == root
    assert first_error([a]) == a
    with pytest.raises(ValueError):
        first_error([])


def test_a_bad_line_reports_exactly_one_error() -> None:
    ticket = mutated("ai.confidence", 7)
    del ticket["workflow"]
    result = parse_ticket_line(line_of(ticket), 3)
    assert result == LineError(3, FieldError("ai.confidence", "must be at most 1 (got 7)"))


# --- Python-json pitfalls --------------------------------------------------------------------


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(constant: str) -> None:
    raw = line_of(FULL).replace(b'"confidence": 0.71', f'"confidence": {constant}'.encode())
    assert constant.encode() in raw
    assert err(parse_ticket_line(raw, 1)) == FieldError(
        "$", f"not valid JSON: {constant} is not a number in JSON"
    )


def test_a_number_too_large_for_a_float_is_rejected_not_turned_into_infinity() -> None:
    raw = line_of(FULL).replace(b'"amount": 0', b'"amount": 1e400')
    assert err(parse_ticket_line(raw, 1)) == FieldError("$", "not valid JSON: number 1e400 is too large")


def test_non_finite_floats_given_directly_are_rejected() -> None:
    assert validate_ticket(mutated("ai.confidence", float("nan"))) == [
        FieldError("ai.confidence", "must be a finite number (got NaN)")
    ]
    assert validate_ticket(mutated("subject.attributes.x", float("-inf"))) == [
        FieldError("subject.attributes.x", "must be a finite number (got -Infinity)")
    ]


def test_duplicate_keys_are_rejected_at_the_repeated_field() -> None:
    raw = line_of(FULL).replace(b'"ref": "crm:1"', b'"ref": "crm:1", "ref": "crm:2"')
    assert err(parse_ticket_line(raw, 1)) == FieldError(
        "subject.ref", "duplicate key 'ref': appears 2 times in one object"
    )
    same_value = b'{"schema": "signoff.ticket/1", ' + line_of(FULL)[1:]
    assert err(parse_ticket_line(same_value, 1)) == FieldError(
        "schema", "duplicate key 'schema': appears 2 times in one object"
    )
    in_a_list = line_of(FULL).replace(b'"text": "Hi"', b'"text": "Hi", "text": "Hi", "text": "x"')
    assert err(parse_ticket_line(in_a_list, 1)) == FieldError(
        "interaction.messages[0].text", "duplicate key 'text': appears 3 times in one object"
    )


def test_duplicate_key_then_broken_json_reports_the_broken_json() -> None:
    assert err(parse_ticket_line(b'{"a": {"b": 1, "b": 2}, oops}', 1)) == FieldError(
        "$", "not valid JSON: expecting property name enclosed in double quotes at column 25"
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"schema": "signoff.ticket/1"', "not valid JSON: expecting ',' delimiter at column 30"),
        (b'{"a": 1} {"b": 2}', "not valid JSON: more than one JSON value on the line at column 10"),
        (b"{'a': 1}", "not valid JSON: expecting property name enclosed in double quotes at column 2"),
        (b'{"a": "x\ty"}', "not valid JSON: invalid control character at column 9"),
        (b'{"a": "x', "not valid JSON: unterminated string starting at column 7"),
        (b"[" * 100_000, "not valid JSON: nested too deeply"),
        (b"[1, 2]", "must be a JSON object, one ticket per line (got an array)"),
        (b'"ticket"', "must be a JSON object, one ticket per line (got 'ticket')"),
        (b"42", "must be a JSON object, one ticket per line (got 42)"),
        (b"null", "must be a JSON object, one ticket per line (got null)"),
        (b"\xff\xfe{}", "not valid UTF-8: the file looks like UTF-16; save it as UTF-8"),
        (b'{"a": "caf\xe9"}', "not valid UTF-8: byte 0xe9 at byte 11 of the line"),
        (b'{"a": "\xed\xa0\x80"}', "not valid UTF-8: byte 0xed at byte 8 of the line"),
    ],
    ids=[
        "truncated",
        "two-values",
        "single-quotes",
        "raw-tab",
        "unterminated",
        "deep",
        "array",
        "string",
        "number",
        "null",
        "utf16",
        "latin1",
        "utf8-surrogate",
    ],
)
def test_whole_line_errors(raw: bytes, message: str) -> None:
    assert err(parse_ticket_line(raw, 4)) == FieldError("$", message)


def test_an_integer_beyond_pythons_digit_limit_is_a_line_error_not_a_crash() -> None:
    raw = line_of(FULL).replace(b'"amount": 0', b'"amount": ' + b"9" * 5000)
    error = err(parse_ticket_line(raw, 1))
    assert error.path == "$"
    assert error.message.startswith("not valid JSON: exceeds the limit (4300 digits)")


def test_unpaired_surrogate_escapes_are_rejected() -> None:
    raw = line_of(FULL).replace(b'"text": "Hi"', b'"text": "Hi \\ud800 there"')
    assert err(parse_ticket_line(raw, 1)) == FieldError(
        "interaction.messages[0].text",
        "text contains an unpaired surrogate \\ud800, which is not valid Unicode",
    )
    # The same object handed over directly, not through JSON text.
    assert validate_ticket(mutated("ai.rationale", "x\udfffy")) == [
        FieldError("ai.rationale", "text contains an unpaired surrogate \\udfff, which is not valid Unicode")
    ]


def test_a_surrogate_pair_escape_is_one_valid_character() -> None:
    raw = line_of(FULL).replace(b'"text": "Hi"', b'"text": "Hi \\ud83d\\ude00"')
    assert ok(parse_ticket_line(raw, 1))["interaction"]["messages"][0]["text"] == "Hi 😀"


def test_odd_field_names_stay_on_one_line_and_unambiguous() -> None:
    ticket = mutated("subject.attributes.a\nb", {})
    ticket["ab.cd"] = 1
    errors = validate_ticket(ticket)
    assert errors == [
        FieldError("['ab.cd']", f"unknown field 'ab.cd' {S}"),
        FieldError("subject.attributes['a\\nb']", f"{SCALAR} (got an object)"),
    ]
    assert "\n" not in LineError(1, errors[1]).format("f.jsonl")


def test_control_and_bidi_characters_are_escaped_in_messages() -> None:
    [error] = validate_ticket(mutated("workflow", "ab\u202ecd\r\n"))
    assert error.message == f"{SLUG} (got 'ab\\u202ecd\\r\\n')"


def test_schema_patterns_anchor_like_ecma_262() -> None:
    # "$" only at the very end (Python's "$" also matches before a final newline) ...
    assert validation._regex("^ab$").search("ab\n") is None
    assert validation._regex("^ab$").search("ab")
    # ... but not inside a character class or when escaped.
    assert validation._regex("^[$]$").search("$")
    assert validation._regex(r"^\$$").search("$")
    assert validation._regex(r"^\$$").search("$\n") is None


def test_long_values_are_shortened_in_messages() -> None:
    [error] = validate_ticket(mutated("workflow", "W" * 500))
    assert error.message == f"{SLUG} (got {'W' * 60!r}…)"


# --- JSON Lines reading ----------------------------------------------------------------------


def test_u2028_and_friends_inside_a_string_do_not_split_the_line() -> None:
    text = "a\u2028b\u2029c\x85d\x0be\x0cf\x1cg"
    raw = json.dumps(mutated("interaction.messages[0].text", text), ensure_ascii=False).encode()
    assert "\u2028".encode() in raw and b"\n" not in raw
    data = raw + b"\n" + line_of(MINIMAL) + b"\n"
    results = list(read_jsonl(data))
    assert [r.line for r in results] == [1, 2]
    assert ok(results[0])["interaction"]["messages"][0]["text"] == text
    assert isinstance(results[1], ValidTicket)


def test_crlf_line_endings() -> None:
    bad = line_of(mutated("ai.confidence", 1.7))
    data = line_of(FULL) + b"\r\n" + bad + b"\r\n" + line_of(MINIMAL) + b"\r\n"
    results = list(read_jsonl(data))
    assert [r.line for r in results] == [1, 2, 3]
    assert [type(r) for r in results] == [ValidTicket, LineError, ValidTicket]
    assert results[1].format("in.jsonl") == "in.jsonl:2: ai.confidence: must be at most 1 (got 1.7)"


def test_utf8_bom_at_the_very_start_is_allowed_but_not_later() -> None:
    data = b"\xef\xbb\xbf" + line_of(FULL) + b"\n\xef\xbb\xbf" + line_of(MINIMAL) + b"\n"
    first, second = read_jsonl(data)
    assert isinstance(first, ValidTicket) and first.line == 1
    assert second == LineError(
        2,
        FieldError(
            "$",
            "not valid JSON: a UTF-8 byte order mark is only allowed at the start of the file",
        ),
    )


def test_blank_lines_are_skipped_but_counted() -> None:
    data = b"\n  \n\t\r\n" + line_of(FULL) + b"\n\n\r\n" + line_of(MINIMAL) + b"\n \n"
    results = list(read_jsonl(data))
    assert [(r.line, type(r)) for r in results] == [(4, ValidTicket), (7, ValidTicket)]
    assert list(read_jsonl(b"")) == []
    assert list(read_jsonl(b"\n\n")) == []


def test_last_line_without_newline_is_read() -> None:
    results = list(read_jsonl(line_of(FULL) + b"\n" + line_of(MINIMAL)))
    assert [r.line for r in results] == [1, 2]


def test_mixed_good_and_bad_lines_keep_their_numbers_and_formatting() -> None:
    lines = [
        line_of(FULL),  # 1
        b"",  # 2: blank, skipped
        b'{"schema": "signoff.ticket/1", "external_id": ',  # 3
        line_of(mutated("subject.nickname", "Pri")),  # 4
        b"[]",  # 5
        line_of(MINIMAL),  # 6
        b"\xc3\x28",  # 7
        line_of(mutated("ai.rationale", DELETE)),  # 8
        line_of(mutated("risk.currency", "usd")),  # 9
        line_of(mutated("created_at", "2026-11-20T14:03:11")),  # 10
        EXAMPLE_LINES[1],  # 11
    ]
    results = list(read_jsonl(b"\n".join(lines) + b"\n"))
    assert [r.line for r in results if isinstance(r, ValidTicket)] == [1, 6, 11]
    assert [r.format("batch.jsonl") for r in results if isinstance(r, LineError)] == [
        "batch.jsonl:3: $: not valid JSON: expecting value at column 47",
        f"batch.jsonl:4: subject.nickname: unknown field 'nickname' {S}",
        "batch.jsonl:5: $: must be a JSON object, one ticket per line (got an array)",
        "batch.jsonl:7: $: not valid UTF-8: byte 0xc3 at byte 1 of the line",
        "batch.jsonl:8: ai.rationale: required field missing",
        "batch.jsonl:9: risk.currency: must be a three-letter upper-case code such as 'USD' (got 'usd')",
        "batch.jsonl:10: created_at: not an RFC 3339 date-time with UTC offset: '2026-11-20T14:03:11'",
    ]


class _ChunkReader(io.RawIOBase):
    """A binary stream that records how much each read() asked for."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.sizes: list[int] = []

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.sizes.append(size)
        return self._data.read(size)


def test_file_objects_are_streamed_in_bounded_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validation, "_CHUNK_SIZE", 7)  # lines straddle many chunk boundaries
    lines = [line_of(FULL), b"", b"[]", line_of(MINIMAL), b"\xff", EXAMPLE_LINES[0]]
    data = b"\xef\xbb\xbf" + b"\r\n".join(lines)
    stream = _ChunkReader(data)
    from_stream = list(read_jsonl(stream))
    assert from_stream == list(read_jsonl(data))
    assert [r.line for r in from_stream] == [1, 3, 4, 5, 6]
    assert all(0 < size <= 7 for size in stream.sizes)


def test_reading_is_lazy() -> None:
    stream = _ChunkReader((line_of(FULL) + b"\n") * 2000)
    results = read_jsonl(stream)
    assert isinstance(next(results), ValidTicket)
    assert len(stream.sizes) == 1  # one 1 MiB chunk so far, not the whole ~3 MB
    assert sum(1 for _ in results) == 1999


def test_real_files_and_bytearrays_read_the_same(tmp_path: Path) -> None:
    data = (SPEC / "examples.jsonl").read_bytes()
    with (SPEC / "examples.jsonl").open("rb") as handle:
        assert list(read_jsonl(handle)) == list(read_jsonl(data)) == list(read_jsonl(bytearray(data)))


def test_a_text_file_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(line_of(FULL))
    with path.open("r") as handle, pytest.raises(TypeError, match="binary"):
        list(read_jsonl(handle))  # type: ignore[arg-type]


# --- canonical form, hashing, schema ---------------------------------------------------------


def test_canonical_json_is_key_order_independent_and_compact() -> None:
    assert canonical_json({"b": 1, "a": [1.5, "é", None, True]}) == '{"a":[1.5,"é",null,true],"b":1}'
    shuffled = json.loads(json.dumps(FULL))
    shuffled["ai"] = dict(reversed(list(shuffled["ai"].items())))
    assert canonical_json(shuffled) == canonical_json(FULL)
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_content_hash_is_sha256_of_the_canonical_json() -> None:
    expected = hashlib.sha256(canonical_json(FULL).encode("utf-8")).hexdigest()
    assert content_hash(FULL) == expected
    assert re.fullmatch(r"[0-9a-f]{64}", expected)
    assert content_hash(mutated("ai.confidence", 0.72)) != expected


def test_load_schema_is_the_contract_and_a_private_copy() -> None:
    schema = load_schema()
    assert schema["$id"] == SCHEMA_ID
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    schema["properties"].clear()
    assert load_schema()["properties"]
    assert validate_ticket(FULL) == []
