"""Turning a group of alerts into a message people can act on: what, where, since when (site
local time), how bad, what to check first, how to acknowledge; plus a JSON payload for machines.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from repoclimate.alerts.model import Alert, AlertState, Severity, Subject
from repoclimate.alerts.rules.base import span

KIND_WORDS = {
    "firing": "ALERT",
    "escalation": "ESCALATED",
    "reminder": "REMINDER",
    "update": "WORSE",
    "acknowledged": "ACKNOWLEDGED",
    "resolved": "ALL CLEAR",
    "digest": "DIGEST",
}

RULE_TITLES = {
    "excursion.temperature_high": "Temperature above band",
    "excursion.temperature_low": "Temperature below band",
    "excursion.humidity_high": "Relative humidity above band",
    "excursion.humidity_low": "Relative humidity below band",
    "fluctuation.temperature": "Temperature fluctuating too much",
    "fluctuation.humidity": "Relative humidity fluctuating too much",
    "mould.risk": "Mould risk",
    "condensation.surface": "Condensation risk on a surface",
    "condensation.saturation": "Air near saturation",
    "decay.twpi_falling": "Preservation index falling",
    "sensor.silent": "Sensor silent",
    "sensor.stuck": "Sensor stuck (flat-lined)",
    "sensor.battery_low": "Sensor battery low",
    "sensor.out_of_range": "Sensor reading outside physical range",
    "delivery.channel_failing": "Notification channel failing",
}


def rule_title(rule: str) -> str:
    return RULE_TITLES.get(rule, rule)


class Directory(Protocol):
    """Names and time zones for people-facing text."""

    def place(self, subject: Subject) -> str:
        """E.g. ``Stack 3 — City Archives``; the sensor is shown separately."""

    def timezone(self, site: str | None) -> ZoneInfo:
        """The site's time zone."""


class PlainDirectory:
    """Ids as names, one time zone for all: used when no registry is at hand."""

    def __init__(self, zone: ZoneInfo | None = None) -> None:
        self.zone = zone or ZoneInfo("UTC")

    def place(self, subject: Subject) -> str:
        if subject.key is not None:
            return subject.key
        return " — ".join(p for p in (subject.room, subject.site) if p) or subject.id

    def timezone(self, site: str | None) -> ZoneInfo:
        return self.zone


def local(when: datetime, zone: ZoneInfo) -> str:
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _fmt(value: float, unit: str) -> str:
    if unit in ("", "index", "ratio"):
        return f"{value:.2f}"
    if unit == "s":
        return span(value)
    return f"{value:.1f} {unit}"


def ack_url(base: str | None, alert: Alert) -> str | None:
    if not base:
        return None
    return f"{base.rstrip('/')}/alerts/{alert.id}/ack?token={alert.ack_token}"


def render(
    kind: str,
    alerts: Sequence[Alert],
    directory: Directory,
    now: datetime,
    ack_url_base: str | None = None,
    note: str = "",
) -> tuple[str, str, str, dict[str, Any]]:
    """Subject, plain text, HTML and JSON payload of one notification about ``alerts``
    (one group: same rule and place, or one site's digest)."""
    if not alerts:
        raise ValueError("render needs at least one alert")
    first = alerts[0]
    worst = max(alert.severity for alert in alerts)
    site = first.subject.site
    zone = directory.timezone(site)
    place = directory.place(Subject(site=site, room=first.subject.room, key=first.subject.key))
    title = "Weekly preservation digest" if kind == "digest" else rule_title(first.rule)
    level = "RESOLVED" if kind == "resolved" else worst.label.upper()
    count = f" ({len(alerts)} sensors)" if len({a.subject.id for a in alerts}) > 1 else ""
    subject = f"[{KIND_WORDS.get(kind, kind.upper())}] [{level}] {title} — {place}{count}"

    lines = [f"{title} — {place}", ""]
    if kind == "resolved":
        lines.append(f"All clear at {local(now, zone)}.")
    elif kind == "acknowledged":
        who = first.acknowledged_by or "someone"
        lines.append(f"Acknowledged by {who} at {local(first.acknowledged_at or now, zone)}.")
    elif kind == "escalation":
        lines.append(f"Not acknowledged yet: escalated to you at {local(now, zone)}.")
    elif kind == "reminder":
        lines.append(f"Still firing and not acknowledged at {local(now, zone)}.")
    elif kind == "update":
        lines.append(f"It has got worse: now {worst.label}.")
    if note:
        lines.append(note)
    lines.append("")
    items = []
    for alert in alerts:
        since = local(alert.since, zone)
        where = f"sensor {alert.subject.sensor}" if alert.subject.sensor else place
        item: dict[str, Any] = {
            "id": alert.id,
            "rule": alert.rule,
            "title": rule_title(alert.rule),
            "subject": alert.subject.id,
            "site": alert.subject.site,
            "room": alert.subject.room,
            "sensor": alert.subject.sensor,
            "state": alert.state.value,
            "severity": alert.severity.label,
            "value": alert.value,
            "threshold": alert.threshold,
            "peak": alert.peak_value,
            "unit": alert.unit,
            "since": alert.since.isoformat(),
            "since_local": since,
            "summary": alert.summary,
            "advice": alert.advice,
            "ack_command": f"repoclimate alerts ack {alert.id}",
        }
        url = ack_url(ack_url_base, alert)
        if url:
            item["ack_url"] = url
        items.append(item)
        lines.append(f"* {where}: {alert.summary}")
        lines.append(
            f"  how bad: {alert.severity.label}; now {_fmt(alert.value, alert.unit)}, "
            f"limit {_fmt(alert.threshold, alert.unit)}"
            + (
                ""
                if alert.peak_value is None or alert.peak_value == alert.value
                else f", worst {_fmt(alert.peak_value, alert.unit)}"
            )
        )
        lines.append(f"  since: {since}")
        if kind not in ("resolved",) and alert.advice:
            lines.append(f"  check first: {alert.advice}")
        if kind not in ("resolved", "acknowledged", "digest") and alert.state is AlertState.FIRING:
            lines.append(
                f"  acknowledge: repoclimate alerts ack {alert.id}"
                + (f"  or open {url}" if url else "")
            )
        lines.append("")
    lines.append(f"repoclimate, {local(now, zone)}")
    text = "\n".join(lines)

    colour = {Severity.CRITICAL: "#b00020", Severity.WARNING: "#b26a00"}.get(worst, "#1f5fa8")
    if kind == "resolved":
        colour = "#2e7d32"
    rows = []
    for alert, item in zip(alerts, items, strict=True):
        ack = ""
        if kind not in ("resolved", "acknowledged", "digest") and alert.state is AlertState.FIRING:
            ack = f"<code>repoclimate alerts ack {alert.id}</code>"
            if "ack_url" in item:
                ack += f' or <a href="{html.escape(item["ack_url"])}">acknowledge</a>'
        rows.append(
            "<tr>"
            f"<td>{html.escape(alert.subject.sensor or place)}</td>"
            f"<td>{html.escape(alert.summary)}</td>"
            f"<td>{html.escape(alert.severity.label)}</td>"
            f"<td>{html.escape(item['since_local'])}</td>"
            f"<td>{html.escape(alert.advice if kind != 'resolved' else '')}</td>"
            f"<td>{ack}</td>"
            "</tr>"
        )
    head = html.escape(lines[2]) if len(lines) > 2 and lines[2] else ""
    body_html = (
        '<html><body style="font-family:sans-serif">'
        f'<h2 style="color:{colour}">{html.escape(title)} — {html.escape(place)}</h2>'
        + (f"<p>{head}</p>" if head else "")
        + '<table border="1" cellpadding="4" cellspacing="0">'
        "<tr><th>where</th><th>what</th><th>how bad</th><th>since</th>"
        "<th>check first</th><th>acknowledge</th></tr>"
        + "".join(rows)
        + f'</table><p style="color:#666">repoclimate, {html.escape(local(now, zone))}</p>'
        "</body></html>"
    )
    payload: dict[str, Any] = {
        "source": "repoclimate",
        "kind": kind,
        "status": "resolved" if kind == "resolved" else first.state.value,
        "severity": worst.label,
        "title": title,
        "site": site,
        "room": first.subject.room,
        "place": place,
        "time": now.isoformat(),
        "time_local": local(now, zone),
        "alerts": items,
    }
    return subject, text, body_html, payload
