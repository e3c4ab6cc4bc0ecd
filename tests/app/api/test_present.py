"""The present state the pages need from `/api/sites…` and `/api/sensors/{id}`: each sensor's
calibration in force (from the registry), its health (the health rules' open alerts, with
since), its battery when the device sends it apart, and the order of statuses (out beats
silent)."""

from __future__ import annotations

from datetime import timedelta

from repoclimate.alerts.model import AlertState
from repoclimate.app.users import Role
from repoclimate.sensors.reading import Reading
from tests.app.api.conftest import NOW, World, fire


def test_calibration_in_force_is_the_latest_started_entry(world: World) -> None:
    room = world.client(Role.VIEWER).get("/api/sites/city/rooms/stack-1").json()
    sensors = {s["id"]: s for s in room["sensors"]}
    # 2026-05-20 is midnight in London (BST, UTC+1): 23:00 UTC the day before
    assert sensors["s1"]["calibration"] == {
        "since": "2026-05-19T23:00:00Z",
        "temperature_offset": -0.2,
        "humidity_offset": 1.5,
        "note": "ref 7",
    }
    assert sensors["s2"]["calibration"] is None  # no entry in the registry
    # the listing and one sensor say the same
    listing = world.client(Role.VIEWER).get("/api/sites").json()
    listed = next(s for r in listing[0]["rooms"] for s in r["sensors"] if s["id"] == "s1")
    assert listed["calibration"] == sensors["s1"]["calibration"]
    # once the third entry's day begins in London, it is the one in force
    world.clock.set(NOW.replace(month=6, day=30, hour=23, minute=1))
    later = world.client(Role.VIEWER).get("/api/sensors/s1").json()["calibration"]
    assert (later["since"], later["humidity_offset"]) == ("2026-06-30T23:00:00Z", 2.0)


def test_health_lists_the_health_rules_open_alerts_with_since(world: World) -> None:
    stuck = fire(world.services.state, sensor="s2", rule="sensor.stuck")
    battery = fire(world.services.state, sensor="s2", rule="sensor.battery_low")
    body = world.client(Role.VIEWER).get("/api/sensors/s2").json()
    assert [(h["alert"], h["rule"], h["state"], h["since"]) for h in body["health"]] == [
        (stuck, "sensor.stuck", "firing", "2026-06-01T11:00:00Z"),
        (battery, "sensor.battery_low", "firing", "2026-06-01T11:00:00Z"),
    ]
    # the excursion alert about s1 is an open alert, not a health finding
    s1 = world.client(Role.VIEWER).get("/api/sensors/s1").json()
    assert s1["open_alerts"] == [world.firing_id] and s1["health"] == []
    # acknowledged is still open; resolved is gone
    world.client(Role.RESPONDER).post(f"/api/alerts/{stuck}/ack", json={"note": ""})
    with world.services.state.transaction() as tx:
        tx.update_alert(battery, NOW, state=AlertState.RESOLVED, resolved_at=NOW)
    health = world.client(Role.VIEWER).get("/api/sensors/s2").json()["health"]
    assert [(h["rule"], h["state"]) for h in health] == [("sensor.stuck", "acknowledged")]


def test_a_room_with_a_sensor_out_and_one_silent_is_out(world: World) -> None:
    later = NOW + timedelta(minutes=20)  # s1 and s2 both silent (3 × 5 min) …
    world.clock.set(later)
    room = world.client(Role.VIEWER).get("/api/sites/city/rooms/stack-1").json()
    assert room["status"] == "silent"
    # … until s2 speaks again, out of band: the room is out, its silent sensor counted beside
    world.services.store.write([Reading("s2", later, 19.0, 72.0, site="city", room="stack-1")])
    for room in (
        world.client(Role.VIEWER).get("/api/sites/city/rooms/stack-1").json(),
        next(r for r in world.client(Role.VIEWER).get("/api/sites").json()[0]["rooms"]),
    ):
        assert {s["id"]: s["status"] for s in room["sensors"]} == {"s1": "silent", "s2": "out"}
        assert room["status"] == "out"
    assert world.client(Role.VIEWER).get("/api/sites/city").json()["status"] == "out"


def test_battery_sent_apart_is_kept_with_the_latest_values(world: World) -> None:
    world.services.store.write(
        [Reading("s1", NOW + timedelta(minutes=1), 18.5, 50.0, site="city", room="stack-1")]
    )
    s1 = world.client(Role.VIEWER).get("/api/sensors/s1").json()
    assert s1["time"] == "2026-06-01T12:01:00Z" and s1["temperature"] == 18.5
    assert s1["battery"] == 90.0  # from the message before, which carried it
