"""The monthly condition report by e-mail: on the 1st of each month (site-local), the previous
month's PDF report of each site goes to the people the rota marks as its managers
(`alerts.rota.Person.manager`), through the alert outbox's e-mail channel, PDF attached.

Idempotent: each site's report of a month is keyed ``report:<site>:<YYYY-MM>`` (the outbox
row's ``group_key``, kind ``report``). The write transaction that enqueues it first inserts the
key into ``report_sends`` (its primary key) with ``INSERT … ON CONFLICT DO NOTHING``; only the
transaction whose insert took a row enqueues, so a restart, a second run or a second service —
on SQLite or PostgreSQL, whatever the isolation — never sends it twice. (Outbox rows of the key
from before that table count too.) The outbox then delivers it with retries like any
notification.

The job runs every hour (`schedule_reports`), so the report leaves within the first hour of the
1st in the site's zone, and a service that was down then sends it at its next start. The
report is rendered only for a site that has managers with an e-mail contact and no row yet; its
PDF by the service's ``reports.pdf_engine`` (a `PdfError` is logged and leaves the month
unclaimed, so the next hourly run tries again; the other sites go on).
"""

from __future__ import annotations

import base64
import logging
from datetime import datetime, timedelta
from html import escape
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import Connection, select

from repoclimate.alerts.clock import Clock
from repoclimate.alerts.rota import Rota
from repoclimate.alerts.runtime import Alerting
from repoclimate.alerts.state import AlertStore
from repoclimate.alerts.state.database import dialect_insert
from repoclimate.alerts.state.schema import iso, outbox, report_sends
from repoclimate.history.store import Store
from repoclimate.reports.gather import Sources, gather
from repoclimate.reports.pdf import PdfError
from repoclimate.reports.periods import Period, month_before
from repoclimate.reports.ranking import rank_rooms
from repoclimate.reports.render import language, render, translations
from repoclimate.reports.settings import ReportSettings
from repoclimate.sensors.registry import Registry, Site

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

log = logging.getLogger(__name__)

REPORT_KIND = "report"
JOB_ID = "reports-monthly"
CHECK_EVERY_S = 3600.0


class HasReportSettings(Protocol):
    """The service settings' ``reports`` section (`app.settings.Settings`)."""

    @property
    def reports(self) -> ReportSettings: ...


class ReportWiring(Protocol):
    """What the job reads each time it runs (the service's `Services`: a configuration reload
    swaps the registry and the rota, and the next run sees them)."""

    @property
    def settings(self) -> HasReportSettings: ...
    @property
    def store(self) -> Store: ...
    @property
    def registry(self) -> Registry: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def alerting(self) -> Alerting | None: ...


def report_key(site: str, period: Period) -> str:
    """The outbox ``group_key`` of a site's report of a period."""
    return f"report:{site}:{period.label}"


def already_queued(state: AlertStore, key: str) -> bool:
    """Whether a report row of this key is in the outbox (sent, pending or failed)."""
    with state.transaction() as tx:
        return _exists(tx.conn, key)


def _exists(conn: Connection, key: str) -> bool:
    query = (
        select(outbox.c.id).where(outbox.c.kind == REPORT_KIND, outbox.c.group_key == key).limit(1)
    )
    return conn.execute(query).first() is not None


def claim(conn: Connection, key: str, now: datetime) -> bool:
    """Insert ``key`` into ``report_sends`` unless it is there; whether this call inserted it
    (the primary key decides between concurrent transactions)."""
    statement = (
        dialect_insert(conn, report_sends)
        .values(key=key, queued_at=iso(now))
        .on_conflict_do_nothing(index_elements=[report_sends.c.key])
        .returning(report_sends.c.key)
    )
    return conn.execute(statement).first() is not None


def send_monthly_reports(
    store: Store,
    registry: Registry,
    state: AlertStore,
    rota: Rota,
    now: datetime,
    settings: ReportSettings | None = None,
) -> list[str]:
    """Enqueue last month's report of every site with managers that has none queued yet;
    return the keys enqueued. ``settings``: the PDF engine (default: ``auto``)."""
    done: list[str] = []
    for site in registry.sites:
        recipients = [
            (who, contact.email, rota.people[who].language)
            for who in rota.managers(site.id)
            for contact in rota.people[who].contacts
            if contact.email
        ]
        if not recipients:
            continue
        period = month_before(now.astimezone(site.zone).date())
        key = report_key(site.id, period)
        if already_queued(state, key):
            continue
        languages: set[str] = {r[2] for r in recipients}
        try:
            rendered = _render(store, registry, state, site, period, now, languages, settings)
        except PdfError as exc:  # unclaimed: the next hourly run tries again
            log.error("monthly report %s not rendered: %s", key, exc)
            continue
        with state.transaction() as tx:
            if _exists(tx.conn, key) or not claim(tx.conn, key, now):  # another was quicker
                continue
            for who, email, lang in recipients:
                subject, text, html, payload = rendered[lang]
                tx.enqueue(
                    now=now,
                    kind=REPORT_KIND,
                    group_key=key,
                    alert_ids=[],
                    person=who,
                    channel="email",
                    target=email,
                    subject=subject,
                    text=text,
                    html=html,
                    payload=payload,
                )
        log.info("monthly report %s queued for %d recipients", key, len(recipients))
        done.append(key)
    return done


def _render(
    store: Store,
    registry: Registry,
    state: AlertStore,
    site: Site,
    period: Period,
    now: datetime,
    languages: set[str],
    settings: ReportSettings | None,
) -> dict[str, tuple[str, str, str, dict[str, object]]]:
    """Per language: e-mail subject, text, HTML and payload (with the PDF attached)."""
    report = gather(Sources(store, registry, state), period, now, site_id=site.id)
    name = site.name or site.id
    out: dict[str, tuple[str, str, str, dict[str, object]]] = {}
    for lang in languages:
        gettext = translations(language(lang)).gettext
        pdf = render(report, "pdf", lang, settings)
        subject = f"{gettext('Monthly condition report')}: {name} {period.label}"
        ranked = "\n".join(
            f"{e.rank}. {e.room.room.name or e.room.room.id}" for e in rank_rooms(report.rooms)
        )
        intro = gettext("The condition report of {site} for {period} is attached (PDF).").format(
            site=name, period=period.label
        )
        text = f"{intro}\n\n{gettext('Rooms ranked by risk, riskiest first:')}\n{ranked}\n"
        html = "<p>" + "</p><p>".join(escape(part) for part in text.split("\n\n")) + "</p>"
        payload: dict[str, object] = {
            "site": site.id,
            "period": period.label,
            "attachments": [
                {
                    "filename": f"condition-report-{site.id}-{period.label}.pdf",
                    "content_type": "application/pdf",
                    "data_base64": base64.b64encode(pdf).decode("ascii"),
                }
            ],
        }
        out[lang] = (subject, text, html.replace("\n", "<br>"), payload)
    return out


def _run(wiring: ReportWiring) -> None:
    alerting = wiring.alerting
    if alerting is None:
        return
    send_monthly_reports(
        wiring.store,
        wiring.registry,
        alerting.state,
        alerting.engine.rota,
        wiring.clock.now(),
        wiring.settings.reports,
    )


def schedule_reports(scheduler: BaseScheduler, wiring: ReportWiring) -> str | None:
    """Add the monthly-report job (hourly check, first run a minute after start); its id, or
    None without the alert engine (no outbox, no rota)."""
    if wiring.alerting is None:
        return None
    scheduler.add_job(
        _run,
        "interval",
        seconds=CHECK_EVERY_S,
        args=[wiring],
        id=JOB_ID,
        name="monthly condition reports",
        next_run_time=wiring.clock.now() + timedelta(minutes=1),
        coalesce=True,
        max_instances=1,
        misfire_grace_time=int(CHECK_EVERY_S),
        replace_existing=True,
    )
    return JOB_ID
