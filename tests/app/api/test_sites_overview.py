"""The overview listing (`/api/sites` and the overview page) merges a sensor's latest readings as
one room or sensor does: a device that sends temperature and humidity in separate messages shows
both, and only such sensors cost a read beyond the listing's one query of the store's latest."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest

from repoclimate.app.users import Role
from repoclimate.sensors.reading import Reading
from tests.app.api.conftest import NOW, World

FIELDS = ("time", "temperature", "humidity", "battery", "dew_point", "status")


def split_messages(world: World) -> None:
    """s1's last temperature and last humidity arrive in two messages, a minute apart."""
    world.services.store.write(
        [
            Reading(
                "s1", NOW + timedelta(minutes=1), temperature=18.7, site="city", room="stack-1"
            ),
            Reading("s1", NOW + timedelta(minutes=2), humidity=47.0, site="city", room="stack-1"),
        ]
    )


def listed(world: World, sensor: str) -> dict[str, Any]:
    listing = world.client(Role.VIEWER).get("/api/sites").json()
    found: dict[str, Any] = next(
        s
        for site in listing
        for room in site["rooms"]
        for s in room["sensors"]
        if s["id"] == sensor
    )
    return found


def test_the_listing_shows_both_quantities_sent_in_separate_messages(world: World) -> None:
    split_messages(world)
    s1 = listed(world, "s1")
    assert s1["time"] == "2026-06-01T12:02:00Z"  # the last message, humidity only …
    assert (s1["temperature"], s1["humidity"]) == (18.7, 47.0)  # … merged with the one before
    assert s1["battery"] == 90.0  # and the battery of the last message that carried it
    assert s1["dew_point"] is not None
    # the listing says what the room and the sensor say
    room = world.client(Role.VIEWER).get("/api/sites/city/rooms/stack-1").json()
    one = world.client(Role.VIEWER).get("/api/sensors/s1").json()
    in_room = next(s for s in room["sensors"] if s["id"] == "s1")
    assert (
        {k: s1[k] for k in FIELDS} == {k: in_room[k] for k in FIELDS} == {k: one[k] for k in FIELDS}
    )


def test_the_overview_page_shows_both_quantities_sent_in_separate_messages(world: World) -> None:
    split_messages(world)
    client, _ = world.login(Role.VIEWER)
    page = client.get("/")
    assert page.status_code == 200, page.text
    tile = re.search(
        r'data-sensor="s1".*?class="t" data-value="([^"]*)".*?class="rh" data-value="([^"]*)"',
        page.text,
        re.DOTALL,
    )
    assert tile is not None, page.text
    assert (float(tile[1]), float(tile[2])) == (18.7, 47.0)


def test_only_the_sensors_with_a_quantity_missing_are_read_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    split_messages(world)
    store = world.services.store
    history = store.history
    read: list[str] = []

    def counted(sensor: str, start: datetime, end: datetime) -> list[Reading]:
        read.append(sensor)
        return history(sensor, start, end)

    monkeypatch.setattr(store, "history", counted)
    assert listed(world, "s2")["humidity"] == 72.0  # its last message carried both
    assert read == ["s1"]  # s2 and v1 kept the one query of the latest rows
