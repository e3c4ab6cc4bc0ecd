"""The strict conversions every decoder shares: JSON, numbers, sensor ids, times, units."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from repoclimate.sensors.formats.base import (
    DecodeContext,
    device_time,
    epoch_time,
    is_fahrenheit,
    iso_time,
    load_json,
    load_json_object,
    number,
    number_text,
    payload_number,
    sensor_id,
)
from repoclimate.sensors.reading import DecodeError

CTX = DecodeContext(received_at=datetime(2026, 11, 20, 3, 20, tzinfo=UTC))


def reason_of(call: object, *args: object) -> str:
    assert callable(call)
    with pytest.raises(DecodeError) as raised:
        call(*args)
    return raised.value.reason


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"temperature":19.3', "malformed_json"),
        (b"", "malformed_json"),
        (b"{'temperature': 19.3}", "malformed_json"),
        (b'{"temperature":19.3}}', "malformed_json"),
        (b'{"t":"\xff\xfe"}', "not_utf8"),
        (b"\xef\xbb\xbf{}", "malformed_json"),  # a BOM is not JSON
        (b"[" * 100_000, "malformed_json"),
        (b'{"t":' + b"9" * 5000 + b"}", "too_large"),
        (b'{"sensor":"a","temperature":19.3,"sensor":"b"}', "duplicate_key"),
        (b'{"sensor":"a","values":{"t":1,"t":2}}', "duplicate_key"),
    ],
)
def test_bad_json_is_refused(payload: bytes, reason: str) -> None:
    assert reason_of(load_json, payload) == reason


def test_duplicate_key_is_named() -> None:
    with pytest.raises(DecodeError, match="key 'sensor' appears twice"):
        load_json(b'{"sensor":"a","temperature":19.3,"sensor":"b"}')
    assert load_json(b'{"a":{"k":1},"b":{"k":2}}') == {"a": {"k": 1}, "b": {"k": 2}}


def test_json_errors_say_where() -> None:
    with pytest.raises(DecodeError, match="line 1 column 20"):
        load_json(b'{"temperature":19.3')


@pytest.mark.parametrize("payload", [b"[1, 2]", b'"text"', b"19.3", b"null", b"true"])
def test_payload_must_be_an_object(payload: bytes) -> None:
    assert reason_of(load_json_object, payload) == "wrong_type"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(19.3, 19.3), (19, 19.0), (-4, -4.0), ("19.3", 19.3), (" -4.5 ", -4.5), ("1e1", 10.0)],
)
def test_numbers_and_number_strings_are_accepted(value: object, expected: float) -> None:
    assert number(value, "temperature") == expected
    assert type(number(value, "temperature")) is float


def test_absent_number_is_none() -> None:
    assert number(None, "temperature") is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (True, "wrong_type"),
        (False, "wrong_type"),
        ({"value": 19.3}, "wrong_type"),
        ([19.3], "wrong_type"),
        ("warm", "not_a_number"),
        ("", "not_a_number"),
        ("19,3", "not_a_number"),
        ("1_000", "not_a_number"),
        ("\u0662\u0660", "not_a_number"),  # Arabic-Indic ٢٠, which float() reads as 20.0
        ("\uff11\uff19", "not_a_number"),  # fullwidth １９
        ("\u00a019.3", "not_a_number"),  # a no-break space float() strips
        ("nan", "not_a_number"),
        ("NaN", "not_a_number"),
        ("-Infinity", "not_a_number"),
        ("1e999", "too_large"),
        (float("nan"), "not_a_number"),
        (float("inf"), "too_large"),
        (10**400, "too_large"),
    ],
)
def test_non_numbers_are_refused(value: object, reason: str) -> None:
    assert reason_of(number, value, "temperature") == reason


def test_number_errors_name_field_and_value() -> None:
    with pytest.raises(DecodeError, match="humidity 'damp' is not a number"):
        number("damp", "humidity")
    with pytest.raises(DecodeError, match="temperature is a boolean \\(true\\)"):
        number(True, "temperature")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [(b"NaN", "not_a_number"), (b"Infinity", "not_a_number"), (b"1e400", "too_large")],
)
def test_json_non_finite_numbers_are_refused(payload: bytes, reason: str) -> None:
    document = load_json(b'{"temperature":' + payload + b"}")
    assert reason_of(number, document["temperature"], "temperature") == reason


def test_payload_number() -> None:
    assert payload_number(b"18.25", "temperature") == 18.25
    assert reason_of(payload_number, b"\xff", "temperature") == "not_utf8"
    assert reason_of(number_text, "nan", "humidity") == "not_a_number"


@pytest.mark.parametrize("sensor", ["s3-north", "stack 3 north", "Magazin-Süd", "a/b"])
def test_printable_sensor_ids_pass(sensor: str) -> None:
    assert sensor_id(sensor) == sensor


@pytest.mark.parametrize(
    ("sensor", "reason"),
    [
        ("s1\nclimate,sensor=evil temperature=99", "injection"),
        ("s1\r", "injection"),
        ("s1\tx", "injection"),
        ("s1\x00", "injection"),
        ("s1\x1b[31m", "injection"),
        ("s1\u2028x", "injection"),
        ("", "missing_field"),
        ("x" * 201, "too_large"),
        (42, "wrong_type"),
        (None, "wrong_type"),
    ],
)
def test_bad_sensor_ids_are_refused(sensor: object, reason: str) -> None:
    assert reason_of(sensor_id, sensor) == reason


@pytest.mark.parametrize(
    "stamp",
    [1763608500, 1763608500_000, 1763608500_000_000, 1763608500_000_000_000, 1763608500.0],
)
def test_epoch_precision_is_told_by_magnitude(stamp: float) -> None:
    assert epoch_time(stamp, "time") == datetime(2025, 11, 20, 3, 15, tzinfo=UTC)


def test_epoch_keeps_sub_seconds() -> None:
    assert epoch_time(1763608500_123_456_789, "t").microsecond == 123456
    assert epoch_time(1763608500.25, "t").microsecond == 250000


@pytest.mark.parametrize("stamp", [10**30, -(10**30), 1e300])
def test_impossible_epochs_are_refused(stamp: float) -> None:
    assert reason_of(epoch_time, stamp, "time") == "bad_time"


def test_iso_time_with_and_without_offset() -> None:
    london = ZoneInfo("Europe/London")
    expected = datetime(2026, 7, 1, 11, 15, tzinfo=UTC)
    assert iso_time("2026-07-01T11:15:00Z", "time", london) == expected
    assert iso_time("2026-07-01T13:15:00+02:00", "time", london) == expected
    assert iso_time("2026-07-01T12:15:00", "time", london) == expected  # BST, local
    assert iso_time("2026-07-01T12:15:00", "time", london).tzinfo is UTC


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01T00:00:00", "2026-11-20T25:00", ""])
def test_bad_iso_times_are_refused(text: str) -> None:
    assert reason_of(iso_time, text, "time", UTC) == "bad_time"


def test_device_time() -> None:
    assert device_time(None, "time", CTX) == CTX.received_at
    assert device_time(1763608500, "time", CTX) == datetime(2025, 11, 20, 3, 15, tzinfo=UTC)
    for value in (True, {"s": 1}, [1], float("nan")):
        assert reason_of(device_time, value, "time", CTX) == "bad_time"


def test_units() -> None:
    assert not is_fahrenheit(None)
    assert not is_fahrenheit("C")
    assert is_fahrenheit("F")
    assert is_fahrenheit("°F")
    assert is_fahrenheit("f")
    for unit in ("K", "", 1, True):
        assert reason_of(is_fahrenheit, unit) == "bad_unit"


def test_context_needs_a_utc_receive_time() -> None:
    for moment in (
        datetime(2026, 11, 20),
        datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=1))),
    ):
        with pytest.raises(ValueError, match="aware UTC"):
            DecodeContext(received_at=moment)
    assert CTX.timezone is UTC
