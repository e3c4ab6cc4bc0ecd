"""A room's present state is kept between requests (`sites.RoomSnapshots`) only while nothing
it was computed from changed: a reading written by anyone, an alert opened or acknowledged, a
sensor turning silent and a calibration entry coming into force all show in the next answer,
and a kept answer is byte for byte the one computed afresh."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from repoclimate.alerts.model import Subject
from repoclimate.app.api import create_app
from repoclimate.app.api.sites import RoomSnapshots
from repoclimate.app.users import Role
from repoclimate.history.sqlite import SQLiteStore
from repoclimate.sensors.reading import Reading
from tests.app import seeding
from tests.app.api.conftest import BASE_URL, NOW, World, fire

ROOM = "/api/sites/city/rooms/stack-1"


def _app(world: World, max_age_s: float = 300.0, **services: Any) -> FastAPI:
    """The API with answers kept up to ``max_age_s`` (long: expiry by age proves nothing)."""
    settings = world.services.settings.model_copy(deep=True)
    settings.api.present_cache_s = max_age_s
    return create_app(dataclasses.replace(world.services, settings=settings, **services))


def _client(world: World, app: FastAPI, role: Role = Role.VIEWER) -> TestClient:
    return TestClient(
        app, base_url=BASE_URL, headers={"Authorization": f"Bearer {world.tokens[role]}"}
    )


def _snapshots(app: FastAPI) -> RoomSnapshots:
    snapshots: RoomSnapshots = app.state.room_snapshots
    return snapshots


def _sensor(body: dict[str, Any], sensor: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in body["sensors"] if s["id"] == sensor)
    return found


def test_a_room_asked_again_is_answered_from_the_kept_state(world: World) -> None:
    app = _app(world)
    client = _client(world, app)
    first = client.get(ROOM)
    second = client.get(ROOM)
    assert first.status_code == second.status_code == 200
    assert second.content == first.content
    assert (_snapshots(app).misses, _snapshots(app).hits) == (1, 1)
    # the same room by its id alone is the same answer, from the same kept state
    assert client.get("/api/rooms/stack-1").content == first.content
    assert _snapshots(app).hits == 2


def test_a_kept_answer_is_the_one_computed_afresh(world: World) -> None:
    kept, fresh = _client(world, _app(world)), _client(world, _app(world, max_age_s=0))
    for minutes in (0, 3, 11, 16, 40, 2 * 24 * 60):
        world.clock.set(NOW + timedelta(minutes=minutes))
        for path in (ROOM, "/api/sites/city/rooms/vault", "/api/rooms/vault"):
            kept.get(path)  # fills or hits
            assert kept.get(path).content == fresh.get(path).content, (minutes, path)
    assert _snapshots(fresh.app).hits == 0  # type: ignore[arg-type]


def test_a_new_reading_shows_in_the_next_answer(world: World) -> None:
    app = _app(world)
    client = _client(world, app)
    assert _sensor(client.get(ROOM).json(), "s2")["humidity"] == 72.0
    # written in this process (the collector's thread has a connection of its own) …
    later = NOW + timedelta(seconds=30)
    world.services.store.write([Reading("s2", later, 19.0, 61.0, site="city", room="stack-1")])
    assert _sensor(client.get(ROOM).json(), "s2")["humidity"] == 61.0
    # … and by another process: any store on the file
    other = SQLiteStore(world.services.store.path)  # type: ignore[attr-defined]
    try:
        other.write(
            [Reading("s2", later + timedelta(seconds=30), 19.5, 58.0, site="city", room="stack-1")]
        )
    finally:
        other.close()
    body = client.get(ROOM).json()
    assert (_sensor(body, "s2")["humidity"], _sensor(body, "s2")["temperature"]) == (58.0, 19.5)
    assert _snapshots(app).hits == 0


def test_an_alert_opened_or_acknowledged_shows_in_the_next_answer(world: World) -> None:
    app = _app(world)
    viewer, responder = _client(world, app), _client(world, app, Role.RESPONDER)
    before = viewer.get(ROOM).json()
    assert [(a["id"], a["state"]) for a in before["open_alerts"]] == [(world.firing_id, "firing")]
    answer = responder.post(f"/api/alerts/{world.firing_id}/ack", json={"note": "seen"})
    assert answer.status_code == 200, answer.text
    acked = viewer.get(ROOM).json()
    assert [(a["state"], a["acknowledged_by"]) for a in acked["open_alerts"]] == [
        ("acknowledged", "responder")
    ]
    stuck = fire(world.services.state, sensor="s2", rule="sensor.stuck")  # the alert engine
    body = viewer.get(ROOM).json()
    assert stuck in _sensor(body, "s2")["open_alerts"]
    assert [h["alert"] for h in _sensor(body, "s2")["health"]] == [stuck]
    # an alert about another room changes nothing here: the kept answer stands
    hits = _snapshots(app).hits
    vault = seeding.rh_finding(Subject("city", "vault", "v1"), NOW, 72.0, 65.0, rule="sensor.stuck")
    seeding.fire(world.services.state, [vault], NOW)
    assert viewer.get(ROOM).json() == body
    assert _snapshots(app).hits == hits + 1


def test_a_sensor_turns_silent_on_time_alone(world: World) -> None:
    """s1 and s2 last spoke at NOW; silent after 3 × 300 s. Answers kept for up to 300 s must
    not hide that."""
    client = _client(world, _app(world))
    assert _sensor(client.get(ROOM).json(), "s1")["status"] == "out"  # 18.99 °C, humid
    world.clock.set(NOW + timedelta(seconds=899))
    assert _sensor(client.get(ROOM).json(), "s1")["status"] == "out"
    world.clock.set(NOW + timedelta(seconds=901))
    body = client.get(ROOM).json()
    assert (_sensor(body, "s1")["status"], body["status"]) == ("silent", "silent")


def test_a_calibration_entry_comes_into_force_on_time_alone(world: World) -> None:
    """s1's third entry starts 2026-07-01 in London: 2026-06-30 23:00 UTC."""
    client = _client(world, _app(world))
    start = NOW.replace(month=6, day=30, hour=23, minute=0)
    world.clock.set(start - timedelta(seconds=30))
    assert _sensor(client.get(ROOM).json(), "s1")["calibration"]["humidity_offset"] == 1.5
    world.clock.set(start + timedelta(seconds=1))
    assert _sensor(client.get(ROOM).json(), "s1")["calibration"]["humidity_offset"] == 2.0


def test_a_reload_drops_the_kept_answers(world: World) -> None:
    app = _app(world)
    client = _client(world, app)
    client.get(ROOM)
    services = app.state.services
    assert services.reload() == []  # the same file, read again: a new registry
    client.get(ROOM)
    assert (_snapshots(app).misses, _snapshots(app).hits) == (2, 0)


class _Unversioned:
    """A store offering no data version (as InfluxDB): nothing may be kept."""

    def __init__(self, store: object) -> None:
        self.store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def test_a_store_without_a_version_keeps_nothing(world: World) -> None:
    app = _app(world, store=_Unversioned(world.services.store))
    client = _client(world, app)
    assert client.get(ROOM).content == client.get(ROOM).content
    assert (_snapshots(app).misses, _snapshots(app).hits) == (2, 0)


def test_a_value_merged_from_an_older_reading_goes_when_that_reading_leaves_the_window(
    world: World,
) -> None:
    """A device sending one quantity per message: v1's temperature comes from a reading 59 min
    old, its latest carries only the battery. Two minutes on, that reading is out of the last
    hour, and so is the temperature shown — though no reading came."""
    v1 = [
        Reading("v1", NOW - timedelta(minutes=59), 16.0, 35.0, site="city", room="vault"),
        Reading("v1", NOW - timedelta(minutes=1), battery=80.0, site="city", room="vault"),
    ]
    world.services.store.write(v1)
    client = _client(world, _app(world))
    path = "/api/sites/city/rooms/vault"
    shown = _sensor(client.get(path).json(), "v1")
    assert (shown["temperature"], shown["battery"]) == (16.0, 80.0)
    world.clock.set(NOW + timedelta(minutes=2))
    shown = _sensor(client.get(path).json(), "v1")
    assert (shown["temperature"], shown["battery"], shown["status"]) == (None, 80.0, "missing")
