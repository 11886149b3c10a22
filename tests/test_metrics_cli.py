"""`signoff metrics`, `signoff volume` and `signoff export labels` as a pipeline or a monitoring
job would run them: exit codes, standard output that parses, errors that name the line."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import sqlite_url
from metrics_history import LEAD, NOW, T0, dashboard_store, known_history

from app.cli import EXIT_OK, EXIT_REJECTED, EXIT_USAGE, main
from app.core.metrics.report import build_report
from app.core.settings import Settings
from app.core.store import Store


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    url = sqlite_url(tmp_path)
    store = Store.initialize(url)
    known_history(store)
    store.close()
    yield url


def set_role(home: Path, role: str) -> None:
    settings = Settings.load(home)
    settings.role = role
    settings.reviewer = "root" if role == "admin" else "alice"
    settings.save(home)


def test_metrics_json_is_the_report(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, out, _ = run(capsys, "metrics", "--store", url, "--json", "--until", "2026-03-04")
    assert code == EXIT_OK
    printed = json.loads(out)
    assert printed["schema"] == "signoff.metrics/1"
    assert printed["range"]["to"] == "2026-03-05T00:00:00.000Z"  # the --until day is included
    store = Store.open(url)
    try:
        expected = build_report(store, printed_filter(printed), now=NOW)
    finally:
        store.close()
    for key in ("tickets", "override_rate", "review_latency_hours", "exception_rate", "calibration"):
        assert printed[key] == expected[key]
    assert printed["reviewers"] is None  # this installation is a reviewer's


def printed_filter(report: dict) -> object:
    from app.core.domain import parse_rfc3339
    from app.core.metrics.query import MetricsFilter

    return MetricsFilter(until=parse_rfc3339(report["filters"]["until"]))


def test_metrics_text_and_filters(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, out, _ = run(capsys, "metrics", "--store", url, "--workflow", LEAD, "--model-version", "v1")
    assert code == EXIT_OK
    assert "override rate: 37.5% (3 of 8)" in out
    assert "(8 tickets, 8 reviewed, 8 settled)" in out
    code, _, err = run(capsys, "metrics", "--store", url, "--since", "March 2nd")
    assert code == EXIT_USAGE and "YYYY-MM-DD" in err


def test_per_reviewer_figures_for_an_administrator(
    capsys: pytest.CaptureFixture[str], url: str, home: Path
) -> None:
    set_role(home, "admin")
    printed = json.loads(run(capsys, "metrics", "--store", url, "--json")[1])
    assert {r["reviewer"] for r in printed["reviewers"]} == {"alice", "bob", "erin"}


def test_metrics_json_has_every_figure_of_the_issue(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    """Issue 6, item 7: everything the dashboard shows, for pipelines and monitoring, on a month
    with every kind of figure in it (drift, shadow mode, blind second reviews)."""
    dashboard_store(tmp_path / "month.sqlite3").close()
    set_role(home, "admin")
    code, out, _ = run(capsys, "metrics", "--store", f"sqlite:///{tmp_path / 'month.sqlite3'}", "--json")
    assert code == EXIT_OK
    report = json.loads(out)
    for name in ("exception_rate", "override_rate", "first_pass_accuracy"):
        assert 0 < report[name]["value"] < 1 and report[name]["series"], name
    for name in ("escalation_rate", "clarification_rate"):
        assert 0 < report[name]["value"] < 1 and report[name]["series"], name
    for name in ("review_latency_hours", "escalation_resolution_hours"):
        assert 0 < report[name]["p50"] <= report[name]["p90"], name
    assert 0 < report["sla"]["attainment"] < 1 and report["sla"]["breaches"] > 0
    assert report["reason_codes"]["totals"] and report["reason_codes"]["series"]
    people = {r["reviewer"]: r for r in report["reviewers"]}  # throughput and agreement
    assert len(people) >= 4 and all(r["decisions"] and r["per_active_day"] for r in people.values())
    assert any(r["agreed_with_peer"]["of"] for r in people.values())
    for entry in report["calibration"]:
        assert entry["n"] == sum(band["n"] for band in entry["bands"])
        assert entry["advice"]["target"] == 0.95 and "sample" in entry["advice"]
    assert {a["kind"] for a in report["drift"]["alerts"]} >= {"new_exception_code", "override_rising"}
    assert report["agreement"]["kappa"] is not None and report["agreement"]["by_pair"]
    (shadow,) = report["shadow"]
    assert shadow["workflow"] == "donor_segmentation" and shadow["bands"]
    assert {s["workflow"]: s["shadow_mode"] for s in report["settings"]} == {"donor_segmentation": True}


def test_workflow_settings_need_an_administrator(
    capsys: pytest.CaptureFixture[str], url: str, home: Path
) -> None:
    code, _, err = run(capsys, "metrics", "--store", url, "--workflow", LEAD, "--set-shadow", "on")
    assert code == EXIT_REJECTED and "administrator" in err
    code, _, err = run(capsys, "metrics", "--store", url, "--set-shadow", "on")
    assert code == EXIT_USAGE and "--workflow" in err
    set_role(home, "admin")
    code, out, _ = run(
        capsys, "metrics", "--store", url, "--json", "--workflow", LEAD,
        "--set-shadow", "on", "--set-second-review-share", "0.1",
    )  # fmt: skip
    assert code == EXIT_OK
    (setting,) = json.loads(out)["settings"]  # standard output stays pure JSON
    assert (setting["workflow"], setting["shadow_mode"], setting["second_review_share"]) == (LEAD, True, 0.1)
    assert setting["updated_by"] == "root"


def test_volume_file_jsonl_and_csv(capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path) -> None:
    lines = [
        {"workflow": LEAD, "day": "2026-03-02", "items": 400, "source": "crm"},
        {"workflow": LEAD, "day": "2026-03-02", "items": 100},
        {"workflow": "Bad Name", "day": "2026-03-02", "items": 1},
        {"workflow": LEAD, "day": "2026-03-32", "items": 1},
        {"workflow": LEAD, "day": "2026-03-03", "items": -4},
        {"workflow": LEAD, "day": "2026-03-03", "items": 5, "extra": 1},
    ]
    jsonl = tmp_path / "volume.jsonl"
    jsonl.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n", encoding="utf-8")
    code, out, err = run(capsys, "volume", "--store", url, str(jsonl))
    assert code == EXIT_REJECTED
    assert f"{jsonl}: 7 lines read: 1 new, 1 replaced, 5 rejected" in out
    errors = err.strip().split("\n")
    assert [e.split(": ")[1] for e in errors] == ["workflow", "day", "items", "extra", "$"]
    assert errors[0].startswith(f"{jsonl}:3: workflow: ")
    table = tmp_path / "volume.csv"
    with table.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["workflow", "day", "items"])
        writer.writerow([LEAD, "2026-03-02", "120"])
    code, out, _ = run(capsys, "volume", "--store", url, str(table))
    assert code == EXIT_OK and "1 new, 0 replaced" not in out and "0 new, 1 replaced" in out
    # The known history reported 220 for (lead, 2 March, default): now 120, plus 400 from crm.
    rate = json.loads(run(capsys, "metrics", "--store", url, "--json")[1])["exception_rate"]
    assert (rate["tickets"], rate["items"]) == (11, 520)


def test_export_labels(capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path, home: Path) -> None:
    target = tmp_path / "labels.csv"
    code, _, err = run(capsys, "export", "labels", "--store", url, "--format", "csv", "-o", str(target))
    assert code == EXIT_OK and "exported 9 labels" in err and "masked" in err
    with target.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 9 and {r["pii"] for r in rows} == {"masked"}
    code, _, err = run(capsys, "export", "labels", "--store", url, "--reveal-pii")
    assert code == EXIT_REJECTED and "personal data" in err
    set_role(home, "admin")
    code, out, _ = run(capsys, "export", "labels", "--store", url, "--reveal-pii")
    assert code == EXIT_OK
    labels = [json.loads(line) for line in out.strip().split("\n")]
    assert {label["pii"] for label in labels} == {"revealed"}
    assert labels[0]["input"]["subject"]["display_name"] == "Priya Raman"
    assert T0 < NOW
