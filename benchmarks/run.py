"""Every performance target of issue 7 in one command: a table, and JSON in benchmarks/results/.

    .venv/bin/python -m benchmarks.run [--sizes tiny|small|full] [--only P1,P7] [--compare FILE]

Each figure stands next to its target and, where the target is a ratio, next to the raw baseline
measured in the same run on the same machine. Built stores and replicas are cached (see
benchmarks/generate.py), so only the first full run pays for making a million tickets.
Postgres rows (P4, P5) start a throwaway cluster as the tests do and say "skipped: no postgres"
when there is no server to start.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, update

from app.core.domain import Action, Role
from app.core.ingest import ingest_file
from app.core.replica import Replica
from app.core.store import Store
from app.core.store_ingest import ensure_workflows
from app.core.store_models import Counter, StoreTicket
from app.core.sync import Syncer
from benchmarks import generate, qt_probes

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Sizes:
    queue: int  # replica tickets for the window (P1, P2, P3, P10)
    decisions: int  # decisions pressed for P1
    pull: int  # P4
    push: int  # P5
    ingest: int  # P6
    audit: int  # P7
    export: int  # P8


SIZES = {
    "tiny": Sizes(queue=400, decisions=5, pull=300, push=50, ingest=300, audit=500, export=500),
    "small": Sizes(queue=10_000, decisions=30, pull=10_000, push=1000, ingest=10_000, audit=20_000,
                   export=20_000),
    "full": Sizes(queue=1_000_000, decisions=100, pull=100_000, push=10_000, ingest=100_000,
                  audit=1_000_000, export=1_000_000),
}

# id: (measure, target text, target, unit, higher is better, ratio against the baseline)
TARGETS: dict[str, tuple[str, str, float, str, bool, bool]] = {
    "P1": ("decision key → next ticket rendered (p95)", "≤ 16 ms", 16.0, "ms", False, False),
    "P2": ("process start → interactive window", "≤ 1.0 s", 1.0, "s", False, False),
    "P3": ("resident memory after scrolling the queue end to end", "≤ 150 MB", 150.0, "MB", False, False),
    "P4": ("pull tickets from Postgres into an empty replica", "≤ 1.3 × raw", 1.3, "×", False, True),
    "P5": ("push decisions to Postgres", "≤ 1.5 × raw", 1.5, "×", False, True),
    "P6": ("ingest JSONL lines with full validation", "≤ 3 × raw", 3.0, "×", False, True),
    "P7": ("audit chain verification", "≥ 300k entries/s", 300_000.0, "entries/s", True, False),
    "P8": ("export decisions to JSON Lines", "≤ 10 s", 10.0, "s", False, False),
    "P9": ("keystrokes per decision, reason included", "≤ 2", 2.0, "keys", False, False),
    "P10": ("queue filter / sort change → first rows (worst)", "≤ 100 ms", 100.0, "ms", False, False),
}


def clock(work: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def result(pid: str, figure: float, *, baseline: float | None = None, size: int | None = None,
           detail: Any = None) -> dict[str, Any]:
    measure, target_text, target, unit, higher, ratio = TARGETS[pid]
    ok = figure >= target if higher else figure <= target
    return {
        "id": pid,
        "measure": measure,
        "size": size,
        "figure": round(figure, 4),
        "unit": unit,
        "target": target,
        "target_text": target_text,
        "baseline_s": round(baseline, 4) if baseline is not None else None,
        "ratio": ratio,
        "ok": ok,
        "detail": detail,
    }


def skipped(pid: str, why: str) -> dict[str, Any]:
    measure, target_text, target, unit, _higher, _ratio = TARGETS[pid]
    return {"id": pid, "measure": measure, "figure": None, "unit": unit, "target": target,
            "target_text": target_text, "ok": None, "skipped": why}


# --- the window (each in a process of its own) --------------------------------------------------


def p1(sizes: Sizes, scratch: Path) -> dict[str, Any]:
    home = generate.fresh_copy(generate.window_home(sizes.queue), scratch / "p1-home")
    found = qt_probes.run_probe("p1", home, sizes.decisions)
    return result("P1", found["p95_ms"], size=sizes.queue, detail=found)


def p2(sizes: Sizes, scratch: Path) -> dict[str, Any]:
    found = qt_probes.run_probe("p2", generate.window_home(sizes.queue))
    return result("P2", found["median_s"], size=sizes.queue, detail=found)


def p3(sizes: Sizes, scratch: Path) -> dict[str, Any]:
    found = qt_probes.run_probe("p3", generate.window_home(sizes.queue))
    return result("P3", found["rss_mb"], size=sizes.queue, detail=found)


def p10(sizes: Sizes, scratch: Path) -> dict[str, Any]:
    found = qt_probes.run_probe("p10", generate.window_home(sizes.queue))
    return result("P10", found["max_ms"], size=sizes.queue, detail=found)


# --- Postgres ---------------------------------------------------------------------------------


@contextlib.contextmanager
def postgres() -> Iterator[Any]:
    """A throwaway cluster started the way the tests start theirs; None when there is no server."""
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        import postgres_fixtures as pg
    finally:
        sys.path.remove(str(ROOT / "tests"))
    bindir, _why = pg.find_pg_bindir()
    if bindir is None:
        yield None
        return
    server = pg.start_server(bindir)
    try:
        yield server
    finally:
        server.destroy()


def pg_store(server: Any, tickets: int) -> tuple[Store, str]:
    name = server.create_database()
    store = Store.initialize(server.url(name))
    with store.engine.begin() as conn:
        for rows in generate.store_rows(tickets, 7):
            conn.execute(insert(StoreTicket.__table__), rows)
        ensure_workflows(conn, set(generate.WORKFLOWS), datetime.now(UTC))
        counters = Counter.__table__
        conn.execute(update(counters).where(counters.c.name == "change").values(value=tickets))
    return store, server.admin_dsn(name)


_TICKET_COLUMNS = (
    "id, source, external_id, workflow, created_at, updated_at, status, queue, priority, due_at, "
    "confidence, exception_code, risk_tier, title, revision, content_hash, payload, change_seq"
)


def p4(sizes: Sizes, scratch: Path, server: Any) -> dict[str, Any]:
    import psycopg

    store, dsn = pg_store(server, sizes.pull)
    try:
        replica = Replica.open(scratch / "p4.sqlite3", store_id=store.store_id)
        syncer = Syncer(replica, store, actor="bench", role=Role.REVIEWER)
        seconds, (pulled, _decisions) = clock(syncer.pull)
        replica.close()
        assert pulled == sizes.pull, pulled
        target = scratch / "p4-raw.sqlite3"
        Replica.open(target).close()  # the same table and indexes, filled raw

        def raw() -> int:
            query = f"COPY (SELECT {_TICKET_COLUMNS} FROM tickets ORDER BY change_seq) TO STDOUT"
            with psycopg.connect(dsn) as pg, pg.cursor() as cur, cur.copy(query) as copy:
                rows = [(*row[:6], row[6], row[6], *row[7:]) for row in copy.rows()]
            lite = sqlite3.connect(target)
            with lite:
                lite.executemany(
                    "INSERT INTO tickets (id, source, external_id, workflow, created_at, updated_at, status, "
                    "store_status, queue, priority, due_at, confidence, exception_code, risk_tier, title, "
                    "revision, content_hash, payload, change_seq, search_text) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,'')",
                    rows,
                )
            lite.close()
            return len(rows)

        baseline, copied = clock(raw)
        assert copied == sizes.pull
    finally:
        store.close()
    return result("P4", seconds / baseline, baseline=baseline, size=sizes.pull,
                  detail={"pull_s": seconds, "raw_s": baseline})


def p5(sizes: Sizes, scratch: Path, server: Any) -> dict[str, Any]:
    import psycopg

    store, dsn = pg_store(server, sizes.push)
    try:
        replica = Replica.open(scratch / "p5.sqlite3", store_id=store.store_id)
        syncer = Syncer(replica, store, actor="bench", role=Role.REVIEWER)
        syncer.pull()
        for ticket_id in range(1, sizes.push + 1):
            replica.record_decision(
                ticket_id, Action.APPROVE, "ai_correct", reviewer="bench", role=Role.REVIEWER
            )
        seconds, (pushed, _refused) = clock(syncer.push)
        replica.close()
        assert pushed == sizes.push, pushed
        with psycopg.connect(dsn) as pg:
            pg.execute("CREATE TABLE raw_decisions (LIKE decisions INCLUDING ALL)")
            rows = pg.execute("SELECT * FROM decisions").fetchall()
            marks = ",".join(["%s"] * len(rows[0]))
            pg.commit()

            def raw() -> None:
                with pg.cursor() as cur:
                    cur.executemany(f"INSERT INTO raw_decisions VALUES ({marks})", rows)
                pg.commit()

            baseline, _ = clock(raw)
    finally:
        store.close()
    return result("P5", seconds / baseline, baseline=baseline, size=sizes.push,
                  detail={"push_s": seconds, "raw_s": baseline})


# --- the rest -----------------------------------------------------------------------------------


def p6(sizes: Sizes, scratch: Path) -> dict[str, Any]:
    path = generate.jsonl_file(sizes.ingest)
    store = Store.initialize(f"sqlite:///{scratch / 'p6.sqlite3'}")
    try:
        with path.open("rb") as stream:
            seconds, report = clock(lambda: ingest_file(store, stream))
    finally:
        store.close()
    assert report.outcome.inserted == sizes.ingest, report.summary()
    raw_store = Store.initialize(f"sqlite:///{scratch / 'p6-raw.sqlite3'}")
    raw_store.close()

    def raw() -> None:
        rows = []
        now = datetime.now(UTC).isoformat()
        with path.open("rb") as stream:
            for number, line in enumerate(stream, start=1):
                t = json.loads(line)
                rows.append((number, t["source"], t["external_id"], t["workflow"], t["created_at"], now,
                             "open", "review", 50, None, t["ai"]["confidence"], t["exception"]["code"],
                             None, t["exception"]["summary"], 1, "", line.decode(), number))
        lite = sqlite3.connect(scratch / "p6-raw.sqlite3")
        with lite:
            lite.executemany(f"INSERT INTO tickets ({_TICKET_COLUMNS}) VALUES ({','.join('?' * 18)})", rows)
        lite.close()

    baseline, _ = clock(raw)
    return result("P6", seconds / baseline, baseline=baseline, size=sizes.ingest,
                  detail={"ingest_s": seconds, "raw_s": baseline, "lines_per_s": sizes.ingest / seconds})


def audit_replica(entries: int) -> Path:
    from benchmarks.audit_trail import fill

    path = generate.cache_dir() / f"audit-{entries}.sqlite3"
    done = path.with_suffix(".built")
    if not done.exists():
        path.unlink(missing_ok=True)
        replica = Replica.open(path)
        fill(replica, entries)
        replica.close()
        done.write_text("ok")
    return path


def p7(sizes: Sizes, scratch: Path) -> dict[str, Any]:
    replica = Replica.open(audit_replica(sizes.audit))
    try:
        replica.verify_audit()  # warm the page cache: the figure is the checking, not the disk
        seconds, verdict = clock(replica.verify_audit)
    finally:
        replica.close()
    assert verdict.ok and verdict.entries == sizes.audit, verdict.describe()
    return result("P7", sizes.audit / seconds, size=sizes.audit, detail={"seconds": seconds})


def decisions_store(count: int) -> Path:
    from benchmarks.metrics import fill

    path = generate.cache_dir() / f"decisions-{count}.sqlite3"
    done = path.with_suffix(".built")
    if not done.exists():
        path.unlink(missing_ok=True)
        store = Store.initialize(f"sqlite:///{path}")
        fill(store, count)
        store.close()
        done.write_text("ok")
    return path


def p8(sizes: Sizes, scratch: Path) -> dict[str, Any]:
    """The real command, `signoff export decisions`, in a process of its own."""
    store = decisions_store(sizes.export)
    out = scratch / "decisions.jsonl"
    env = {**os.environ, "SIGNOFF_HOME": str(scratch / "p8-home")}
    url = f"sqlite:///{store}"
    command = [sys.executable, "-m", "app", "export", "decisions", "--store", url, "-o", str(out)]
    seconds, done = clock(lambda: subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT))
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    with out.open("rb") as lines:
        exported = sum(1 for _ in lines)
    assert exported == sizes.export, exported
    return result("P8", seconds, size=sizes.export, detail={"bytes": out.stat().st_size})


def p9(sizes: Sizes, scratch: Path) -> dict[str, Any]:
    """From the action registry: the decide key, then the reason's digit (each a single chord)."""
    from app.ui.actions import SPECS, ActionId

    def chords(action: ActionId) -> int:
        return min(len(keys.split(", ")) for keys in SPECS[action].keys)

    per_action = {
        str(action): chords(action) + chords(ActionId.REASON_1)
        for action in (ActionId.APPROVE, ActionId.REJECT)
    }
    return result("P9", max(per_action.values()), detail=per_action)


PLAIN = {"P1": p1, "P2": p2, "P3": p3, "P6": p6, "P7": p7, "P8": p8, "P9": p9, "P10": p10}
ON_POSTGRES = {"P4": p4, "P5": p5}


def run(sizes: Sizes, only: set[str] | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the benchmarks (all, or `only`); returns {id: result} in id order."""
    wanted = [pid for pid in TARGETS if only is None or pid in only]
    found: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="signoff-bench-") as folder:
        scratch = Path(folder)
        for pid in wanted:
            if pid in PLAIN:
                log(f"{pid} …")
                found[pid] = _guarded(pid, lambda f=PLAIN[pid]: f(sizes, scratch))
        postgres_wanted = [pid for pid in wanted if pid in ON_POSTGRES]
        if postgres_wanted:
            with postgres() as server:
                for pid in postgres_wanted:
                    log(f"{pid} …")
                    if server is None:
                        found[pid] = skipped(pid, "skipped: no postgres")
                    else:
                        found[pid] = _guarded(pid, lambda f=ON_POSTGRES[pid]: f(sizes, scratch, server))
    return {pid: found[pid] for pid in wanted}


def _guarded(pid: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return work()
    except Exception as error:  # one broken benchmark must not hide the others' figures
        failed = skipped(pid, f"error: {type(error).__name__}: {error}"[:500])
        failed["ok"] = False
        return failed


def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    names = [line.split(":", 1)[1].strip() for line in cpu.splitlines() if line.startswith("Model name")]
    model = names[0] if names else ""
    return {
        "host": socket.gethostname(),
        "cpus": os.cpu_count(),
        "cpu": model or platform.processor(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _figure(row: dict[str, Any]) -> str:
    if row.get("figure") is None:
        return "—"
    value, unit = row["figure"], row["unit"]
    if unit == "×":
        return f"{value:.2f} ×"
    if unit == "entries/s":
        return f"{value / 1000:.0f}k/s"
    return f"{value:,.1f} {unit}" if value < 1000 else f"{value:,.0f} {unit}"


def table(results: dict[str, Any], compare: dict[str, Any] | None = None) -> str:
    lines = [
        "| id | measure | size | figure | target | raw baseline | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for pid, row in results.items():
        baseline = f"{row['baseline_s']:.2f} s" if row.get("baseline_s") is not None else ""
        verdict = row.get("skipped") or ("pass" if row["ok"] else "MISS")
        if compare and pid in compare and compare[pid].get("figure") and row.get("figure"):
            verdict += f" (was {_figure(compare[pid])})"
        size = f"{row['size']:,}" if row.get("size") else ""
        cells = (pid, row["measure"], size, _figure(row), row["target_text"], baseline, verdict)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", choices=sorted(SIZES), default="small")
    parser.add_argument("--only", help="comma-separated ids, e.g. P1,P7")
    parser.add_argument("--compare", type=Path, help="an earlier results JSON to show next to this run")
    args = parser.parse_args(argv)
    only = {p.strip().upper() for p in args.only.split(",")} if args.only else None
    sizes = SIZES[args.sizes]
    started = time.perf_counter()
    results = run(sizes, only, log=lambda line: print(line, file=sys.stderr, flush=True))
    compare = json.loads(args.compare.read_text())["results"] if args.compare else None
    print(table(results, compare))
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "sizes": args.sizes,
        "machine": machine(),
        "seconds": round(time.perf_counter() - started, 1),
        "results": results,
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{datetime.now().strftime('%Y-%m-%d')}-{socket.gethostname()}-{args.sizes}.json"
    if only and out.exists():  # a partial rerun updates its rows of today's file, keeps the others
        earlier = json.loads(out.read_text())["results"]
        merged = {**earlier, **results}
        report["results"] = {pid: merged[pid] for pid in TARGETS if pid in merged}
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"\n{report['machine']['cpus']} CPUs, {report['machine']['cpu']}; {report['seconds']} s; {out}")
    return 0 if all(r.get("ok") is not False for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
