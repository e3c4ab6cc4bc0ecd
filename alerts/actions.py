"""What people do to alerts — list, acknowledge, silence — as library calls: the CLI uses them
now, the API will later. Each is one transaction on the alert state; time is an argument."""

from __future__ import annotations

from datetime import datetime

from repoclimate.alerts.lifecycle import acknowledge as _acknowledge
from repoclimate.alerts.model import OPEN_STATES, Alert, Silence
from repoclimate.alerts.state import AlertStore


class ActionError(ValueError):
    """A request that cannot be done as asked (the message says why)."""


def list_alerts(state: AlertStore, include_resolved: bool = False, limit: int = 200) -> list[Alert]:
    """Open alerts (or all, newest first)."""
    states = None if include_resolved else list(OPEN_STATES)
    return state.list_alerts(states=states, limit=limit)


def acknowledge(
    state: AlertStore,
    alert_id: int,
    actor: str,
    now: datetime,
    note: str = "",
    token: str | None = None,
) -> Alert:
    """Acknowledge a firing alert: its escalation and reminders stop; the others who were paged
    are told at the next dispatch. Raises `AlertNotFoundError` or `TransitionError`."""
    if not actor.strip():
        raise ActionError("say who acknowledges (actor)")
    with state.transaction() as tx:
        return _acknowledge(tx, alert_id, actor.strip(), now, note, token)


def silence(
    state: AlertStore,
    *,
    ends_at: datetime,
    reason: str,
    created_by: str,
    now: datetime,
    site: str | None = None,
    room: str | None = None,
    sensor: str | None = None,
    rule: str | None = None,
    starts_at: datetime | None = None,
) -> Silence:
    """Silence notifications for a site, room, sensor and/or rule (class) until ``ends_at``.

    Alerts are still evaluated and recorded while silenced; when the silence ends, an alert
    that is still firing is notified then.
    """
    if not any((site, room, sensor, rule)):
        raise ActionError("a silence needs a site, room, sensor or rule to match")
    if not reason.strip():
        raise ActionError("a silence needs a reason")
    begins = starts_at or now
    if ends_at <= begins:
        raise ActionError("a silence must end after it starts")
    with state.transaction() as tx:
        silence_id = tx.insert_silence(
            site=site,
            room=room,
            sensor=sensor,
            rule=rule,
            starts_at=begins,
            ends_at=ends_at,
            reason=reason.strip(),
            created_by=created_by,
            now=now,
        )
    return next(s for s in state.silences() if s.id == silence_id)


def end_silence(state: AlertStore, silence_id: int, now: datetime) -> None:
    """End a silence now."""
    with state.transaction() as tx:
        if not tx.end_silence(silence_id, now):
            raise ActionError(f"no active silence with id {silence_id}")
