"""`check_reading`: finite values, physical ranges, at least one quantity, a sane time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from repoclimate.sensors.reading import DecodeError, Reading
from repoclimate.sensors.validate import check_reading

NOW = datetime(2026, 11, 20, 3, 20, tzinfo=UTC)


def reading(**values: float | None) -> Reading:
    return Reading("s3-north", NOW, **values)


@pytest.mark.parametrize(
    "values",
    [
        {"temperature": 19.3, "humidity": 58.1, "battery": 93, "linkquality": 120},
        {"temperature": -60.0},
        {"temperature": 90.0},
        {"humidity": 0.0},
        {"humidity": 100.0},
        {"battery": 0.0},
        {"battery": 100.0, "linkquality": -120},
    ],
)
def test_plausible_readings_pass(values: dict[str, float]) -> None:
    check_reading(reading(**values), now=NOW)


@pytest.mark.parametrize(
    ("values", "reason", "message"),
    [
        ({"humidity": 150.0}, "out_of_range", "humidity 150 outside 0–100 %"),
        ({"humidity": -0.5}, "out_of_range", "humidity -0.5 outside 0–100 %"),
        ({"temperature": 90.1}, "out_of_range", "temperature 90.1 outside −60…+90 °C"),
        ({"temperature": -273.15}, "out_of_range", "temperature -273.15 outside −60…+90 °C"),
        ({"temperature": 1e300}, "out_of_range", "temperature 1e+300 outside"),
        ({"battery": 101.0}, "out_of_range", "battery 101 outside 0–100 %"),
        ({"temperature": float("nan")}, "not_a_number", "temperature nan is not a finite"),
        ({"humidity": float("inf")}, "not_a_number", "humidity inf is not a finite"),
        ({"battery": float("-inf")}, "not_a_number", "battery -inf is not a finite"),
        ({"temperature": 19.0, "linkquality": float("nan")}, "not_a_number", "linkquality"),
        ({}, "no_quantity", "no temperature, humidity or battery"),
        ({"linkquality": 120.0}, "no_quantity", "s3-north"),
    ],
)
def test_impossible_readings_are_refused(
    values: dict[str, float], reason: str, message: str
) -> None:
    with pytest.raises(DecodeError, match=re.escape(message)) as raised:
        check_reading(reading(**values), now=NOW)
    assert raised.value.reason == reason


@pytest.mark.parametrize(
    ("time", "ok"),
    [
        (NOW + timedelta(hours=23), True),
        (NOW + timedelta(days=1, seconds=1), False),
        (NOW + timedelta(days=365), False),
        (datetime(2000, 1, 1, tzinfo=UTC), True),
        (datetime(1999, 12, 31, 23, 59, tzinfo=UTC), False),
        (datetime(1970, 1, 1, tzinfo=UTC), False),
    ],
)
def test_time_sanity(time: datetime, ok: bool) -> None:
    candidate = Reading("s3-north", time, temperature=19.0)
    if ok:
        check_reading(candidate, now=NOW)
    else:
        with pytest.raises(DecodeError) as raised:
            check_reading(candidate, now=NOW)
        assert raised.value.reason == "bad_time"


def test_now_defaults_to_the_clock() -> None:
    check_reading(Reading("s", datetime.now(UTC), temperature=19.0))
    with pytest.raises(DecodeError, match="more than a day ahead"):
        check_reading(Reading("s", datetime.now(UTC) + timedelta(days=2), temperature=19.0))
