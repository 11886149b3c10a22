"""How the metrics scale: a store of N decided tickets (default one million), filled straight
into its tables, then the whole report, a filtered one, and the labels export.

    .venv/bin/python benchmarks/metrics.py [--tickets 1000000] [--keep FILE]

Timings only: the targets belong here, not in the unit tests.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from app.core.labels import write_labels
from app.core.metrics.query import MetricsFilter
from app.core.metrics.report import build_report
from app.core.store import Store
from app.core.store_models import StoreDecision, StoreTicket
from app.core.validation import canonical_json

WORKFLOWS = ["lead_qualification", "ask_amount", "donor_segmentation", "reactivation", "message_draft"]
REVIEWERS = [f"reviewer-{n:02d}" for n in range(40)]
VERSIONS = ["3.1.0", "3.2.0", "3.3.0"]
END = datetime(2026, 6, 1, tzinfo=UTC)


def fill(store: Store, tickets: int, batch: int = 20000) -> None:
    """Tickets over 180 days, each decided once (approve or reject by confidence)."""
    rng = random.Random(1)
    payload = canonical_json(
        {"ai": {"model_version": "3.2.0"}, "subject": {}, "interaction": {"messages": []}}
    )
    seq = 0
    with store.engine.begin() as conn:
        for start in range(0, tickets, batch):
            ticket_rows: list[dict[str, Any]] = []
            decision_rows: list[dict[str, Any]] = []
            for number in range(start + 1, min(tickets, start + batch) + 1):
                created = END - timedelta(seconds=rng.randrange(180 * 86400))
                confidence = round(rng.uniform(0.3, 1.0), 3)
                workflow = rng.choice(WORKFLOWS)
                seq += 2
                ticket_rows.append(
                    {
                        "id": number,
                        "source": "bench",
                        "external_id": f"t-{number}",
                        "workflow": workflow,
                        "created_at": created,
                        "updated_at": created,
                        "status": "decided",
                        "queue": "review",
                        "priority": 50,
                        "due_at": created + timedelta(hours=24),
                        "confidence": confidence,
                        "exception_code": rng.choice(("low_confidence", "missing_field", "policy_flag")),
                        "risk_tier": None,
                        "title": "bench",
                        "revision": 1,
                        "content_hash": f"{number:064d}",
                        "payload": payload,
                        "change_seq": seq - 1,
                    }
                )
                approve = rng.random() < confidence
                decided = created + timedelta(minutes=rng.randrange(5, 3000))
                ai = {"model": "m", "model_version": rng.choice(VERSIONS), "confidence": confidence}
                decision_rows.append(
                    {
                        "decision_id": f"d-{number}",
                        "ticket_id": number,
                        "source": "bench",
                        "external_id": f"t-{number}",
                        "workflow": workflow,
                        "action": "approve" if approve else "reject",
                        "reason_code": "ai_correct" if approve else "wrong_segment",
                        "note": None,
                        "reviewer": rng.choice(REVIEWERS),
                        "role": "reviewer",
                        "decided_at": decided,
                        "client_id": "bench",
                        "ai": canonical_json({**ai, "recommended_action": "approve"}),
                        "status": "final",
                        "ticket_revision": 1,
                        "supersedes": None,
                        "received_at": decided,
                        "change_seq": seq,
                    }
                )
            conn.execute(insert(StoreTicket.__table__), ticket_rows)
            conn.execute(insert(StoreDecision.__table__), decision_rows)


def timed(label: str, fn: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = fn()
    print(f"{label:<48} {time.perf_counter() - started:8.2f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--keep", help="store file to create (default: a temporary one)")
    args = parser.parse_args()
    path = Path(args.keep) if args.keep else Path(tempfile.mkdtemp()) / "metrics.sqlite3"
    store = Store.initialize(f"sqlite:///{path}")
    try:
        timed(f"fill {args.tickets:,} decided tickets", lambda: fill(store, args.tickets))
        report = timed("report, everything", lambda: build_report(store, now=END, role="admin"))
        print(f"  {report['tickets']:,} tickets, {len(json.dumps(report)) // 1024} KB of JSON")
        last_month = MetricsFilter(workflow="ask_amount", since=END - timedelta(days=30), until=END)
        timed("report, one workflow, last 30 days", lambda: build_report(store, last_month, now=END))
        timed(
            "report, one model version",
            lambda: build_report(store, MetricsFilter(model_version="3.2.0"), now=END),
        )
        timed("labels export, JSON Lines", lambda: write_labels(store, io.StringIO(), "jsonl"))
    finally:
        store.close()


if __name__ == "__main__":
    main()
