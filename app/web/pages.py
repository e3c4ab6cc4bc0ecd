"""The built-in pages of `repoclimate serve`: overview, room, alerts, sensors, login.

Pages are rendered on the server from the same code the JSON API answers with (`api.sites`'s
`Present`, `api.alerts`'s listing) and read the same browser session: a page needs the role
``viewer`` (or nobody, with ``api.public_read``); without it the browser is sent to ``/login``.
The pages change nothing themselves: their buttons call the API (``POST /api/alerts/{id}/ack``,
``POST /api/silences``) with the session's CSRF token, so the API's role checks decide — a viewer
is shown no buttons and the API refuses a forged request anyway.

Everything a page loads comes from this service (``/static/…``): no CDN, no web fonts from
elsewhere; the charts are drawn by our own ``static/app.js`` from the history API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from repoclimate.alerts.model import OPEN_STATES, AlertState
from repoclimate.app.api import alerts as alerts_api
from repoclimate.app.api import sensors as sensors_api
from repoclimate.app.api.auth import (
    SESSION_COOKIE,
    Auth,
    Caller,
    current_caller,
    get_auth,
    get_services,
)
from repoclimate.app.api.sites import Present, RoomState, SiteState, find_room
from repoclimate.app.services import Services
from repoclimate.app.users import Role
from repoclimate.app.web import i18n, network

_HERE = files("repoclimate.app.web")
STATIC_PATH = "/static"
REFRESH_S = 60
"""The overview asks for fresh tiles this often [s]."""

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    # Only this service's own files, no inline script, no framing: a page cannot reach out.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}

router = APIRouter(include_in_schema=False)
ServicesDep = Annotated[Services, Depends(get_services)]


def static_files() -> StaticFiles:
    """The pages' CSS and JS, to mount at `STATIC_PATH`."""
    return StaticFiles(directory=str(_HERE.joinpath("static")), follow_symlink=True)


_env = Environment(
    loader=FileSystemLoader(str(_HERE.joinpath("templates"))),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking at a page: the user (None when anonymous with public read), whether the
    page may show action buttons, the CSRF token those buttons send, and the language."""

    name: str | None
    role: Role | None
    csrf_token: str | None
    lang: str

    @property
    def can_act(self) -> bool:
        return self.role is not None and self.role >= Role.RESPONDER


class LoginNeededError(Exception):
    """The page needs a logged-in user; answered by a redirect to ``/login``."""

    def __init__(self, next_url: str) -> None:
        super().__init__(f"login needed for {next_url}")
        self.next_url = next_url


def _lang(request: Request) -> str:
    return i18n.choose(
        request.query_params.get("lang"),
        request.cookies.get(i18n.LANG_COOKIE),
        request.headers.get("accept-language"),
    )


def _caller_or_none(request: Request, auth: Auth) -> Caller | None:
    """The session behind the cookie, or None (no cookie, expired, or user gone)."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id is None:
        return None
    session = auth.sessions.get(session_id)
    if session is None:
        return None
    user = auth.services.users.get(session.user.name)
    return None if user is None else Caller(user, session)


def page_viewer(request: Request, auth: Annotated[Auth, Depends(get_auth)]) -> Viewer:
    """The viewer of a page that needs the role viewer (or public read)."""
    lang = _lang(request)
    caller = _caller_or_none(request, auth)
    if caller is None:
        if auth.public_read:
            return Viewer(None, None, None, lang)
        raise LoginNeededError(request.url.path)
    session = caller.session
    return Viewer(
        caller.user.name,
        Role(caller.user.role),
        None if session is None else session.csrf_token,
        lang,
    )


ViewerDep = Annotated[Viewer, Depends(page_viewer)]


def login_redirect(_request: Request, exc: LoginNeededError) -> Response:
    """The app's handler of `LoginNeededError`."""
    return RedirectResponse(f"/login?next={quote(exc.next_url)}", status.HTTP_303_SEE_OTHER)


def render(request: Request, viewer: Viewer, template: str, **context: Any) -> HTMLResponse:
    """A page in the viewer's language; a ``?lang=`` choice is kept in a cookie."""
    translations = i18n.translations(viewer.lang)
    page = _env.get_template(template).render(
        _=translations.gettext,
        ngettext=translations.ngettext,
        viewer=viewer,
        lang=viewer.lang,
        html_lang=i18n.HTML_LANG[viewer.lang],
        languages=i18n.LANGUAGES,
        path=request.url.path,
        static=STATIC_PATH,
        **context,
    )
    response = HTMLResponse(page, headers=PAGE_HEADERS)
    chosen = i18n.normalise(request.query_params.get("lang"))
    if chosen is not None and chosen != request.cookies.get(i18n.LANG_COOKIE):
        response.set_cookie(
            i18n.LANG_COOKIE, chosen, max_age=365 * 86400, samesite="lax", httponly=True
        )
    return response


def site_zone(site: SiteState) -> ZoneInfo:
    return ZoneInfo(site.timezone)


def local_time(now: datetime, site: SiteState) -> str:
    """``now`` at the site, with its zone (``2026-06-01 13:00 BST (Europe/London)``)."""
    local = now.astimezone(site_zone(site))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()} ({site.timezone})"


def at_site(when: datetime, zone: str | None) -> str:
    """``when`` in the site's zone with its abbreviation (``2026-06-01 13:00 BST``); UTC when
    the alert or device belongs to no known site."""
    local = when.astimezone(ZoneInfo(zone or "UTC"))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def local_date(when: datetime, zone: str | None) -> str:
    """The date of ``when`` in the site's zone (``2026-05-20``): a calibration's day."""
    return f"{when.astimezone(ZoneInfo(zone or 'UTC')):%Y-%m-%d}"


def _zones(services: Services) -> dict[str, str]:
    """Site id → its IANA zone, for `at_site` in the templates."""
    return {s.id: str(s.timezone) for s in services.registry.sites}


_env.globals.update(
    local_time=local_time, site_zone=site_zone, at_site=at_site, local_date=local_date
)


def _sites(services: Services) -> tuple[datetime, list[SiteState]]:
    present = Present(services)
    return present.now, [present.site(site) for site in services.registry.sites]


# -- pages -----------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def overview(
    request: Request,
    viewer: ViewerDep,
    services: ServicesDep,
    fragment: Annotated[bool, Query(description="Only the tiles (the page's refresh)")] = False,
) -> HTMLResponse:
    """Every site and its rooms as tiles; several sites also get the network view."""
    now, sites = _sites(services)
    ranks = network.ranked(sites, now) if len(sites) > 1 else []
    context: dict[str, Any] = {
        "now": now,
        "sites": [r.site for r in ranks] or sites,
        "network": ranks,
        "counted": network.COUNTED,
        "refresh_s": REFRESH_S,
    }
    return render(request, viewer, "_tiles.html" if fragment else "overview.html", **context)


@router.get("/rooms/{room_id}", response_class=HTMLResponse)
def room_page(
    request: Request,
    room_id: str,
    viewer: ViewerDep,
    services: ServicesDep,
    site: Annotated[str | None, Query()] = None,
) -> HTMLResponse:
    """One room: its chart (drawn by app.js from the history API), band, sensors, open alerts."""
    found_site, room = find_room(services, room_id, site)
    present = Present(services, room.sensors)
    site_state = SiteState(
        id=found_site.id,
        name=found_site.name,
        timezone=str(found_site.timezone),
        status="ok",
        rooms=[],
    )
    state: RoomState = present.room(found_site, room)
    return render(
        request,
        viewer,
        "room.html",
        now=present.now,
        site=site_state,
        sites=[site_state],
        room=state,
        zones=_zones(services),
        alert_spans=alert_spans(services, found_site.id, room.id),
    )


SPAN_LIMIT = 500
"""At most this many of a room's alerts (newest first) are marked on its charts."""


def alert_spans(services: Services, site_id: str, room_id: str) -> list[dict[str, Any]]:
    """The room's alerts of every state as spans for the charts' time axis: ``start`` (when the
    condition began), ``end`` (when resolved; None while open), id and severity."""
    found = alerts_api.list_alerts(
        services,
        state=list(AlertState),
        severity=None,
        site=site_id,
        room=room_id,
        rule=None,
        since=None,
        until=None,
        limit=SPAN_LIMIT,
    )
    return [
        {
            "id": a.id,
            "start": a.since.isoformat(),
            "end": None if a.resolved_at is None else a.resolved_at.isoformat(),
            "severity": a.severity,
        }
        for a in found
    ]


ALERT_VIEWS: dict[str, list[AlertState]] = {
    "open": list(OPEN_STATES),
    "firing": [AlertState.FIRING],
    "acknowledged": [AlertState.ACKNOWLEDGED],
    "resolved": [AlertState.RESOLVED],
}


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request,
    viewer: ViewerDep,
    services: ServicesDep,
    show: Annotated[str, Query(pattern="^(open|firing|acknowledged|resolved)$")] = "open",
    site: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """Alerts by state (open, firing, acknowledged, resolved), optionally of one site."""
    found = alerts_api.list_alerts(
        services,
        state=ALERT_VIEWS[show],
        severity=None,
        site=site or None,
        room=None,
        rule=None,
        since=None,
        until=None,
        limit=500,
    )
    now, sites = _sites(services)
    return render(
        request,
        viewer,
        "alerts.html",
        now=now,
        sites=sites,
        alerts=found,
        zones=_zones(services),
        show=show,
        views=list(ALERT_VIEWS),
        chosen_site=site,
    )


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(
    request: Request,
    alert_id: alerts_api.AlertId,
    viewer: ViewerDep,
    services: ServicesDep,
) -> HTMLResponse:
    """One alert with its events: who was paged, when, who acknowledged."""
    alert = alerts_api.get_alert(alert_id, services)
    now, sites = _sites(services)
    return render(
        request,
        viewer,
        "alert.html",
        now=now,
        sites=[s for s in sites if s.id == alert.site] or sites[:1],
        alert=alert,
        zones=_zones(services),
    )


@router.get("/sensors", response_class=HTMLResponse)
def sensors_page(request: Request, viewer: ViewerDep, services: ServicesDep) -> HTMLResponse:
    """Every registry sensor's health, and devices the registry does not place."""
    now, sites = _sites(services)
    unassigned = sensors_api.list_unassigned(services)
    return render(
        request,
        viewer,
        "sensors.html",
        now=now,
        sites=sites,
        unassigned=unassigned,
        zones=_zones(services),
    )


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request,
    next: Annotated[str, Query(max_length=2000)] = "/",
) -> HTMLResponse:
    """The login form (it posts to ``/api/login``)."""
    safe_next = next if next.startswith("/") and not next.startswith("//") else "/"
    viewer = Viewer(None, None, None, _lang(request))
    return render(request, viewer, "login.html", next_url=safe_next, sites=[])


@router.post("/logout")
def logout(
    auth: Annotated[Auth, Depends(get_auth)],
    caller: Annotated[Caller | None, Depends(current_caller)],
    request: Request,
) -> Response:
    """End the session (the form carries the CSRF token, which `current_caller` checks)."""
    if caller is None or caller.session is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "not logged in")
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id is not None:
        auth.sessions.end(session_id)
    response = RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=auth.cookie_secure, httponly=True, samesite="strict"
    )
    return response
