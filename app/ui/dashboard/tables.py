"""Each chart's figures as a table (headers, rows of text): what the "Table" toggle shows, and
what a screen reader or a copy-paste gets. Pure functions of the report; no Qt."""

from __future__ import annotations

from typing import Any

from app.core.metrics.summary import hours_text, percent

Table = tuple[list[str], list[list[str]]]


def _n(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def exception_rate(report: dict[str, Any]) -> Table:
    rows = [
        [
            p["bucket"],
            _n(p["tickets"]),
            _n(p["items"]) if p["items"] else "not reported",
            percent(p["value"], 2),
        ]
        for p in report["exception_rate"]["series"]
    ]
    return ["Period", "Tickets", "Items processed", "Exception rate"], rows


def outcomes(report: dict[str, Any]) -> Table:
    rows = []
    for override, first in zip(
        report["override_rate"]["series"], report["first_pass_accuracy"]["series"], strict=True
    ):
        rows.append(
            [
                override["bucket"],
                _n(override["of"]),
                _n(override["count"]),
                percent(override["value"]),
                _n(first["count"]),
                percent(first["value"]),
            ]
        )
    headers = [
        "Period",
        "Settled",
        "Overridden",
        "Override rate",
        "Approved as proposed",
        "First-pass accuracy",
    ]
    return headers, rows


def durations(figure: dict[str, Any]) -> Table:
    rows = [[p["bucket"], _n(p["n"]), hours_text(p["p50"]), hours_text(p["p90"])] for p in figure["series"]]
    return ["Period", "Tickets", "p50", "p90"], rows


def sla(report: dict[str, Any]) -> Table:
    rows = [
        [
            p["bucket"],
            _n(p["met"]),
            _n(p["late"]),
            _n(p["open_breaches"]),
            _n(p["pending"]),
            percent(p["attainment"]),
        ]
        for p in report["sla"]["series"]
    ]
    return ["Period", "In time", "Late", "Overdue, open", "Not due yet", "Attainment"], rows


def escalations(report: dict[str, Any]) -> Table:
    rows = []
    for esc, clar in zip(
        report["escalation_rate"]["series"], report["clarification_rate"]["series"], strict=True
    ):
        rows.append(
            [
                esc["bucket"],
                _n(esc["of"]),
                _n(esc["count"]),
                percent(esc["value"]),
                _n(clar["count"]),
                percent(clar["value"]),
            ]
        )
    return ["Period", "Reviewed", "Escalated", "Escalation rate", "Clarified", "Clarification rate"], rows


def reasons(report: dict[str, Any]) -> Table:
    codes = list(report["reason_codes"]["totals"])
    rows = [
        [p["bucket"], *(_n(p["counts"].get(code, 0)) for code in codes)]
        for p in report["reason_codes"]["series"]
    ]
    rows.append(["All", *(_n(n) for n in report["reason_codes"]["totals"].values())])
    return ["Period", *codes], rows


def bands(entry: dict[str, Any]) -> Table:
    rows = []
    for band in entry["bands"]:
        ci = band["ci"]
        rows.append(
            [
                f"{band['low']:.1f}–{band['high']:.1f}",
                _n(band["n"]),
                _n(band["approved"]),
                percent(band["rate"]),
                f"{percent(ci[0])} – {percent(ci[1])}" if ci else "—",
            ]
        )
    return ["Confidence", "Settled", "Approved", "Approval rate", "95% interval"], rows


def agreement(report: dict[str, Any]) -> Table:
    rows = [
        [w["workflow"], _n(w["n"]), _n(w["agreed"]), percent(w["agreement"]), _kappa(w["kappa"])]
        for w in report["agreement"]["by_workflow"]
    ]
    rows += [
        [" & ".join(p["reviewers"]), _n(p["n"]), _n(p["agreed"]), percent(p["agreement"]), _kappa(p["kappa"])]
        for p in report["agreement"]["by_pair"]
    ]
    return ["Workflow or reviewer pair", "Pairs", "Agreed", "Agreement", "Cohen's kappa"], rows


def _kappa(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def reviewers(report: dict[str, Any]) -> Table:
    rows = [
        [
            r["reviewer"],
            _n(r["decisions"]),
            _n(r["active_days"]),
            "—" if r["per_active_day"] is None else f"{r['per_active_day']:.1f}",
            f"{percent(r['agreed_with_ai']['value'])} of {r['agreed_with_ai']['of']:,}",
            f"{percent(r['agreed_with_peer']['value'])} of {r['agreed_with_peer']['of']:,}",
        ]
        for r in report["reviewers"] or []
    ]
    headers = [
        "Reviewer",
        "Decisions",
        "Active days",
        "Per active day",
        "Approved AI proposal",
        "Agreed blind",
    ]
    return headers, rows


def drift(report: dict[str, Any]) -> Table:
    rows = []
    for w in report["drift"]["workflows"]:
        codes = ", ".join(c["code"] for c in w["new_exception_codes"]) or "—"
        override = w["override"]
        rows.append(
            [
                w["workflow"],
                f"{w['tickets']['window']:,} / {w['tickets']['reference']:,}",
                "—" if w["psi"] is None else f"{w['psi']:.3f}",
                codes,
                f"{percent(override['window']['value'])} / {percent(override['reference']['value'])}",
            ]
        )
    return [
        "Workflow",
        "Tickets (week / reference)",
        "Confidence PSI",
        "New exception codes",
        "Override (week / ref.)",
    ], rows
