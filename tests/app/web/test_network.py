"""The network view's order (`app.web.network`): out before silent before near before ok; then
more rooms in that state first; then the longest-standing condition first; then by name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from repoclimate.alerts.model import AlertState
from repoclimate.app.api.alerts import AlertOut
from repoclimate.app.api.sites import RoomState, SensorState, SensorStatus, SiteState
from repoclimate.app.web.network import ranked

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def sensor(status: SensorStatus, heard: timedelta | None = timedelta(0)) -> SensorState:
    return SensorState(
        id="x",
        name=None,
        site="s",
        room="r",
        surface=False,
        expected_interval_s=300,
        time=None if heard is None else NOW - heard,
        temperature=None,
        humidity=None,
        battery=None,
        dew_point=None,
        status=status,
        open_alerts=[],
        calibration=None,
        health=[],
    )


def alert(since: timedelta) -> AlertOut:
    return AlertOut(
        id=1,
        rule="excursion.rh",
        subject="s/r",
        site="s",
        room="r",
        sensor=None,
        state=AlertState.FIRING,
        severity="warning",
        since=NOW - since,
        value=None,
        peak_value=None,
        threshold=None,
        unit="%RH",
        summary="",
        advice="",
        page=True,
        created_at=NOW,
        fired_at=NOW,
        acknowledged_at=None,
        acknowledged_by=None,
        resolved_at=None,
        last_seen=None,
    )


def room(
    status: SensorStatus,
    alert_since: timedelta | None = None,
    heard: timedelta | None = timedelta(0),
) -> RoomState:
    return RoomState(
        id="r",
        site="s",
        name=None,
        profile="iso11799-paper",
        holdings="paper",
        band=None,
        status=status,
        sensors=[sensor(status, heard)],
        open_alerts=[] if alert_since is None else [alert(alert_since)],
    )


def site(name: str, *rooms: RoomState) -> SiteState:
    order: list[SensorStatus] = ["out", "silent", "near", "ok"]
    status = next(s for s in order if any(r.status == s for r in rooms))
    return SiteState(id=name, name=name, timezone="UTC", status=status, rooms=list(rooms))


def order(*sites: SiteState) -> list[str]:
    return [r.site.id for r in ranked(list(sites), NOW)]


def test_out_ranks_before_silent_before_near_before_ok() -> None:
    assert order(
        site("a-ok", room("ok")),
        site("b-near", room("near")),
        site("c-silent", room("silent"), room("silent"), room("silent")),
        site("d-out", room("out"), room("ok")),
    ) == ["d-out", "c-silent", "b-near", "a-ok"]


def test_a_site_out_and_silent_ranks_before_one_only_out() -> None:
    # same number of rooms out: the one that also has a silent room is worse
    assert order(
        site("a", room("out"), room("ok")),
        site("b", room("out"), room("silent")),
    ) == ["b", "a"]


def test_more_rooms_out_first_then_the_longest_standing() -> None:
    assert order(
        site("one-out-long", room("out", timedelta(days=3))),
        site("two-out", room("out", timedelta(hours=1)), room("out", timedelta(hours=1))),
        site("one-out-new", room("out", timedelta(hours=2))),
        site("one-out-no-alert-yet", room("out")),
    ) == ["two-out", "one-out-long", "one-out-new", "one-out-no-alert-yet"]


def test_silent_sites_longest_silence_first_never_heard_longest_of_all() -> None:
    assert order(
        site("a-heard-1h", room("silent", heard=timedelta(hours=1))),
        site("b-heard-2d", room("silent", heard=timedelta(days=2))),
        site("c-never-heard", room("silent", heard=None)),
    ) == ["c-never-heard", "b-heard-2d", "a-heard-1h"]
    ranks = ranked([site("x", room("silent", heard=timedelta(days=2)))], NOW)
    assert ranks[0].since == NOW - timedelta(days=2)
    assert ranks[0].rooms == {"silent": 1}


def test_equal_sites_are_ordered_by_name() -> None:
    assert order(site("Beta", room("ok")), site("alpha", room("ok"))) == ["alpha", "Beta"]
