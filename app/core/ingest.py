"""Ingest a JSON Lines file: validate every line, store the valid tickets, report the rest."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from app.core.store import IngestOutcome, Store
from app.core.validation import FieldError, LineError, ValidTicket, read_jsonl


@dataclass
class IngestReport:
    lines: int = 0
    outcome: IngestOutcome = field(default_factory=IngestOutcome)
    errors: list[LineError] = field(default_factory=list)

    def summary(self) -> str:
        o = self.outcome
        noun = "ticket" if self.lines == 1 else "tickets"
        return (
            f"{self.lines} {noun} read: {o.inserted} new, {o.updated} updated, "
            f"{o.unchanged} unchanged, {len(self.errors)} rejected"
        )


def ingest_file(store: Store, stream: BinaryIO, *, batch_size: int = 2000) -> IngestReport:
    """Bad lines never stop good ones; errors come back sorted by line."""
    report = IngestReport()

    def valid() -> Iterator[tuple[int, dict[str, Any]]]:
        for item in read_jsonl(stream):
            report.lines += 1
            if isinstance(item, ValidTicket):
                yield item.line, item.ticket
            else:
                report.errors.append(item)

    report.outcome = store.ingest(valid(), batch_size=batch_size)
    report.errors.extend(
        LineError(line=line, error=FieldError(path=path, message=message))
        for line, path, message in report.outcome.refused
    )
    report.errors.sort(key=lambda e: e.line)
    return report
