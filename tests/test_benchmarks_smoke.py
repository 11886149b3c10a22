"""The benchmark code at tiny sizes, so it cannot rot. Timings are not asserted here (benchmarks
are not timed unit tests): only that every benchmark runs and reports a figure beside its target."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import generate, run

pytestmark = pytest.mark.slow


def test_every_benchmark_runs_at_tiny_size_and_reports_against_its_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGNOFF_BENCH_CACHE", str(tmp_path / "cache"))
    results = run.run(run.SIZES["tiny"], log=lambda _line: None)
    assert list(results) == [f"P{n}" for n in range(1, 11)]
    for pid, row in results.items():
        assert isinstance(row["target"], float), pid
        if row.get("skipped") == "skipped: no postgres":
            assert pid in ("P4", "P5")
            continue
        assert "error" not in (row.get("skipped") or ""), (pid, row.get("skipped"))
        assert isinstance(row["figure"], float | int) and row["figure"] > 0, (pid, row)
        assert isinstance(row["ok"], bool), pid
        if row["ratio"]:
            assert row["baseline_s"] > 0, pid
    assert results["P9"]["figure"] == 2  # A then 1: the registry's keys, counted
    assert "| P7 |" in run.table(results)


def test_generated_replica_rows_are_what_the_queue_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGNOFF_BENCH_CACHE", str(tmp_path / "cache"))
    from app.core.domain import QueueQuery
    from app.core.replica import Replica, replica_path

    home = generate.window_home(250, seed=3)
    replica = Replica.open(replica_path(home, generate.STORE_ID))
    try:
        assert 200 < replica.queue_count(QueueQuery()) <= 250  # escalations are not a reviewer's
        first = replica.queue_page(QueueQuery(sort="due"), None, 10)
        assert [r.due_at for r in first] == sorted(r.due_at for r in first)
        ticket = replica.ticket(first[0].id)
        assert ticket is not None and ticket.payload["schema"] == "signoff.ticket/1"
    finally:
        replica.close()
    assert generate.window_home(250, seed=3) == home  # cached: the second call builds nothing
