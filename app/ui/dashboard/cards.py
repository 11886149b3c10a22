"""Filling the time-series cards from a report: chart, subtitle (what is counted, from how many)
and table. One function per card; each says plainly when there is nothing to draw."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from app.core.metrics.summary import hours_text, percent
from app.ui.dashboard import tables
from app.ui.dashboard.card import ChartCard
from app.ui.dashboard.charts import Line, bar_chart, time_chart

TOP_REASONS = 6
MAX_DAY_BARS = 16
NO_TICKETS = "No tickets in this range."


def _values(figure: dict[str, Any], key: str = "value") -> list[float | None]:
    return [point[key] for point in figure["series"]]


def _draw(card: ChartCard, report: dict[str, Any], lines: list[Line], empty: str, **kwargs: Any) -> None:
    if not report["buckets"] or not report["tickets"]:
        card.set_chart(None, NO_TICKETS)
    elif all(v is None for line in lines for v in line.values):
        card.set_chart(None, empty)
    else:
        card.set_chart(time_chart(report["buckets"], lines, period=report["period"], **kwargs))


def exception_rate(card: ChartCard, report: dict[str, Any]) -> None:
    figure = report["exception_rate"]
    uncovered = figure["tickets_without_volume"]
    note = f" · {uncovered:,} tickets on days without a reported volume" if uncovered else ""
    card.set_subtitle(
        f"Tickets ÷ items processed: {percent(figure['value'], 2)} "
        f"({figure['tickets']:,} of {figure['items']:,}){note}"
    )
    _draw(
        card,
        report,
        [Line("Exception rate", _values(figure))],
        "No processed volume reported for this range (signoff volume).",
        y_title="Exception rate (%)",
        percent=True,
    )
    card.set_table(tables.exception_rate(report))


def outcomes(card: ChartCard, report: dict[str, Any]) -> None:
    override, first = report["override_rate"], report["first_pass_accuracy"]
    card.set_subtitle(
        f"{override['of']:,} settled tickets: overridden {percent(override['value'])} "
        f"({override['count']:,}), approved as proposed first time {percent(first['value'])} "
        f"({first['count']:,})"
    )
    lines = [Line("Override rate (rejected)", _values(override)), Line("First-pass accuracy", _values(first))]
    _draw(
        card,
        report,
        lines,
        "No settled tickets in this range yet.",
        y_title="% of settled",
        percent=True,
    )
    card.set_table(tables.outcomes(report))


def latency(card: ChartCard, report: dict[str, Any]) -> None:
    figure = report["review_latency_hours"]
    card.set_subtitle(
        f"Created → first decision: p50 {hours_text(figure['p50'])}, p90 {hours_text(figure['p90'])} "
        f"(n = {figure['n']:,})"
    )
    lines = [Line("p50", _values(figure, "p50")), Line("p90", _values(figure, "p90"))]
    _draw(card, report, lines, "No decisions in this range yet.", y_title="Hours")
    card.set_table(tables.durations(figure))


def resolution(card: ChartCard, report: dict[str, Any]) -> None:
    figure = report["escalation_resolution_hours"]
    card.set_subtitle(
        f"Escalated → settled by an escalation manager: p50 {hours_text(figure['p50'])}, "
        f"p90 {hours_text(figure['p90'])} (n = {figure['n']:,})"
    )
    lines = [Line("p50", _values(figure, "p50")), Line("p90", _values(figure, "p90"))]
    _draw(card, report, lines, "No escalation settled in this range.", y_title="Hours")
    card.set_table(tables.durations(figure))


def sla(card: ChartCard, report: dict[str, Any]) -> None:
    figure = report["sla"]
    card.set_subtitle(
        f"Answered by the due time: {percent(figure['attainment'])} of {figure['of']:,} due · "
        f"{figure['breaches']:,} breaches ({figure['late']:,} late, {figure['open_breaches']:,} still open)"
    )
    _draw(
        card,
        report,
        [Line("SLA attainment", _values(figure, "attainment"))],
        "No ticket has come due in this range.",
        y_title="% answered in time",
        percent=True,
        top=100.0,  # an attainment is read against the whole scale, even when it is all 0 %
    )
    card.set_table(tables.sla(report))


def escalations(card: ChartCard, report: dict[str, Any]) -> None:
    esc, clar = report["escalation_rate"], report["clarification_rate"]
    card.set_subtitle(
        f"{esc['of']:,} reviewed tickets: escalated {percent(esc['value'])} ({esc['count']:,}), "
        f"clarification asked {percent(clar['value'])} ({clar['count']:,})"
    )
    lines = [Line("Escalation rate", _values(esc)), Line("Clarification rate", _values(clar))]
    _draw(
        card,
        report,
        lines,
        "No reviewed tickets in this range yet.",
        y_title="% of reviewed",
        percent=True,
    )
    card.set_table(tables.escalations(report))


def reasons(card: ChartCard, report: dict[str, Any]) -> None:
    figure = report["reason_codes"]
    total = sum(figure["totals"].values())
    codes = list(figure["totals"])[:TOP_REASONS]
    rest = " (the six most given, then the rest)" if len(figure["totals"]) > TOP_REASONS else ""
    card.set_subtitle(f"{total:,} decisions by reason code{rest}")
    if not total:
        card.set_chart(None, "No decisions in this range yet.")
    else:
        labels, counts = _readable_periods(report)
        sets = [Line(code, [c.get(code, 0) for c in counts]) for code in codes]
        other = [sum(n for code, n in c.items() if code not in codes) for c in counts]
        if any(other):
            sets.append(Line("other", other))
        title = (
            "Week starting"
            if report["period"] == "week" or len(labels) < len(report["buckets"])
            else "Day (UTC)"
        )
        card.set_chart(
            bar_chart(labels, sets, y_title="Decisions", x_title=title, stacked=True, legend_right=True)
        )
    card.set_table(tables.reasons(report))


def _readable_periods(report: dict[str, Any]) -> tuple[list[str], list[dict[str, int]]]:
    """Bars per day, or per week when days would be too many to label."""
    series = report["reason_codes"]["series"]
    if report["period"] == "week" or len(series) <= MAX_DAY_BARS:
        return [_short_day(p["bucket"]) for p in series], [p["counts"] for p in series]
    weeks: dict[str, dict[str, int]] = {}
    for point in series:
        day = date.fromisoformat(point["bucket"])
        week = weeks.setdefault((day - timedelta(days=day.weekday())).isoformat(), {})
        for code, n in point["counts"].items():
            week[code] = week.get(code, 0) + n
    return [_short_day(w) for w in weeks], list(weeks.values())


def _short_day(bucket: str) -> str:
    day = date.fromisoformat(bucket)
    return f"{day.day} {day:%b}"


TIME_CARDS: tuple[tuple[str, str, Callable[[ChartCard, dict[str, Any]], None]], ...] = (
    ("exceptions", "Exception rate", exception_rate),
    ("outcomes", "AI proposals: overridden and approved as proposed", outcomes),
    ("latency", "Review latency", latency),
    ("sla", "SLA attainment", sla),
    ("escalations", "Escalations and clarifications", escalations),
    ("resolution", "Escalations: time to resolution", resolution),
    ("reasons", "Reason codes over time", reasons),
)
