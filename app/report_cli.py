"""``repoclimate report``: a condition report of a site (or one room, or every site) for a month,
a quarter or a year, as PDF or HTML, in English or Simplified Chinese.

Registered on the main command in `repoclimate.app.cli`; the work is `repoclimate.reports`.
Exit codes: 0 written; 1 bad settings or registry, the store is down, or the PDF engine failed
(`reports.pdf_engine`: no browser where ``reports.chromium`` says, a browser that failed or hung);
2 a usage error (a bad period, an unknown site or room, an unknown language).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from repoclimate.alerts.state import AlertStore
from repoclimate.alerts.state.database import is_url
from repoclimate.app.options import ConfigOption
from repoclimate.app.settings import SettingsError, load_settings
from repoclimate.app.wiring import registry_from
from repoclimate.history import StoreRejected, StoreUnavailable, open_store
from repoclimate.reports.gather import ReportError, Sources, gather
from repoclimate.reports.pdf import PdfError
from repoclimate.reports.periods import PeriodError, parse_period
from repoclimate.reports.render import CatalogueError, language, render
from repoclimate.sensors.registry import RegistryError

EXIT_CONFIG = 1
EXIT_USAGE = 2


class ReportFormat(StrEnum):
    """What the report is written as."""

    pdf = "pdf"
    html = "html"


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def report_command(
    period: Annotated[
        str,
        typer.Option("--period", "-p", help="A month (2026-11), a quarter (2026-Q3) or a year."),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="File to write (default: standard output).", show_default=False
        ),
    ] = None,
    site: Annotated[
        str | None,
        typer.Option(
            "--site", help="Site id (default: every site, the network).", show_default=False
        ),
    ] = None,
    room: Annotated[
        str | None,
        typer.Option("--room", help="Only this room of the site.", show_default=False),
    ] = None,
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f", help="pdf or html.")] = (
        ReportFormat.pdf
    ),
    lang: Annotated[str, typer.Option("--lang", help="en or zh-Hans.")] = "en",
    config: ConfigOption = None,
) -> None:
    """Write a condition report: time in band, excursions, charts, mould and decay indices,
    completeness, alert log, compared with the period before and a year earlier; rooms ranked by
    risk and each standard's compliance. Periods are bounded by local midnight at the site."""
    try:
        which = parse_period(period)
        chosen = language(lang)
    except (PeriodError, CatalogueError) as exc:
        _fail(str(exc), EXIT_USAGE)
    if room is not None and site is None:
        _fail("--room needs --site", EXIT_USAGE)
    try:
        settings = load_settings(config)
        registry = registry_from(settings.registry)
    except (SettingsError, RegistryError) as exc:
        _fail(str(exc), EXIT_CONFIG)
    target = settings.alerts.state_target()
    state = AlertStore(target) if is_url(target) or Path(target).exists() else None
    store = open_store(settings.store)
    try:
        report = gather(
            Sources(store, registry, state), which, datetime.now(UTC), site_id=site, room_id=room
        )
        data = render(report, fmt.value, chosen, settings.reports)
    except ReportError as exc:
        _fail(str(exc), EXIT_USAGE)
    except (StoreUnavailable, StoreRejected, PdfError) as exc:
        _fail(f"report not written: {exc}", EXIT_CONFIG)
    finally:
        store.close()
        if state is not None:
            state.close()
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    out.write_bytes(data)
    typer.echo(f"{out}: {fmt.value} report of {site or 'every site'} for {which.label}", err=True)
