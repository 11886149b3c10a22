"""How the audit browser's queries scale: a replica log of N entries (default one million), then
the first page, a deep page, filtered pages, counts, the model-version ranking and a verify.

    .venv/bin/python benchmarks/audit_trail.py [--entries 1000000] [--keep FILE]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from app.core import audit, governance
from app.core.domain import to_rfc3339
from app.core.replica import Replica
from app.core.validation import canonical_json

ACTORS = [f"reviewer-{n:02d}" for n in range(40)]
WORKFLOWS = ["lead_qualification", "ask_amount", "donor_segmentation", "reactivation", "message_draft"]
VERSIONS = [f"{major}.{minor}.0" for major in range(1, 4) for minor in range(4)]


def fill(replica: Replica, entries: int, batch: int = 20000) -> None:
    """Write a valid chain of `entries` entries, as fast as the hashing allows."""
    rng = random.Random(1)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    prev, seq = audit.GENESIS_HASH, 0
    while seq < entries:
        rows: list[dict[str, Any]] = []
        for _ in range(min(batch, entries - seq)):
            seq += 1
            at = to_rfc3339(start + timedelta(seconds=seq * 60))
            action = rng.choice(("approve", "approve", "reject", "clarify"))
            decision = {
                "decision_id": f"d-{seq}",
                "external_id": f"t-{rng.randrange(200000):06d}",
                "workflow": rng.choice(WORKFLOWS),
                "action": action,
                "reason_code": "ai_correct" if action == "approve" else "stale_data",
                "note": None,
                "ai": {"model_version": rng.choice(VERSIONS)},
            }
            event = audit.AuditEvent.PII_REVEALED if seq % 97 == 0 else audit.AuditEvent.DECISION_RECORDED
            data = (
                {"decision": decision, "queue": "review"}
                if event == audit.AuditEvent.DECISION_RECORDED
                else {}
            )
            actor = rng.choice(ACTORS)
            payload = canonical_json(
                {"at": at, "actor": actor, "role": "reviewer", "event": event, "ticket_id": seq, "data": data}
            )
            row = {
                "client_id": replica.client_id,
                "seq": seq,
                "at": at,
                "actor": actor,
                "role": "reviewer",
                "event": event,
                "ticket_id": seq,
                **audit.facts(event, data),
                "payload": payload,
                "payload_sha256": audit.sha256_text(payload),
                "prev_hash": prev,
            }
            row["hash"] = prev = audit.row_hash(row)
            rows.append(row)
        with replica.engine.begin() as conn:
            conn.execute(insert(audit.AUDIT), rows)


def timed(name: str, work: Callable[[], Any]) -> Any:
    began = time.perf_counter()
    result = work()
    print(f"{name:<44} {1000 * (time.perf_counter() - began):9.1f} ms")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the replica at this path")
    args = parser.parse_args()
    path = args.keep or Path(tempfile.mkdtemp()) / "replica.sqlite3"
    existed = path.exists()
    replica = Replica.open(path)
    if not existed:
        timed(f"write {args.entries:,} chained entries", lambda: fill(replica, args.entries))
    trail = governance.replica_trail(replica)
    query = governance.AuditQuery()
    first = timed("first page (200, newest first)", lambda: trail.page(query))
    after = first[-1]
    for _ in range(2):
        after = trail.page(query, after)[-1]
    timed("a later page (keyset, after 600 rows)", lambda: trail.page(query, after))
    deep = governance.AuditQuery(until=datetime(2024, 6, 1, tzinfo=UTC))
    timed("first page of a date range", lambda: trail.page(deep))
    timed("first page, one reviewer", lambda: trail.page(governance.AuditQuery(actor="reviewer-07")))
    pii = governance.AuditQuery(event=audit.AuditEvent.PII_REVEALED)
    timed("first page, PII revealed", lambda: trail.page(pii))
    timed(
        "first page, a model version (rare filter)",
        lambda: trail.page(governance.AuditQuery(model_version="3.3.0")),
    )
    timed("count, everything", lambda: trail.count(query))
    timed("count, PII revealed", lambda: trail.count(pii))
    saved = governance.SAVED_QUERIES[2].build(datetime(2026, 1, 1, tzinfo=UTC))
    timed("ranking model versions by rejections", lambda: trail.rejections_by_model_version(saved))
    timed("filter choices", trail.choices)
    result = timed("verify the whole chain", replica.verify_audit)
    print(result.describe())
    replica.close()


if __name__ == "__main__":
    main()
