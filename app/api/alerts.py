"""Alerts over HTTP: list and filter, one alert with its events, acknowledge, silences — and the
token ack link that notifications carry.

Every change goes through `alerts.actions` (the CLI's path too), with the caller's user name as
the actor. The ack link ``/alerts/{id}/ack?token=…`` needs no login — the alert's token is the
credential — but a GET only shows a confirmation page: mail scanners and link previews follow
links, so only the page's POST (carrying the token) acknowledges. The API never shows a token.
"""

from __future__ import annotations

import hmac
import html
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from repoclimate.alerts import actions
from repoclimate.alerts.model import OPEN_STATES, Alert, AlertState, Event, Severity, Silence
from repoclimate.alerts.state import AlertNotFoundError, TransitionError
from repoclimate.app.api.auth import get_services, require, require_user
from repoclimate.app.api.errors import AUTH_RESPONSES, described, invalid
from repoclimate.app.services import Services
from repoclimate.app.users import Role, User

router = APIRouter(tags=["alerts"])
ServicesDep = Annotated[Services, Depends(get_services)]
Reader = Depends(require(Role.VIEWER))
Responder = Annotated[User, Depends(require_user(Role.RESPONDER))]

SeverityName = Literal["info", "warning", "critical"]
LIST_SCAN = 5000
"""Alerts read (newest first) before the filters of `list_alerts` are applied."""
AlertId = Annotated[int, Path(ge=1, le=2**62)]

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: described("No such alert")}
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: described("Not possible in the alert's state (e.g. already acknowledged)")
}


class AlertOut(BaseModel):
    """An alert as the API shows it (never its ack token)."""

    id: int
    rule: str
    subject: str
    site: str | None
    room: str | None
    sensor: str | None
    state: AlertState
    severity: SeverityName
    since: datetime
    value: float | None
    peak_value: float | None
    threshold: float | None
    unit: str
    summary: str
    advice: str
    page: bool
    created_at: datetime
    fired_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    last_seen: datetime | None


class EventOut(BaseModel):
    time: datetime
    from_state: AlertState | None
    to_state: AlertState
    actor: str
    note: str


class AlertDetail(AlertOut):
    events: list[EventOut]


class AckRequest(BaseModel):
    note: str = Field(default="", max_length=2000)


class SilenceOut(BaseModel):
    id: int
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    site: str | None
    room: str | None
    sensor: str | None
    rule: str | None
    created_at: datetime | None
    active: bool


class SilenceCreate(BaseModel):
    """What to silence (at least one of site, room, sensor, rule) and until when."""

    ends_at: datetime
    reason: str = Field(min_length=1, max_length=2000)
    starts_at: datetime | None = None
    site: str | None = Field(default=None, min_length=1, max_length=64)
    room: str | None = Field(default=None, min_length=1, max_length=64)
    sensor: str | None = Field(default=None, min_length=1, max_length=128)
    rule: str | None = Field(default=None, min_length=1, max_length=128)


def _number(value: float | None) -> float | None:
    return (
        None if value is None or value != value or value in (float("inf"), -float("inf")) else value
    )


def alert_out(alert: Alert) -> AlertOut:
    return AlertOut(**_alert_fields(alert))


def _alert_fields(alert: Alert) -> dict[str, Any]:
    return dict(
        id=alert.id,
        rule=alert.rule,
        subject=alert.subject.id,
        site=alert.subject.site,
        room=alert.subject.room,
        sensor=alert.subject.sensor,
        state=alert.state,
        severity=alert.severity.label,
        since=alert.since,
        value=_number(alert.value),
        peak_value=_number(alert.peak_value),
        threshold=_number(alert.threshold),
        unit=alert.unit,
        summary=alert.summary,
        advice=alert.advice,
        page=alert.page,
        created_at=alert.created_at,
        fired_at=alert.fired_at,
        acknowledged_at=alert.acknowledged_at,
        acknowledged_by=alert.acknowledged_by,
        resolved_at=alert.resolved_at,
        last_seen=alert.last_seen,
    )


def _event_out(event: Event) -> EventOut:
    return EventOut(
        time=event.time,
        from_state=event.from_state,
        to_state=event.to_state,
        actor=event.actor,
        note=event.note,
    )


def _silence_out(silence: Silence, now: datetime) -> SilenceOut:
    return SilenceOut(
        id=silence.id,
        starts_at=silence.starts_at,
        ends_at=silence.ends_at,
        reason=silence.reason,
        created_by=silence.created_by,
        site=silence.site,
        room=silence.room,
        sensor=silence.sensor,
        rule=silence.rule,
        created_at=silence.created_at,
        active=silence.active_at(now),
    )


def _get(services: Services, alert_id: int) -> Alert:
    try:
        return services.state.get(alert_id)
    except AlertNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


def _acknowledge(
    services: Services, alert_id: int, actor: str, note: str, token: str | None = None
) -> Alert:
    try:
        return actions.acknowledge(
            services.state, alert_id, actor, services.clock.now(), note, token
        )
    except AlertNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except TransitionError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except actions.ActionError as exc:
        raise invalid(("body", "actor"), str(exc)) from None


# -- the API ---------------------------------------------------------------------------------


@router.get(
    "/api/alerts", response_model=list[AlertOut], responses=AUTH_RESPONSES, dependencies=[Reader]
)
def list_alerts(
    services: ServicesDep,
    state: Annotated[list[AlertState] | None, Query(description="Any of these states")] = None,
    severity: Annotated[list[SeverityName] | None, Query()] = None,
    site: str | None = None,
    room: str | None = None,
    rule: Annotated[str | None, Query(description="A rule, or a class such as `sensor`")] = None,
    since: Annotated[datetime | None, Query(description="Updated at or after")] = None,
    until: Annotated[datetime | None, Query(description="Began before")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AlertOut]:
    """Alerts newest first: open ones unless ``state`` says otherwise."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise invalid(("query", name), "give a time zone (…Z or +01:00)")
    found = services.state.list_alerts(
        states=state or list(OPEN_STATES), since=since, limit=LIST_SCAN
    )
    severities = None if severity is None else {Severity.parse(s) for s in severity}
    result: list[AlertOut] = []
    for alert in found:
        if severities is not None and alert.severity not in severities:
            continue
        if site is not None and alert.subject.site != site:
            continue
        if room is not None and alert.subject.room != room:
            continue
        if rule is not None and not (alert.rule == rule or alert.rule.startswith(rule + ".")):
            continue
        if until is not None and not alert.since < until:
            continue
        result.append(alert_out(alert))
        if len(result) >= limit:
            break
    return result


@router.get(
    "/api/alerts/{alert_id}",
    response_model=AlertDetail,
    responses={**AUTH_RESPONSES, **_NOT_FOUND},
    dependencies=[Reader],
)
def get_alert(alert_id: AlertId, services: ServicesDep) -> AlertDetail:
    """One alert with every recorded transition (who, when, note)."""
    alert = _get(services, alert_id)
    events = [_event_out(e) for e in services.state.events(alert_id)]
    return AlertDetail(**_alert_fields(alert), events=events)


@router.post(
    "/api/alerts/{alert_id}/ack",
    response_model=AlertOut,
    responses={**AUTH_RESPONSES, **_NOT_FOUND, **_CONFLICT},
)
def acknowledge(
    alert_id: AlertId, user: Responder, services: ServicesDep, body: AckRequest | None = None
) -> AlertOut:
    """Acknowledge a firing alert (responder): you are recorded as the actor."""
    note = "" if body is None else body.note
    return alert_out(_acknowledge(services, alert_id, user.name, note))


@router.get(
    "/api/silences",
    response_model=list[SilenceOut],
    responses=AUTH_RESPONSES,
    dependencies=[Reader],
)
def list_silences(
    services: ServicesDep,
    active: Annotated[bool, Query(description="Only those in force now")] = False,
) -> list[SilenceOut]:
    now = services.clock.now()
    return [
        _silence_out(s, now) for s in services.state.silences(active_at=now if active else None)
    ]


@router.post(
    "/api/silences",
    response_model=SilenceOut,
    status_code=status.HTTP_201_CREATED,
    responses=AUTH_RESPONSES,
)
def create_silence(body: SilenceCreate, user: Responder, services: ServicesDep) -> SilenceOut:
    """Silence notifications (not evaluation) of what matches until ``ends_at`` (responder)."""
    for name, value in (("ends_at", body.ends_at), ("starts_at", body.starts_at)):
        if value is not None and value.tzinfo is None:
            raise invalid(("body", name), "give a time zone (…Z or +01:00)")
    now = services.clock.now()
    try:
        silence = actions.silence(
            services.state,
            ends_at=body.ends_at,
            reason=body.reason,
            created_by=user.name,
            now=now,
            site=body.site,
            room=body.room,
            sensor=body.sensor,
            rule=body.rule,
            starts_at=body.starts_at,
        )
    except actions.ActionError as exc:
        raise invalid(("body",), str(exc)) from None
    return _silence_out(silence, now)


@router.post(
    "/api/silences/{silence_id}/end",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**AUTH_RESPONSES, 404: described("No active silence of that id")},
)
def end_silence(
    silence_id: Annotated[int, Path(ge=1, le=2**62)], user: Responder, services: ServicesDep
) -> None:
    """End a silence now (responder)."""
    try:
        actions.end_silence(services.state, silence_id, services.clock.now())
    except actions.ActionError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


# -- the ack link of notifications -----------------------------------------------------------

ACK_LINK_ACTOR = "ack link"


def _same(sent: str, secret: str) -> bool:
    """Constant-time comparison that takes any text (``compare_digest`` refuses non-ASCII str)."""
    return hmac.compare_digest(sent.encode(), secret.encode())


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    text = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width">'
        # no icon to fetch (a browser would ask for /favicon.ico, which nothing serves)
        '<link rel=icon href="data:,">'
        f"<meta name=robots content=noindex><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    # The URL carries the token: no caching, and no Referer to wherever the page links.
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    return HTMLResponse(text, status_code, headers=headers)


_HTML: dict[str, Any] = {"content": {"text/html": {"schema": {"type": "string"}}}}


@router.get(
    "/alerts/{alert_id}/ack",
    response_class=HTMLResponse,
    responses={200: _HTML, 401: _HTML, 404: _HTML},
    tags=["ack link"],
)
def ack_page(
    alert_id: AlertId,
    services: ServicesDep,
    token: Annotated[str, Query(max_length=256)] = "",
) -> HTMLResponse:
    """The page an ack link opens: the alert and a button; opening it changes nothing."""
    try:
        alert = services.state.get(alert_id)
    except AlertNotFoundError:
        return _page("No such alert", f"<p>There is no alert {alert_id}.</p>", 404)
    if not token or not _same(token, alert.ack_token):
        return _page("Link not valid", "<p>This acknowledgement link is not valid.</p>", 401)
    summary = f"<p>{html.escape(alert.summary)}</p><p>State: {alert.state.value}</p>"
    link = f'<p><a href="/alerts/{alert_id}">The alert\'s page</a></p>'
    if alert.state is not AlertState.FIRING:
        return _page(f"Alert {alert_id}", summary + "<p>Nothing to acknowledge.</p>" + link)
    form = (
        f'<form method=post action="/alerts/{alert_id}/ack">'
        f'<input type=hidden name=token value="{html.escape(token)}">'
        "<p><label>Your name <input name=name maxlength=64></label></p>"
        "<p><label>Note <input name=note maxlength=2000></label></p>"
        "<p><button type=submit>Acknowledge</button></p></form>"
    )
    return _page(f"Acknowledge alert {alert_id}?", summary + form + link)


@router.post(
    "/alerts/{alert_id}/ack",
    response_class=HTMLResponse,
    responses={
        303: {"description": "Acknowledged: on to the alert's page, `/alerts/{alert_id}`"},
        401: _HTML,
        404: _HTML,
        409: _HTML,
    },
    tags=["ack link"],
)
def ack_by_link(
    alert_id: AlertId,
    services: ServicesDep,
    token: Annotated[str, Form(max_length=256)] = "",
    name: Annotated[str, Form(max_length=64)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Acknowledge with the link's token (no login: the token is the credential). The actor is
    the name given, marked as coming from the ack link. Done, the browser is sent on (303) to
    the alert's page, which shows it acknowledged (after a login, if the pages need one)."""
    if not token:
        return _page("Link not valid", "<p>No acknowledgement token was sent.</p>", 401)
    who = name.strip()
    actor = f"{who} ({ACK_LINK_ACTOR})" if who else ACK_LINK_ACTOR
    try:
        if not _same(token, services.state.get(alert_id).ack_token):
            return _page("Link not valid", "<p>This acknowledgement link is not valid.</p>", 401)
        actions.acknowledge(services.state, alert_id, actor, services.clock.now(), note, token)
    except AlertNotFoundError:
        return _page("No such alert", f"<p>There is no alert {alert_id}.</p>", 404)
    except TransitionError as exc:
        return _page("Not acknowledged", f"<p>{html.escape(str(exc))}</p>", 409)
    # No Referer either: the confirmation page's URL carried the token.
    return RedirectResponse(
        f"/alerts/{alert_id}",
        status.HTTP_303_SEE_OTHER,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )
