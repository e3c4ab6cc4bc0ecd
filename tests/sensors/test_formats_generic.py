"""repoclimate's own JSON format: topic or key names the sensor, times, units, batches, garbage."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from repoclimate.sensors.formats import DecodeContext
from repoclimate.sensors.formats.generic import decode
from repoclimate.sensors.reading import DecodeError, Reading

RECEIVED_AT = datetime(2026, 11, 20, 3, 20, tzinfo=UTC)
CTX = DecodeContext(received_at=RECEIVED_AT, timezone=ZoneInfo("Europe/Berlin"))
TOPIC = "repoclimate/city-archives/stack-3/s3-north"


def one(payload: object, topic: str = TOPIC) -> Reading:
    (reading,) = decode(topic, json.dumps(payload).encode(), CTX)
    return reading


def reason(payload: bytes | object, topic: str = TOPIC) -> str:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    with pytest.raises(DecodeError) as raised:
        decode(topic, raw, CTX)
    return raised.value.reason


def test_full_message() -> None:
    reading = one(
        {
            "time": "2026-11-20T03:15:00Z",
            "temperature": 19.34,
            "humidity": 58.1,
            "battery": 93,
            "linkquality": 120,
        }
    )
    assert reading == Reading(
        "s3-north", datetime(2026, 11, 20, 3, 15, tzinfo=UTC), 19.34, 58.1, 93, 120
    )


def test_no_time_means_received_time() -> None:
    assert one({"humidity": 58.1}).time == RECEIVED_AT


@pytest.mark.parametrize(
    "time",
    [
        "2026-11-20T03:15:00Z",
        "2026-11-20T04:15:00+01:00",
        "2026-11-20T04:15:00",  # local time of the site (Berlin, CET)
        1795144500,
        1795144500000,
        "2026-11-20T03:15:00.000Z",
    ],
)
def test_time_forms(time: object) -> None:
    assert one({"time": time, "temperature": 19}).time == datetime(2026, 11, 20, 3, 15, tzinfo=UTC)


def test_sensor_key_wins_over_topic() -> None:
    assert one({"sensor": "s3-south", "temperature": 19}).sensor == "s3-south"


def test_any_topic_with_a_sensor_key() -> None:
    assert (
        one({"sensor": "logger-7", "temperature": 19}, topic="site/whatever").sensor == "logger-7"
    )


@pytest.mark.parametrize("topic", ["site/whatever", "repoclimate/s3-north", "repoclimate/a/b/c/d"])
def test_no_sensor_anywhere_is_refused(topic: str) -> None:
    assert reason({"temperature": 19}, topic) == "missing_field"


def test_fahrenheit() -> None:
    reading = one({"temperature": 66.2, "humidity": 50, "unit": "F"})
    assert reading.temperature == pytest.approx(19.0)
    assert reading.humidity == 50


def test_string_numbers() -> None:
    reading = one({"temperature": "19.3", "humidity": "58", "battery": "90"})
    assert (reading.temperature, reading.humidity, reading.battery) == (19.3, 58.0, 90.0)


def test_null_quantities_are_absent() -> None:
    reading = one({"temperature": None, "humidity": 58})
    assert reading.temperature is None


def test_unknown_keys_are_ignored() -> None:
    assert one({"temperature": 19, "pressure": 1009.8, "firmware": {"v": 2}}).temperature == 19


def test_batch() -> None:
    readings = decode(
        "repoclimate/city-archives/stack-3/gateway",
        json.dumps(
            {
                "sensor": "s3-north",
                "unit": "F",
                "readings": [
                    {"time": "2026-11-20T03:00:00Z", "temperature": 68},
                    {"time": "2026-11-20T03:05:00Z", "temperature": 68.9, "humidity": 55},
                    {"sensor": "s3-south", "unit": "C", "temperature": 18},
                ],
            }
        ).encode(),
        CTX,
    )
    assert [r.sensor for r in readings] == ["s3-north", "s3-north", "s3-south"]
    assert [r.temperature for r in readings] == pytest.approx([20.0, 20.5, 18.0])
    assert [r.time for r in readings] == [
        datetime(2026, 11, 20, 3, 0, tzinfo=UTC),
        datetime(2026, 11, 20, 3, 5, tzinfo=UTC),
        RECEIVED_AT,
    ]


def test_empty_batch_and_empty_payload_have_no_readings() -> None:
    assert decode(TOPIC, b'{"readings": []}', CTX) == []
    assert decode(TOPIC, b"", CTX) == []


def test_batch_errors_name_the_item() -> None:
    payload = {"readings": [{"temperature": 19}, {"temperature": "warm"}]}
    with pytest.raises(DecodeError, match=r"readings\[1\]: temperature 'warm' is not a number"):
        decode(TOPIC, json.dumps(payload).encode(), CTX)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b'{"temperature":19.3', "malformed_json"),
        (b"19.3", "wrong_type"),
        (b"[19.3]", "wrong_type"),
        (b'{"temperature":"19.3\xff"}', "not_utf8"),
        (b'{"temperature":NaN}', "not_a_number"),
        (b'{"temperature":Infinity}', "not_a_number"),
        (b'{"temperature":1e999}', "too_large"),
        ({"temperature": "warm"}, "not_a_number"),
        ({"temperature": True}, "wrong_type"),
        ({"humidity": {"value": 58}}, "wrong_type"),
        ({"humidity": [58]}, "wrong_type"),
        ({"pressure": 1009.8}, "no_quantity"),
        ({}, "no_quantity"),
        ({"temperature": 19, "unit": "K"}, "bad_unit"),
        ({"temperature": 19, "time": "yesterday"}, "bad_time"),
        ({"temperature": 19, "time": True}, "bad_time"),
        ({"temperature": 19, "time": 10**30}, "bad_time"),
        ({"temperature": 19, "sensor": 7}, "wrong_type"),
        ({"temperature": 19, "sensor": "s1\ns2"}, "injection"),
        ({"temperature": 19, "readings": []}, "wrong_type"),
        ({"readings": {"temperature": 19}}, "wrong_type"),
        ({"readings": [19]}, "wrong_type"),
        ({"readings": [{"humidity": "x"}]}, "not_a_number"),
    ],
)
def test_garbage_is_refused(payload: bytes | object, expected: str) -> None:
    assert reason(payload) == expected


def test_battery_alone_is_a_reading() -> None:
    assert one({"battery": 90}).battery == 90


def test_sensor_from_topic_with_control_characters_is_refused() -> None:
    assert reason({"temperature": 19}, "repoclimate/a/b/s1\x1b") == "injection"
