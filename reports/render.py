"""A report rendered from one HTML layout (``templates/report.html``) to HTML or to PDF (by
headless Chromium or WeasyPrint, `reports.pdf`), in English or Simplified Chinese.

Strings go through the reports' own gettext catalogues (``locale/<lang>/LC_MESSAGES/
reports.po``, compiled in memory on first use as the pages' are, `app.web.i18n`), so the pages'
catalogues stay the pages'. Times are the site's local time with the zone named; numbers are
printed with fixed decimals (`number`), the same in both languages.

WeasyPrint needs Pango (Debian ``libpango-1.0-0``, ``libpangoft2-1.0-0``), Chromium its Debian
package; Chinese needs a CJK font (``fonts-noto-cjk``); ``scripts/setup-system.sh`` installs
them. The stylesheet names Noto Sans CJK SC for Chinese, so its glyphs are embedded from it.
The layout is written for both engines: the footer's title is a literal the template writes
(Chromium prints no ``string()``), line heights are set, not the fonts' own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from importlib.resources import files
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
from babel.support import NullTranslations
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from repoclimate.preservation.compliance import Excursion
from repoclimate.preservation.metrics import RoomMetrics
from repoclimate.reports.catalogue import compiled
from repoclimate.reports.charts import Span, climate_chart, series_chart
from repoclimate.reports.gather import STANDARDS, Report, RoomReport, jgj25_for
from repoclimate.reports.pdf import html_to_pdf
from repoclimate.reports.ranking import RankedRoom, rank_rooms
from repoclimate.reports.settings import ReportSettings

Format = Literal["html", "pdf"]
LANGUAGES: dict[str, str] = {"en": "en", "zh_Hans": "zh-Hans"}
"""Catalogue folder → the HTML ``lang`` of the report."""
EXCURSIONS_LISTED = 6
"""The longest band excursions of a room listed one by one on its page (all are counted)."""
SERIES_HEIGHT = 125.0
"""Height of a room's T and RH charts [SVG units, 680 wide]: both fit its page with the
figures."""


class CatalogueError(ValueError):
    """A report language without a catalogue, or a catalogue that cannot be read."""


def language(tag: str | None) -> str:
    """The catalogue of a language tag: ``en`` (default), ``zh-Hans`` / ``zh`` → ``zh_Hans``."""
    if not tag:
        return "en"
    head = tag.strip().replace("_", "-").lower().split("-")[0]
    if head == "zh":
        return "zh_Hans"
    if head == "en":
        return "en"
    raise CatalogueError(f"no report language {tag!r}; known: en, zh-Hans")


@lru_cache(maxsize=len(LANGUAGES))
def translations(lang: str) -> NullTranslations:
    """The compiled report catalogue of ``lang``."""
    if lang not in LANGUAGES:
        raise CatalogueError(f"no report catalogue {lang!r}; known: {', '.join(LANGUAGES)}")
    return compiled("repoclimate.reports", "reports", lang, CatalogueError)


def number(value: float | None, decimals: int = 1) -> str:
    """A number as the report prints it: fixed decimals, ``–`` when unknown."""
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.{decimals}f}"


def local_time(when: datetime | np.datetime64 | None, zone: ZoneInfo) -> str:
    """``YYYY-MM-DD HH:MM`` in ``zone`` (24-hour clock in every language)."""
    if when is None:
        return "–"
    if isinstance(when, np.datetime64):
        ns = int(when.astype("datetime64[ns]").astype(np.int64))
        when = datetime.fromtimestamp(ns / 1e9, tz=ZoneInfo("UTC"))
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def zone_label(zone: ZoneInfo, when: datetime) -> str:
    """The zone's name and its UTC offset at ``when``: ``Europe/London (UTC+00:00)``."""
    offset = when.astimezone(zone).strftime("%z")
    return f"{zone.key} (UTC{offset[:3]}:{offset[3:]})"


@lru_cache(maxsize=len(LANGUAGES))
def _environment(lang: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(files("repoclimate.reports").joinpath("templates"))),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(lang), newstyle=False)  # type: ignore[attr-defined]
    env.filters["n"] = number
    env.filters["css_string"] = css_string
    return env


def render_html(report: Report, lang: str = "en") -> str:
    """The report as one HTML document (charts inline as SVG; an ``<img>`` of SVG each was
    measured no faster in WeasyPrint 70)."""
    lang = language(lang)
    env = _environment(lang)
    gettext: Callable[[str], str] = translations(lang).gettext
    ranked = rank_rooms(report.rooms)
    rooms = [_room_view(room, gettext, _page_words(lang)) for room in report.rooms]
    first_zone = (report.site or report.sites[0]).zone if report.sites else ZoneInfo("UTC")
    where = (report.site.name or report.site.id) if report.site else gettext("All sites")
    return env.get_template("report.html").render(
        report=report,
        title=f"{gettext('Condition report')} · {where} · {report.period.label}",
        lang=LANGUAGES[lang],
        ranked=ranked,
        rooms=rooms,
        standards=_standards_table(report, ranked),
        standard_names=_standard_names(gettext),
        generated=local_time(report.generated_at, first_zone),
        zone=zone_label(first_zone, report.generated_at),
        local_time=local_time,
        dew_max=_dew_max,
        css=files("repoclimate.reports").joinpath("templates", "report.css").read_text("utf-8"),
    )


def render_pdf(html: str, settings: ReportSettings | None = None) -> bytes:
    """The HTML document as a PDF, by the engine ``settings.pdf_engine`` chooses (default:
    ``auto``); `reports.pdf.PdfError` when it fails."""
    return html_to_pdf(html, settings)


def render(
    report: Report, fmt: Format, lang: str = "en", settings: ReportSettings | None = None
) -> bytes:
    """The report as HTML (UTF-8) or PDF bytes (``settings``: the PDF engine)."""
    html = render_html(report, lang)
    return html.encode("utf-8") if fmt == "html" else render_pdf(html, settings)


def css_string(text: str) -> Markup:
    """``text`` as a quoted CSS string, safe inside ``<style>`` (``\\``, ``"``, ``<`` and
    control characters escaped as hexadecimal code points)."""
    escaped = "".join(
        f"\\{ord(c):x} " if c in '\\"<>&' or ord(c) < 0x20 or ord(c) == 0x7F else c for c in text
    )
    return Markup(f'"{escaped}"')


def _dew_max(metrics: RoomMetrics) -> float:
    """The highest hourly dew point of a period [°C] (NaN without one)."""
    dew = metrics.dew_point[np.isfinite(metrics.dew_point)]
    return float(np.max(dew)) if dew.size else math.nan


def _standard_names(gettext: Callable[[str], str]) -> dict[str, str]:
    return {
        "jgj25": "JGJ 25",
        "iso11799-paper": "ISO 11799",
        "bs4971": "BS 4971",
        "ashrae-aa": "ASHRAE AA",
        "ashrae-a1": "ASHRAE A1",
        "ashrae-a2": "ASHRAE A2",
        "ashrae-b": "ASHRAE B",
        "ashrae-c": "ASHRAE C",
        "ashrae-d": "ASHRAE D",
    }


def _standards_table(report: Report, ranked: list[RankedRoom]) -> dict[str, Any]:
    """Time in band per room and standard, and per standard over all rooms (hours-weighted)."""
    rows = []
    totals = {s: [0.0, 0.0] for s in STANDARDS}
    for entry in ranked:
        room = entry.room
        cells = {}
        for key, measured in zip(STANDARDS, room.standards, strict=False):
            cells[key] = measured
            if math.isfinite(measured.time_in_band_pct):
                totals[key][0] += measured.time_in_band_pct * measured.covered_hours
                totals[key][1] += measured.covered_hours
        rows.append(
            {
                "room": room,
                "cells": cells,
                "jgj": jgj25_for(room.room.holdings),
            }
        )
    overall = {key: (a / b if b > 0 else math.nan) for key, (a, b) in totals.items()}
    return {"rows": rows, "overall": overall}


@lru_cache(maxsize=len(LANGUAGES))
def _page_words(lang: str) -> Callable[[str], str]:
    """The pages' catalogue (``app/web/locale``, as `app.web.i18n` reads it): the registry's
    vocabulary (holdings) is translated there once, for the pages and the reports alike. Read
    from its folder, so a report does not import the web app."""
    if lang not in LANGUAGES:
        raise CatalogueError(f"no report catalogue {lang!r}; known: {', '.join(LANGUAGES)}")
    return compiled("repoclimate.app", "messages", lang, CatalogueError, ("web", "locale")).gettext


def _room_view(
    room: RoomReport,
    gettext: Callable[[str], str],
    page_words: Callable[[str], str],
) -> dict[str, Any]:
    """What the template needs of one room beyond the report's records: charts (their titles
    and legends printed by the page, `series_chart`'s ``frame``) and lists."""
    zone = room.site.zone
    h = room.hourly
    start, end = room.current.start, room.current.end
    spans = [Span(a.since, a.resolved_at or end, a.severity) for a in room.alerts if a.since < end]
    label = zone_label(zone, start)
    profile = room.profile
    metrics = room.current.metrics
    charts: dict[str, str] = {}
    if metrics is not None:
        charts["t"] = series_chart(
            h.times,
            h.t_mean,
            h.t_min,
            h.t_max,
            start=start,
            end=end,
            zone=zone,
            band=(profile.t_min_c, profile.t_max_c),
            unit="°C",
            title=gettext("Temperature"),
            spans=spans,
            second=(metrics.dew_point, gettext("Dew point")),
            zone_label=label,
            height=SERIES_HEIGHT,
            frame=False,
        )
        charts["rh"] = series_chart(
            h.times,
            h.rh_mean,
            h.rh_min,
            h.rh_max,
            start=start,
            end=end,
            zone=zone,
            band=(profile.rh_min_pct, profile.rh_max_pct),
            unit="% RH",
            title=gettext("Relative humidity"),
            spans=spans,
            zone_label=label,
            height=SERIES_HEIGHT,
            frame=False,
        )
        charts["climate"] = climate_chart(
            h.t_mean,
            h.rh_mean,
            profile,
            title=gettext("Climate: hours by temperature and RH"),
            isopleth_label=gettext("mould: days to germination (IPI)"),
            dew_label=gettext("dashed grey: dew point"),
            no_risk_label=gettext("no mould risk below"),
            frame=False,
        )
    excursions: list[Excursion] = []
    count = 0
    if metrics is not None and metrics.compliance is not None:
        every = metrics.compliance.band_excursions
        count = len(every)
        excursions = sorted(every, key=lambda e: -e.hours)[:EXCURSIONS_LISTED]
        excursions.sort(key=lambda e: e.start)
    dew = metrics.dew_point if metrics is not None else np.zeros(0)
    finite = dew[np.isfinite(dew)] if dew.size else dew
    return {
        "r": room,
        "holdings": page_words(room.room.holdings),
        "profile_name": gettext(profile.name),
        "zone": zone,
        "zone_label": label,
        "charts": charts,
        "excursions": excursions,
        "excursion_count": count,
        "dew_min": float(np.min(finite)) if finite.size else math.nan,
        "dew_max": float(np.max(finite)) if finite.size else math.nan,
    }
