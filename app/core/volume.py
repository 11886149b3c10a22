"""The pipeline's processed volume: how many items it handled per workflow and day, automated or
not. It is the denominator of the exception rate (tickets ÷ items processed).

`signoff volume --store URL FILE` reads JSON Lines (`{"workflow": "lead_qualification",
"day": "2026-11-20", "items": 1840, "source": "crm-lead-agent"}`) or CSV with a header naming the
same fields; `source` is optional. Re-reporting a (workflow, day, source) replaces its number.
Bad lines never stop good ones: each gets one `FILE:LINE: field: message` error.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, BinaryIO

from sqlalchemy import Connection, insert, select, tuple_, update

from app.core.domain import utcnow
from app.core.store import Store, batched
from app.core.store_errors import translate_errors
from app.core.store_models import ProcessedVolume
from app.core.validation import FieldError, LineError

VOLUME = ProcessedVolume.__table__
WORKFLOW = re.compile(r"[a-z][a-z0-9_]{1,63}")
FIELDS = ("workflow", "day", "items", "source")
DEFAULT_SOURCE = "default"
MAX_ITEMS = 2**31 - 1


@dataclass(frozen=True)
class VolumeRow:
    workflow: str
    day: date
    items: int
    source: str = DEFAULT_SOURCE


@dataclass
class VolumeReport:
    lines: int = 0
    inserted: int = 0
    replaced: int = 0
    errors: list[LineError] = field(default_factory=list)

    def summary(self) -> str:
        noun = "line" if self.lines == 1 else "lines"
        return (
            f"{self.lines} {noun} read: {self.inserted} new, {self.replaced} replaced, "
            f"{len(self.errors)} rejected"
        )


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_record(record: Any) -> VolumeRow | FieldError:
    """One record, checked field by field."""
    if not isinstance(record, dict):
        return FieldError("$", "expected an object with workflow, day and items")
    unknown = sorted(set(record) - set(FIELDS))
    if unknown:
        return FieldError(unknown[0], "unknown field (expected workflow, day, items, source)")
    workflow = record.get("workflow")
    if not isinstance(workflow, str) or not WORKFLOW.fullmatch(workflow):
        return FieldError(
            "workflow", "a workflow name: lower-case letters, digits and _, starting with a letter"
        )
    try:
        day = date.fromisoformat(str(record.get("day")))
    except ValueError:
        return FieldError("day", "a day as YYYY-MM-DD")
    items = record.get("items")
    if isinstance(items, str) and items.strip().isdigit():
        items = int(items)  # CSV cells are text
    if isinstance(items, bool) or not isinstance(items, int) or not 0 <= items <= MAX_ITEMS:
        return FieldError("items", "a whole number of items, 0 or more")
    source = record.get("source") or DEFAULT_SOURCE
    if not isinstance(source, str) or len(source) > 100 or "\x00" in source:
        return FieldError("source", "a name of at most 100 characters")
    return VolumeRow(workflow, day, items, source)


def read_records(data: bytes) -> Iterator[tuple[int, Any]]:
    """(line, record) pairs of JSON Lines, or of CSV when the first non-blank line is not JSON."""
    text = data.decode("utf-8-sig")
    first = next((line.strip() for line in text.split("\n") if line.strip()), "")
    if first.startswith("{"):
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line, parse_constant=_no_constant)
            except ValueError as error:
                yield number, FieldError("$", f"not JSON: {error}")
        return
    reader = csv.DictReader(io.StringIO(text, newline=""))
    for record in reader:
        if None in record:
            yield reader.line_num, FieldError("$", "more cells than header fields")
            continue
        yield (
            reader.line_num,
            {k.strip(): v.strip() for k, v in record.items() if v is not None and v.strip()},
        )


def parse(data: bytes) -> tuple[list[VolumeRow], list[LineError], int]:
    rows: dict[tuple[str, date, str], VolumeRow] = {}
    errors: list[LineError] = []
    lines = 0
    for line, record in read_records(data):
        lines += 1
        parsed = record if isinstance(record, FieldError) else parse_record(record)
        if isinstance(parsed, FieldError):
            errors.append(LineError(line, parsed))
        else:
            rows[(parsed.workflow, parsed.day, parsed.source)] = parsed  # a later line wins
    return list(rows.values()), errors, lines


def store_volume(store: Store, rows: Iterable[VolumeRow], report: VolumeReport, batch: int = 1000) -> None:
    for chunk in batched(rows, batch):
        with translate_errors(store.url), store.engine.begin() as conn:
            _store_chunk(conn, chunk, report)


def _store_chunk(conn: Connection, chunk: list[VolumeRow], report: VolumeReport) -> None:
    key = tuple_(VOLUME.c.workflow, VOLUME.c.day, VOLUME.c.source)
    have = {
        (w, d if isinstance(d, date) else date.fromisoformat(str(d)), s)
        for w, d, s in conn.execute(
            select(VOLUME.c.workflow, VOLUME.c.day, VOLUME.c.source).where(
                key.in_([(r.workflow, r.day, r.source) for r in chunk])
            )
        )
    }
    now = utcnow()
    fresh = []
    for row in chunk:
        if (row.workflow, row.day, row.source) in have:
            conn.execute(
                update(VOLUME)
                .where(
                    VOLUME.c.workflow == row.workflow, VOLUME.c.day == row.day, VOLUME.c.source == row.source
                )
                .values(items=row.items, reported_at=now)
            )
            report.replaced += 1
        else:
            fresh.append({**vars(row), "reported_at": now})
    if fresh:
        conn.execute(insert(VOLUME), fresh)
        report.inserted += len(fresh)


def report_volume(store: Store, stream: BinaryIO) -> VolumeReport:
    """Read a volume file and store its valid lines; errors sorted by line."""
    rows, errors, lines = parse(stream.read())
    report = VolumeReport(lines=lines, errors=errors)
    store_volume(store, rows, report)
    return report
