"""Condition reports over HTTP (viewer): ``GET /api/reports`` — the same report as
``repoclimate report``, as PDF or HTML, for a site, one of its rooms or (no ``site``) every site.

The report is rendered on request (`repoclimate.reports`, the PDF by ``reports.pdf_engine``); a
year of a large site takes a while, so the route runs in the request thread pool, like every
blocking route. A PDF engine that fails answers 503 with its reason (browser, exit status,
the tail of its standard error; never the report).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import Response

from repoclimate.app.api.auth import get_services, require
from repoclimate.app.api.errors import AUTH_RESPONSES, described, invalid
from repoclimate.app.services import Services
from repoclimate.app.users import Role
from repoclimate.reports.gather import ReportError, Sources, gather
from repoclimate.reports.pdf import PdfError
from repoclimate.reports.periods import PeriodError, parse_period
from repoclimate.reports.render import render

router = APIRouter(prefix="/api", tags=["reports"], dependencies=[Depends(require(Role.VIEWER))])

MEDIA_TYPES = {"pdf": "application/pdf", "html": "text/html; charset=utf-8"}


class ReportFormat(StrEnum):
    pdf = "pdf"
    html = "html"


class ReportLanguage(StrEnum):
    en = "en"
    zh_hans = "zh-Hans"


RESPONSES: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    200: {
        "content": {"application/pdf": {}, "text/html": {}},
        "description": "The report (PDF or HTML)",
    },
    404: described("No such site or room"),
    503: described("The PDF engine failed (reports.pdf_engine)"),
}


@router.get("/reports", responses=RESPONSES, response_class=Response)
def report(
    services: Annotated[Services, Depends(get_services)],
    period: Annotated[
        str,
        Query(
            description="A month (2026-11), a quarter (2026-Q3) or a year (2026).",
            pattern=r"^\d{4}(-\d{2}|-[Qq][1-4])?$",
        ),
    ],
    site: Annotated[str | None, Query(description="Site id; none: every site.")] = None,
    room: Annotated[str | None, Query(description="Only this room of the site.")] = None,
    fmt: Annotated[ReportFormat, Query(alias="format")] = ReportFormat.pdf,
    lang: ReportLanguage = ReportLanguage.en,
) -> Response:
    """A condition report: time in band, excursions, charts, mould and decay indices,
    completeness and the alert log per room, compared with the period before and a year
    earlier; rooms ranked by risk; each standard's compliance."""
    try:
        which = parse_period(period)
    except PeriodError as exc:
        raise invalid(("query", "period"), str(exc)) from None
    if room is not None and site is None:
        raise invalid(("query", "room"), "a room needs its site")
    sources = Sources(services.store, services.registry, services.state)
    try:
        found = gather(sources, which, services.clock.now(), site_id=site, room_id=room)
    except ReportError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    name = f"report-{site or 'network'}{'-' + room if room else ''}-{which.label}.{fmt.value}"
    try:
        content = render(found, fmt.value, lang.value, services.settings.reports)
    except PdfError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    return Response(
        content,
        media_type=MEDIA_TYPES[fmt.value],
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )
