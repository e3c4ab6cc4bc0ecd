"""The resource routers over a real SQLite history store and alert state: present state of
sites, rooms and sensors; history raw, aggregated, CSV and derived; alerts, silences, the ack
link; unassigned sensors."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import numpy as np
import pytest

from repoclimate.alerts.model import AlertState
from repoclimate.app.users import Role
from repoclimate.ingest.pipeline import SAMPLE_PAYLOAD_BYTES, Pipeline, UnassignedSensors
from repoclimate.ingest.settings import TopicRoute
from repoclimate.preservation.metrics import room_metrics
from repoclimate.preservation.psychrometrics import dew_point
from repoclimate.sensors.reading import Reading
from repoclimate.sensors.registry import parse_registry
from tests.app.api.conftest import NOW, World, fire


def test_room_state_latest_dew_point_band_status_and_alerts(world: World) -> None:
    room = world.client(Role.VIEWER).get("/api/sites/city/rooms/stack-1").json()
    assert room["band"] is not None and room["profile"] == "iso11799-paper"
    sensors = {s["id"]: s for s in room["sensors"]}
    s1 = sensors["s1"]
    assert s1["time"].startswith("2026-06-01T12:00")
    assert s1["humidity"] == 50.0
    assert s1["dew_point"] == pytest.approx(float(dew_point(s1["temperature"], 50.0)), abs=1e-9)
    assert s1["open_alerts"] == [world.firing_id]
    # s2's latest RH 72 % is above the paper profile's upper limit
    assert room["band"]["rh_max_pct"] < 72.0
    assert sensors["s2"]["status"] == "out"
    assert room["status"] == "out"
    assert [a["id"] for a in room["open_alerts"]] == [world.firing_id]
    assert "ack_token" not in room["open_alerts"][0]
    # /api/rooms/{id} names the same room
    assert world.client(Role.VIEWER).get("/api/rooms/stack-1").json() == room


def test_silent_sensor_and_site_listing(world: World) -> None:
    sites = world.client(Role.VIEWER).get("/api/sites").json()
    assert [s["id"] for s in sites] == ["city"]
    vault = next(r for r in sites[0]["rooms"] if r["id"] == "vault")
    assert vault["sensors"][0]["status"] == "silent"  # last heard 2 h ago, interval 5 min
    assert vault["status"] == "silent"
    # the listing (store's latest of all) and one room (recent history) agree
    for room in sites[0]["rooms"]:
        alone = world.client(Role.VIEWER).get(f"/api/sites/city/rooms/{room['id']}").json()
        assert alone == room
    one = world.client(Role.VIEWER).get("/api/sensors/v1").json()
    assert one["status"] == "silent" and one["temperature"] == 16.0
    assert world.client(Role.VIEWER).get("/api/sensors/nope").status_code == 404
    assert world.client(Role.VIEWER).get("/api/sites/nope").status_code == 404


def test_latest_merges_quantities_sent_in_separate_messages(world: World) -> None:
    world.services.store.write(
        [Reading("s1", NOW + timedelta(minutes=1), humidity=66.0, site="city", room="stack-1")]
    )
    s1 = world.client(Role.VIEWER).get("/api/sensors/s1").json()
    assert s1["time"] == "2026-06-01T12:01:00Z"
    assert s1["humidity"] == 66.0
    assert s1["temperature"] == pytest.approx(18.0 + 287 / 288)  # from the message before
    assert s1["dew_point"] is not None


def test_sensor_history_raw_and_aggregated(world: World) -> None:
    client = world.client(Role.VIEWER)
    start, end = (NOW - timedelta(hours=3)).isoformat(), (NOW + timedelta(minutes=1)).isoformat()
    raw = client.get("/api/sensors/s1/history", params={"start": start, "end": end}).json()
    assert raw["every"] is None
    assert len(raw["points"]) == 37  # 3 h at 5 min, both ends inside
    assert raw["points"][0]["time"] == "2026-06-01T09:00:00Z"
    hourly = client.get(
        "/api/sensors/s1/history", params={"start": start, "end": end, "every": "1h"}
    ).json()
    points = hourly["points"]
    assert [p["count"] for p in points] == [12, 12, 12, 1]
    first_hour = raw["points"][:12]
    temperatures = [p["temperature"] for p in first_hour]
    assert points[0]["temperature"] == pytest.approx(sum(temperatures) / 12)
    assert points[0]["temperature_min"] == min(temperatures)
    assert points[0]["temperature_max"] == max(temperatures)


def test_history_derived_series_match_room_metrics(world: World) -> None:
    client = world.client(Role.VIEWER)
    params = {
        "start": (NOW - timedelta(hours=6)).isoformat(),
        "end": NOW.isoformat(),
        "derived": ["dew_point", "mrf", "vtt", "pi", "emc"],
    }
    body = client.get("/api/sensors/s2/history", params=params).json()
    points = body["points"]
    metrics = room_metrics(
        [np.datetime64(p["time"].rstrip("Z")) for p in points],
        [p["temperature"] for p in points],
        [p["humidity"] for p in points],
        holdings="paper",
    )
    assert [p["dew_point"] for p in points] == pytest.approx(list(metrics.dew_point))
    assert [p["pi"] for p in points] == pytest.approx(list(metrics.pi))
    assert [p["emc"] for p in points] == pytest.approx(list(metrics.emc))
    assert [p["mrf"] for p in points] == pytest.approx(list(metrics.mrf))
    assert [p["vtt"] for p in points] == pytest.approx(list(metrics.vtt_index))
    assert body["derived"] == ["dew_point", "mrf", "vtt", "pi", "emc"]


def test_room_history_csv(world: World) -> None:
    client = world.client(Role.VIEWER)
    params = {
        "start": (NOW - timedelta(hours=1)).isoformat(),
        "end": NOW.isoformat(),
        "every": "1h",
        "derived": "dew_point",
        "format": "csv",
    }
    answer = client.get("/api/sites/city/rooms/stack-1/history", params=params)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert {r["sensor"] for r in rows} == {"s1", "s2"}
    assert list(rows[0]) == [
        "time",
        "sensor",
        "temperature",
        "humidity",
        "temperature_min",
        "temperature_max",
        "humidity_min",
        "humidity_max",
        "count",
        "dew_point",
    ]
    assert all(float(r["dew_point"]) < float(r["temperature"]) for r in rows)


def test_history_refuses_bad_windows(world: World) -> None:
    client = world.client(Role.VIEWER)
    url = "/api/sensors/s1/history"
    assert (
        client.get(url, params={"start": NOW.isoformat(), "end": NOW.isoformat()}).status_code
        == 422
    )
    naive = {"start": "2026-05-01T00:00:00"}
    assert client.get(url, params=naive).status_code == 422
    too_long = {"start": (NOW - timedelta(days=40)).isoformat(), "end": NOW.isoformat()}
    assert client.get(url, params=too_long).status_code == 422
    assert client.get(url, params={**too_long, "every": "1d"}).status_code == 200
    assert client.get(url, params={"every": "2h"}).status_code == 422


def test_alerts_list_filters_and_detail_with_events(world: World) -> None:
    other = fire(world.services.state, sensor="s2", rule="sensor.silent")
    client = world.client(Role.VIEWER)
    everything = client.get("/api/alerts").json()
    assert [a["id"] for a in everything] == [other, world.firing_id]
    by_rule = client.get("/api/alerts", params={"rule": "sensor"}).json()
    assert [a["id"] for a in by_rule] == [other]
    assert client.get("/api/alerts", params={"room": "vault"}).json() == []
    assert (
        len(client.get("/api/alerts", params={"severity": "warning", "site": "city"}).json()) == 2
    )
    assert client.get("/api/alerts", params={"severity": "critical"}).json() == []
    assert client.get("/api/alerts", params={"state": "resolved"}).json() == []
    before = {"until": (NOW - timedelta(hours=2)).isoformat()}
    assert client.get("/api/alerts", params=before).json() == []
    assert client.get("/api/alerts", params={"since": "2026-06-01T00:00:00"}).status_code == 422
    detail = client.get(f"/api/alerts/{world.firing_id}").json()
    assert detail["state"] == "firing"
    assert [e["to_state"] for e in detail["events"]] == ["firing"]
    assert "ack_token" not in detail
    assert client.get("/api/alerts/999").status_code == 404


def test_silences_create_list_end(world: World) -> None:
    responder = world.client(Role.RESPONDER)
    ends = (NOW + timedelta(hours=4)).isoformat()
    made = responder.post(
        "/api/silences", json={"room": "stack-1", "reason": "works", "ends_at": ends}
    )
    assert made.status_code == 201, made.text
    silence = made.json()
    assert silence["created_by"] == "responder" and silence["active"] is True
    viewer = world.client(Role.VIEWER)
    assert [s["id"] for s in viewer.get("/api/silences", params={"active": True}).json()] == [
        silence["id"]
    ]
    refused = responder.post("/api/silences", json={"reason": "x", "ends_at": ends})
    assert refused.status_code == 422  # matches nothing
    assert responder.post(f"/api/silences/{silence['id']}/end").status_code == 204
    assert viewer.get("/api/silences", params={"active": True}).json() == []
    assert responder.post(f"/api/silences/{silence['id']}/end").status_code == 404


def test_ack_link_get_changes_nothing_post_with_token_acknowledges(world: World) -> None:
    alert = world.services.state.get(world.firing_id)
    client = world.client()  # nobody logged in: the token is the credential
    url = f"/alerts/{alert.id}/ack"
    page = client.get(url, params={"token": alert.ack_token})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<form method=post" in page.text and alert.ack_token in page.text
    for _ in range(3):  # a mail scanner following the link, repeatedly
        client.get(url, params={"token": alert.ack_token})
    after_get = world.services.state.get(alert.id)
    assert after_get.state is AlertState.FIRING
    assert len(world.services.state.events(alert.id)) == 1
    wrong = client.post(url, data={"token": alert.ack_token[:-1] + "x", "name": "eve"})
    assert wrong.status_code == 401
    assert client.get(url, params={"token": "nope"}).status_code == 401
    assert world.services.state.get(alert.id).state is AlertState.FIRING
    done = client.post(
        url,
        data={"token": alert.ack_token, "name": "Ana", "note": "fan on"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text  # on to the alert's page
    assert done.headers["location"] == f"/alerts/{alert.id}"
    assert f'href="/alerts/{alert.id}"' in page.text  # the confirmation page links there too
    acked = world.services.state.get(alert.id)
    assert acked.state is AlertState.ACKNOWLEDGED
    assert acked.acknowledged_by == "Ana (ack link)"
    event = world.services.state.events(alert.id)[-1]
    assert (event.actor, event.note) == ("Ana (ack link)", "fan on")
    assert client.post(url, data={"token": alert.ack_token}).status_code == 409


def test_unassigned_sensors_from_store_and_pipeline(world: World) -> None:
    client = world.client(Role.VIEWER)
    listed = client.get("/api/unassigned").json()
    assert [s["sensor"] for s in listed] == ["stray-7"]
    assert listed[0]["last_seen"] == "2026-06-01T11:57:00Z" and listed[0]["first_seen"] is None
    assert listed[0]["sample_payload"] is None

    class FakeCollector:  # only what the router reads: the pipeline of a running collector
        def __init__(self, pipeline: Pipeline) -> None:
            self.pipeline = pipeline

    pipeline = Pipeline(
        parse_registry(world.registry_file.read_text()),
        [TopicRoute(filter="#", format="generic")],
        4096,
    )
    payload = b'{"sensor": "stray-8", "temperature": 20.5, "humidity": 41}'
    pipeline.process("lab/stray-8", payload, NOW - timedelta(minutes=10))
    pipeline.process("lab/stray-8", payload, NOW - timedelta(minutes=5))
    pipeline.process("lab/s1", b'{"sensor": "s1", "temperature": 20}', NOW)  # known: not listed
    world.services.collector = FakeCollector(pipeline)  # type: ignore[assignment]
    listed = client.get("/api/unassigned").json()
    assert [s["sensor"] for s in listed] == ["stray-7", "stray-8"]
    stray = listed[1]
    assert stray["first_seen"] == "2026-06-01T11:50:00Z"
    assert stray["last_seen"] == "2026-06-01T11:55:00Z"
    assert stray["topic"] == "lab/stray-8" and stray["format"] == "generic"
    assert stray["sample_payload"] == payload.decode()


def test_unassigned_sightings_are_bounded_and_keep_the_start_of_the_payload() -> None:
    seen = UnassignedSensors(limit=2)
    for name in ("a", "b", "c"):
        seen.saw(name, NOW, f"t/{name}", "generic", b"x" * (SAMPLE_PAYLOAD_BYTES + 10))
    seen.saw("a", NOW - timedelta(hours=1), "t/a", "generic", b"{}")  # out of order: first seen
    sightings = seen.snapshot()
    assert [s.sensor for s in sightings] == ["a", "b"]
    assert sightings[0].first_seen == NOW - timedelta(hours=1) and sightings[0].last_seen == NOW
    assert len(sightings[1].sample_payload) == SAMPLE_PAYLOAD_BYTES
