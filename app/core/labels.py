"""Labels out: per decided ticket, what the model saw, what it proposed, and what people decided —
training data for the pipeline (`signoff export labels --store URL --format jsonl|csv`).

One record per ticket whose outcome is settled (status decided, its standing decisions agree):
- `input`: the model's input (subject and interaction) of the revision that was decided; None
  (with `input_note`) when a retention purge removed it;
- `ai`: model, version, proposal, confidence, rationale, signals;
- `decision`: the settled action, its reason code and note, the deciding role and time.
Personal data stays masked (`pii.MASK`, as the store keeps payloads since s0005) unless revealing
it is asked for by a role the store's PII setting lets see it. Masked, the free text (messages,
rationale, summary, note) also loses the ticket's own personal values wherever it repeats them,
and anything shaped like an e-mail address or a phone number: a safeguard, not a guarantee.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TextIO

from sqlalchemy import Connection, select, tuple_

from app.core import pii, pii_access
from app.core.db import READ_ONLY
from app.core.domain import Action, DecisionStatus, Role, TicketStatus, to_rfc3339
from app.core.governance import csv_cell
from app.core.store import Store
from app.core.store_errors import translate_errors
from app.core.store_models import StoreDecision, StoreTicket, TicketPii, TicketRevision

LabelFormat = Literal["jsonl", "csv"]
SCHEMA = "signoff.label/1"
TICKETS = StoreTicket.__table__
DECISIONS = StoreDecision.__table__
REVISIONS = TicketRevision.__table__
PERSONAL = TicketPii.__table__
MASK = pii.MASK
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"(?<![\w])\+?\d[\d ().-]{6,}\d(?![\w])")
# Dates and times have a phone's shape but are training signal, not personal data: they are
# set aside before phone numbers are looked for.
DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?|\b\d{1,2}:\d{2}(?::\d{2})?\b")
MIN_PHONE_DIGITS = 7


def _phone_mask(match: re.Match[str]) -> str:
    found = match.group(0)
    return MASK if sum(ch.isdigit() for ch in found) >= MIN_PHONE_DIGITS else found


def mask_phones(text: str) -> str:
    pieces, start = [], 0
    for date in DATE_TIME.finditer(text):
        pieces += [PHONE.sub(_phone_mask, text[start : date.start()]), date.group(0)]
        start = date.end()
    pieces.append(PHONE.sub(_phone_mask, text[start:]))
    return "".join(pieces)
BATCH = 1000
CSV_FIELDS = (
    "source",
    "external_id",
    "workflow",
    "ticket_revision",
    "exception_code",
    "model",
    "model_version",
    "confidence",
    "recommended_action",
    "recommendation_label",
    "rationale",
    "action",
    "reason_code",
    "note",
    "role",
    "decided_at",
    "decision_id",
    "input_json",
    "pii",
)


class LabelsError(Exception):
    """A labels export that cannot be made as asked; the message says why."""


def may_reveal(store: Store, role: str) -> bool:
    """Whether the store's PII setting shows personal data to this role."""
    return pii_access.load_policy(store).sees(role)


# --- masking -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Masker:
    """Masks a ticket's personal values wherever text repeats them, and e-mail or phone shapes."""

    known: tuple[str, ...]

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> Masker:
        known = {str(v) for v in values.values() if v not in (None, "", MASK) and len(str(v)) >= 3}
        return cls(tuple(sorted(known, key=len, reverse=True)))

    def text(self, value: str | None) -> str | None:
        if not value:
            return value
        for known in self.known:
            value = value.replace(known, MASK)
        return mask_phones(EMAIL.sub(MASK, value))

    def model_input(self, payload: dict[str, Any]) -> dict[str, Any]:
        masked, _values = pii.split(_model_input(payload))  # a payload from before s0005 is in clear
        for message in masked["interaction"].get("messages") or []:
            if isinstance(message.get("text"), str):
                message["text"] = self.text(message["text"])
        return masked


def _model_input(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {"subject": payload.get("subject") or {}, "interaction": payload.get("interaction") or {}}


# --- records -------------------------------------------------------------------------------------


def label_record(
    ticket: Any, decision: Any, payload_text: str | None, values: Mapping[str, Any], *, reveal: bool
) -> dict[str, Any]:
    """One label. `payload_text`: the decided revision's payload (None once purged); `values`: its
    personal values, when the store lets this login read them (to restore, or to mask in text)."""
    payload = json.loads(payload_text) if payload_text is not None else None
    seen = payload if payload is not None else json.loads(ticket.payload)  # the AI block survives a purge
    masker = Masker.of({**pii.split(seen)[1], **values})  # values in clear in an old payload, or kept apart
    ai = seen.get("ai") or {}
    mask = (lambda text: text) if reveal else masker.text
    if payload is None:
        model_input = None
    elif reveal:
        model_input = _model_input(pii.restore(payload, values))
    else:
        model_input = masker.model_input(payload)
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "source": ticket.source,
        "external_id": ticket.external_id,
        "workflow": ticket.workflow,
        "ticket_revision": decision.ticket_revision,
        "input": model_input,
        "exception": {
            "code": ticket.exception_code,
            "summary": mask((seen.get("exception") or {}).get("summary")),
        },
        "ai": {
            "model": ai.get("model"),
            "model_version": ai.get("model_version"),
            "prompt_version": ai.get("prompt_version"),
            "recommendation": ai.get("recommendation"),
            "confidence": ai.get("confidence"),
            "rationale": mask(ai.get("rationale")),
            "signals": ai.get("signals") or [],
        },
        "decision": {
            "action": decision.action,
            "reason_code": decision.reason_code,
            "note": mask(decision.note),
            "role": decision.role,
            "decided_at": to_rfc3339(decision.decided_at),
            "decision_id": decision.decision_id,
        },
        "pii": "revealed" if reveal else "masked",
    }
    if payload is None:
        record["input_note"] = "removed under the retention policy"
    return record


def csv_row(record: dict[str, Any]) -> list[str]:
    ai, decision = record["ai"], record["decision"]
    recommendation = ai.get("recommendation") or {}
    values = {
        "source": record["source"],
        "external_id": record["external_id"],
        "workflow": record["workflow"],
        "ticket_revision": record["ticket_revision"],
        "exception_code": record["exception"]["code"],
        "model": ai["model"],
        "model_version": ai["model_version"],
        "confidence": ai["confidence"],
        "recommended_action": recommendation.get("action"),
        "recommendation_label": recommendation.get("label"),
        "rationale": ai["rationale"],
        "action": decision["action"],
        "reason_code": decision["reason_code"],
        "note": decision["note"],
        "role": decision["role"],
        "decided_at": decision["decided_at"],
        "decision_id": decision["decision_id"],
        "input_json": json.dumps(record["input"], ensure_ascii=False) if record["input"] is not None else "",
        "pii": record["pii"],
    }
    return [csv_cell(values[name]) for name in CSV_FIELDS]


def iter_labels(store: Store, *, reveal: bool = False, batch: int = BATCH) -> Iterator[dict[str, Any]]:
    """A label per settled ticket, by ticket id, streamed a batch at a time."""
    after = 0
    judged = [str(Action.APPROVE), str(Action.REJECT)]
    while True:
        with (
            translate_errors(store.url),
            store.engine.connect().execution_options(**{READ_ONLY: True}) as conn,
        ):
            tickets = conn.execute(
                select(TICKETS)
                .where(TICKETS.c.id > after, TICKETS.c.status == str(TicketStatus.DECIDED))
                .order_by(TICKETS.c.id)
                .limit(batch)
            ).all()
            if not tickets:
                return
            standing: dict[int, list[Any]] = {}
            for d in conn.execute(
                select(DECISIONS)
                .where(
                    DECISIONS.c.ticket_id.in_([t.id for t in tickets]),
                    DECISIONS.c.status == str(DecisionStatus.FINAL),
                    DECISIONS.c.action.in_(judged),
                )
                .order_by(DECISIONS.c.ticket_id, DECISIONS.c.decided_at, DECISIONS.c.change_seq)
            ):
                standing.setdefault(d.ticket_id, []).append(d)
            # Settled: the standing decisions agree (a blind second review leaves two).
            settled = {
                t.id: (t, ds[-1])
                for t in tickets
                if (ds := standing.get(t.id)) and len({d.action for d in ds}) == 1
            }
            wanted = [(t.id, d.ticket_revision) for t, d in settled.values()]
            older = _older_payloads(
                conn,
                [(t.id, d.ticket_revision) for t, d in settled.values() if d.ticket_revision != t.revision],
            )
            personal = _personal_values(conn, wanted)
        for ticket, decision in settled.values():
            key = (ticket.id, decision.ticket_revision)
            payload_text = ticket.payload if decision.ticket_revision == ticket.revision else older.get(key)
            yield label_record(ticket, decision, payload_text, personal.get(key, {}), reveal=reveal)
        after = tickets[-1].id


def _pairs(table: Any, wanted: list[tuple[int, int]]) -> Any:
    return tuple_(table.c.ticket_id, table.c.revision).in_(wanted)


def _older_payloads(conn: Connection, wanted: list[tuple[int, int]]) -> dict[tuple[int, int], str | None]:
    if not wanted:
        return {}
    rows = conn.execute(
        select(REVISIONS.c.ticket_id, REVISIONS.c.revision, REVISIONS.c.payload).where(
            _pairs(REVISIONS, wanted)
        )
    )
    return {(r.ticket_id, r.revision): r.payload for r in rows}


def _personal_values(
    conn: Connection, wanted: list[tuple[int, int]]
) -> dict[tuple[int, int], dict[str, Any]]:
    """Personal values of these revisions, as far as this login may read them (on Postgres the
    database withholds them from roles that do not see personal data)."""
    if not wanted:
        return {}
    rows = conn.execute(
        select(PERSONAL.c.ticket_id, PERSONAL.c.revision, PERSONAL.c.fields).where(_pairs(PERSONAL, wanted))
    )
    return {(r.ticket_id, r.revision): json.loads(r.fields) for r in rows}


def write_labels(
    store: Store, out: TextIO, fmt: LabelFormat, *, reveal: bool = False, role: str = str(Role.REVIEWER)
) -> int:
    """Write every label; returns how many. Revealing personal data needs a role allowed to."""
    if fmt not in ("jsonl", "csv"):
        raise LabelsError(f"unknown label format {fmt!r} (jsonl or csv)")
    if reveal and not may_reveal(store, role):
        raise LabelsError(
            f"the store's setting does not show personal data to {role}: labels stay masked "
            f"({pii_access.load_policy(store).describe()})"
        )
    writer = csv.writer(out) if fmt == "csv" else None
    if writer is not None:
        writer.writerow(CSV_FIELDS)
    count = 0
    buffer = io.StringIO()
    for record in iter_labels(store, reveal=reveal):
        if writer is not None:
            writer.writerow(csv_row(record))
        else:
            buffer.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
            if buffer.tell() > 1 << 20:
                out.write(buffer.getvalue())
                buffer = io.StringIO()
        count += 1
    out.write(buffer.getvalue())
    out.flush()
    return count
