"""Calibration offsets: when each entry starts, which one is in force, and how it is applied."""

from __future__ import annotations

import textwrap
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from repoclimate.sensors.calibration import (
    Calibration,
    CalibrationTable,
    calibration_start,
    correct,
)
from repoclimate.sensors.reading import Reading
from repoclimate.sensors.registry import RegistryError, parse_registry

LONDON = ZoneInfo("Europe/London")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def entry(when: object, t: float = 0.0, rh: float = 0.0) -> Calibration:
    return Calibration.model_validate(
        {"from": when, "temperature_offset": t, "humidity_offset": rh}
    )


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize(
    ("when", "zone", "start"),
    [
        (date(2026, 1, 10), LONDON, "2026-01-10T00:00:00Z"),  # GMT
        (date(2026, 7, 10), LONDON, "2026-07-09T23:00:00Z"),  # BST: local midnight is 23:00Z
        (date(2026, 1, 10), SHANGHAI, "2026-01-09T16:00:00Z"),
        (datetime(2026, 3, 15, 10, 30), LONDON, "2026-03-15T10:30:00Z"),  # naive: local time
        (datetime(2026, 3, 15, 10, 30), SHANGHAI, "2026-03-15T02:30:00Z"),
        (at("2026-03-15T10:30:00+01:00"), SHANGHAI, "2026-03-15T09:30:00Z"),  # aware: the instant
    ],
)
def test_calibration_start(when: date | datetime, zone: ZoneInfo, start: str) -> None:
    assert calibration_start(when, zone) == at(start)


def test_from_accepts_yaml_dates_and_strings() -> None:
    assert entry("2026-01-10").from_ == date(2026, 1, 10)
    assert entry("2026-01-10T08:00Z").from_ == at("2026-01-10T08:00:00Z")
    assert entry(date(2026, 1, 10)).from_ == date(2026, 1, 10)
    with pytest.raises(ValueError, match="Input should be a date"):
        entry("January")


def test_latest_entry_in_force_wins_and_order_does_not_matter() -> None:
    table = CalibrationTable.build(
        [entry("2026-06-01", 0.5, -2.0), entry("2026-01-10", -0.2, 1.5)], UTC
    )
    assert table.offsets_at(at("2025-12-31T23:59:59Z")) == (0.0, 0.0)
    assert table.offsets_at(at("2026-01-10T00:00:00Z")) == (-0.2, 1.5)  # from its first instant
    assert table.offsets_at(at("2026-05-31T23:59:59.999999Z")) == (-0.2, 1.5)
    assert table.offsets_at(at("2026-06-01T00:00:00Z")) == (0.5, -2.0)
    assert table.offsets_at(at("2030-01-01T00:00:00Z")) == (0.5, -2.0)


def test_empty_table_is_no_correction() -> None:
    table = CalibrationTable.build([], UTC)
    assert not table
    assert correct(19.3, 58.1, at("2026-01-01T00:00:00Z"), table=table) == (19.3, 58.1)


def test_two_entries_starting_together_are_refused() -> None:
    with pytest.raises(ValueError, match="also starts at 2026-01-10T00:00:00"):
        CalibrationTable.build([entry("2026-01-10"), entry("2026-01-10T00:00Z", 0.1)], UTC)


def test_correct_adds_offsets_and_rounds() -> None:
    table = CalibrationTable.build([entry("2026-01-10", -0.2, 1.5)], UTC)
    when = at("2026-02-01T00:00:00Z")
    assert correct(19.34, 58.1, when, table=table) == (19.14, 59.6)
    assert correct(None, 58.1, when, table=table) == (None, 59.6)
    assert correct(19.34, None, when, table=table) == (19.14, None)


def test_humidity_fraction_is_scaled_before_the_offset() -> None:
    table = CalibrationTable.build([entry("2026-01-10", rh=1.5)], UTC)
    assert correct(
        19.0, 0.581, at("2026-02-01T00:00:00Z"), table=table, humidity_fraction=True
    ) == (
        19.0,
        59.6,
    )
    assert correct(
        19.0, 0.581, at("2026-01-01T00:00:00Z"), table=table, humidity_fraction=True
    ) == (
        19.0,
        58.1,
    )


def test_offset_keeps_valid_humidity_within_0_100() -> None:
    table = CalibrationTable.build([entry("2026-01-10", rh=1.5)], UTC)
    when = at("2026-02-01T00:00:00Z")
    assert correct(None, 99.5, when, table=table) == (None, 100.0)
    down = CalibrationTable.build([entry("2026-01-10", rh=-2.0)], UTC)
    assert correct(None, 1.0, when, table=down) == (None, 0.0)
    # a value that was already impossible stays impossible, so validation refuses it
    assert correct(None, 150.0, when, table=table) == (None, 151.5)


REGISTRY = textwrap.dedent(
    """\
    sites:
      - id: depot
        timezone: Asia/Shanghai
        rooms:
          - id: stack-1
            profile: jgj25-paper
            holdings: paper
            sensors:
              - id: stack1
                match: {format: tasmota}
                calibration:
                  - {from: 2026-03-01, temperature_offset: 0.4, humidity_offset: -3.0}
                  - {from: 2026-01-10, temperature_offset: -0.2, humidity_offset: 1.5}
                  - {from: "2026-06-01T09:00", humidity_offset: 2.0}
    """
)


@pytest.mark.parametrize(
    ("when", "temperature", "humidity"),
    [
        ("2026-01-09T15:59:59Z", 18.6, 52.4),  # before the first entry (local midnight = 16:00Z)
        ("2026-01-09T16:00:00Z", 18.4, 53.9),  # 2026-01-10 00:00 in Shanghai
        ("2026-02-28T15:59:59Z", 18.4, 53.9),
        ("2026-02-28T16:00:00Z", 19.0, 49.4),  # 2026-03-01 00:00 in Shanghai
        ("2026-06-01T00:59:59Z", 19.0, 49.4),
        ("2026-06-01T01:00:00Z", 18.6, 54.4),  # 09:00 local; that entry has no temperature offset
    ],
)
def test_registry_applies_the_offset_in_force(
    when: str, temperature: float, humidity: float
) -> None:
    registry = parse_registry(REGISTRY)
    placed = registry.resolve(
        "tasmota", "tele/stack1/SENSOR", Reading("stack1", at(when), 18.6, 52.4)
    )
    assert (placed.sensor, placed.room) == ("stack1", "stack-1")
    assert (placed.temperature, placed.humidity) == (temperature, humidity)


def test_registry_refuses_two_entries_with_one_start() -> None:
    text = REGISTRY.replace('"2026-06-01T09:00"', '"2026-03-01T00:00"')
    with pytest.raises(RegistryError) as caught:
        parse_registry(text, "registry.yaml")
    line = (
        text.splitlines().index('              - {from: "2026-03-01T00:00", humidity_offset: 2.0}')
        + 1
    )
    assert str(caught.value) == (
        f"registry.yaml:{line}: sites[0].rooms[0].sensors[0].calibration[2].from: another "
        "calibration entry also starts at 2026-02-28T16:00:00+00:00 (first at line 12, "
        "sites[0].rooms[0].sensors[0].calibration[0].from)"
    )


def test_unknown_sensors_are_not_calibrated() -> None:
    registry = parse_registry(REGISTRY)
    reading = Reading("stack2", at("2026-07-01T00:00:00Z"), 18.6, 52.4)
    assert registry.resolve("tasmota", "tele/stack2/SENSOR", reading).humidity == 52.4


def test_boundary_is_exact_to_the_microsecond() -> None:
    table = CalibrationTable.build([entry(at("2026-01-10T12:00:00Z"), 1.0)], UTC)
    boundary = at("2026-01-10T12:00:00Z")
    assert table.offsets_at(boundary - timedelta(microseconds=1)) == (0.0, 0.0)
    assert table.offsets_at(boundary) == (1.0, 0.0)
