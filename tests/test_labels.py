"""Labels out: one record per settled ticket with the model's input (personal data masked unless
an administrator asks), the AI's output and the human decision; JSON Lines and CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import sqlite_url
from metrics_history import NOW, T0, Builder, known_history

from app.core.domain import Action
from app.core.labels import CSV_FIELDS, MASK, LabelsError, Masker, iter_labels, write_labels
from app.core.store import Store

NAME, EMAIL = "Priya Raman", "priya.raman@northwind-logistics.example"
TEXT = f"This is {NAME}. Call me on +1 (555) 010-2000 or write to p.raman@home.example - thanks"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.initialize(sqlite_url(tmp_path))
    yield store
    store.close()


def by_id(store: Store, **kwargs: Any) -> dict[str, dict[str, Any]]:
    return {label["external_id"]: label for label in iter_labels(store, **kwargs)}


def test_one_label_per_settled_ticket(store: Store) -> None:
    known_history(store)
    labels = by_id(store)
    # Settled: k1-k8 and k11; k9, k10, k12 are open.
    assert sorted(labels) == sorted(["k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k11"])
    k8 = labels["k8"]  # the conflict, settled by the escalation manager
    assert (k8["decision"]["action"], k8["decision"]["role"]) == ("reject", "escalation_manager")
    k6 = labels["k6"]  # approved on revision 2, after the clarification
    assert (k6["ticket_revision"], k6["decision"]["reason_code"]) == (2, "context_supports")
    assert k6["ai"]["confidence"] == 0.7 and k6["ai"]["model_version"] == "v1"
    assert k6["ai"]["recommendation"]["action"] == "approve_as_mql"
    assert k6["exception"]["code"] == "missing_field"
    assert k6["input"]["interaction"]["messages"]


def test_personal_data_is_masked_unless_revealed(store: Store) -> None:
    b = Builder(store)
    ticket = b.ticket("p1", created=T0, confidence=0.8)
    ticket["interaction"]["messages"][0]["text"] = TEXT
    b.ingest_all()
    note_decision = b.decide("p1", 1, Action.REJECT, "wrong_segment")
    b.pushes[-1] = type(note_decision)(**{**vars(note_decision), "note": f"asked {NAME} at {EMAIL}"})
    b.push_all()
    masked = by_id(store)["p1"]
    subject = masked["input"]["subject"]
    assert (subject["display_name"], subject["email"]) == (MASK, MASK)
    assert subject["organization"] == "Northwind Logistics"  # not personal data
    message = masked["input"]["interaction"]["messages"][0]
    assert message["from"] == MASK
    assert message["text"] == f"This is {MASK}. Call me on {MASK} or write to {MASK} - thanks"
    assert masked["decision"]["note"] == f"asked {MASK} at {MASK}"
    assert NAME not in json.dumps(masked) and EMAIL not in json.dumps(masked)
    assert masked["pii"] == "masked"
    shown = by_id(store, reveal=True)["p1"]
    assert shown["input"]["subject"]["email"] == EMAIL
    assert shown["input"]["subject"]["display_name"] == NAME
    assert shown["input"]["interaction"]["messages"][0]["text"] == TEXT
    assert shown["pii"] == "revealed"


def test_revealing_needs_a_role_the_store_shows_personal_data_to(store: Store) -> None:
    # By default escalation managers and administrators see personal data; reviewers may only
    # reveal one ticket at a time, audited: not a whole export.
    with pytest.raises(LabelsError, match="does not show personal data to reviewer"):
        write_labels(store, io.StringIO(), "jsonl", reveal=True, role="reviewer")
    assert write_labels(store, io.StringIO(), "jsonl", reveal=True, role="admin") == 0


def test_the_revision_the_reviewer_decided_is_the_input(store: Store) -> None:
    """A reviewer decided revision 1 offline while the pipeline sent revision 2."""
    b = Builder(store)
    ticket = b.ticket("r1", created=T0, confidence=0.8)
    ticket["interaction"]["messages"][0]["text"] = "first version"
    b.ingest_all()
    newer = json.loads(json.dumps(ticket))
    newer["interaction"]["messages"][0]["text"] = "second version"
    store.ingest([(1, newer)])
    b.decide("r1", 1, Action.APPROVE, "ai_correct", revision=1)
    b.push_all()
    label = by_id(store)["r1"]
    assert label["ticket_revision"] == 1
    assert label["input"]["interaction"]["messages"][0]["text"] == "first version"


def test_csv_has_one_row_per_label_and_no_formulas(store: Store) -> None:
    b = Builder(store)
    b.ticket("f1", created=T0, confidence=0.8)
    b.ingest_all()
    decision = b.decide("f1", 1, Action.REJECT, "wrong_segment")
    b.pushes[-1] = type(decision)(**{**vars(decision), "note": '=HYPERLINK("http://evil.example")'})
    b.push_all()
    out = io.StringIO()
    assert write_labels(store, out, "csv") == 1
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == CSV_FIELDS
    row = dict(zip(CSV_FIELDS, rows[1], strict=True))
    assert row["note"].startswith("'=")
    assert (row["action"], row["confidence"], row["model_version"]) == ("reject", "0.8", "v1")
    assert json.loads(row["input_json"])["subject"]["email"] == MASK


def test_jsonl_lines_parse(store: Store) -> None:
    known_history(store)
    out = io.StringIO()
    count = write_labels(store, out, "jsonl")
    lines = out.getvalue().split("\n")
    assert count == 9 and lines[-1] == ""
    assert all(json.loads(line)["schema"] == "signoff.label/1" for line in lines[:-1])
    assert NOW > T0


def test_masker_leaves_text_without_personal_data_alone() -> None:
    masker = Masker.of({"subject.display_name": "Al"})  # too short to replace safely
    assert (
        masker.text("Also 12 items, version 2.0.1, order 55-12")
        == "Also 12 items, version 2.0.1, order 55-12"
    )


def test_dates_and_times_in_free_text_stay_while_phone_numbers_go() -> None:
    from app.core.labels import Masker

    masker = Masker(())
    assert masker.text("Article published 2026-10-19, met at 2026-11-10 13:29 UTC.") == (
        "Article published 2026-10-19, met at 2026-11-10 13:29 UTC."
    )
    masked = masker.text("call +1 (503) 555-0147 or 503.555.0147 after 9:30")
    assert masked == "call ••••• or ••••• after 9:30"
    assert masker.text("ticket 12-34 of 2026") == "ticket 12-34 of 2026"  # too few digits for a phone
