"""The report in a few lines of plain text (what `signoff metrics` prints without --json)."""

from __future__ import annotations

from typing import Any


def percent(value: float | None, places: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{places}f}%"


def hours_text(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 60:.0f} min" if value < 1 else f"{value:.1f} h"


def _rate(name: str, rate: dict[str, Any]) -> str:
    return f"{name}: {percent(rate['value'])} ({rate['count']:,} of {rate['of']:,})"


def describe(report: dict[str, Any]) -> list[str]:
    exceptions = report["exception_rate"]
    latency = report["review_latency_hours"]
    resolution = report["escalation_resolution_hours"]
    sla = report["sla"]
    agreement = report["agreement"]
    lines = [
        f"range: {report['range']['from']} to {report['range']['to']} "
        f"({report['tickets']:,} tickets, {report['reviewed']:,} reviewed, {report['settled']:,} settled)",
        f"exception rate: {percent(exceptions['value'], 2)} ({exceptions['tickets']:,} tickets of "
        f"{exceptions['items']:,} items processed; {exceptions['tickets_without_volume']:,} on days "
        "without a reported volume)",
        _rate("override rate", report["override_rate"]),
        _rate("first-pass accuracy", report["first_pass_accuracy"]),
        f"review latency: p50 {hours_text(latency['p50'])}, p90 {hours_text(latency['p90'])} "
        f"(n={latency['n']:,})",
        f"escalation resolution: p50 {hours_text(resolution['p50'])}, p90 {hours_text(resolution['p90'])} "
        f"(n={resolution['n']:,})",
        f"SLA attainment: {percent(sla['attainment'])} ({sla['met']:,} of {sla['of']:,}; "
        f"{sla['breaches']:,} breaches, {sla['open_breaches']:,} still open)",
        _rate("escalation rate", report["escalation_rate"]),
        _rate("clarification rate", report["clarification_rate"]),
        f"blind second reviews: {agreement['n']:,} closed, {agreement['pending']:,} open, "
        f"kappa {agreement['kappa'] if agreement['kappa'] is not None else '—'}",
    ]
    for entry in report["calibration"]:
        advice = entry["advice"]
        head = f"calibration {entry['workflow']} {entry['model_version']} (n={entry['n']:,}): "
        if advice["refused"]:
            lines.append(head + advice["refused"])
        else:
            lines.append(
                head + f"auto-approve from {advice['threshold']:.2f} for {percent(advice['target'], 0)} "
                f"precision (observed {percent(advice['precision'])}, {advice['auto_approved']:,} tickets)"
            )
    alerts = report["drift"]["alerts"]
    lines.append(f"drift alerts: {len(alerts)}")
    lines.extend(f"  {a['severity']}: {a['workflow']}: {a['message']}" for a in alerts)
    return lines
