"""Line protocol and InfluxQL text, checked character by character (no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from repoclimate.history import DerivedRow, InvalidPoint
from repoclimate.history.influxql import duration_literal, identifier, string_literal, time_range
from repoclimate.history.lineprotocol import LineEncoder, batches, escape_key, escape_measurement
from repoclimate.sensors.reading import Reading

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T0_NS = 1_767_225_600_000_000_000


def test_a_reading_becomes_one_line_with_sorted_tags_and_float_fields() -> None:
    lines = LineEncoder().encode_readings(
        [
            Reading("s3-north", T0, 19, 48.5, 87, 120, site="city-archives", room="stack-3"),
            Reading("esp", T0 + timedelta(microseconds=1), humidity=1e-7),
        ]
    )
    assert lines == [
        "climate,room=stack-3,sensor=s3-north,site=city-archives "
        f"temperature=19.0,humidity=48.5,battery=87.0,linkquality=120.0 {T0_NS}",
        f"climate,sensor=esp humidity=1e-07 {T0_NS + 1000}",
    ]


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("a,b", "a\\,b"),
        ("a b", "a\\ b"),
        ("a=b", "a\\=b"),
        ("a\\b", "a\\b"),
        ("x' OR '1'='1", "x'\\ OR\\ '1'\\='1"),
        ('say "hi"', 'say\\ "hi"'),
        ("ünï☃", "ünï☃"),
    ],
)
def test_tag_escaping(value: str, escaped: str) -> None:
    assert escape_key("sensor", value) == escaped
    (line,) = LineEncoder().encode_readings([Reading(value, T0, 1.0)])
    assert line == f"climate,sensor={escaped} temperature=1.0 {T0_NS}"


@pytest.mark.parametrize(
    "value", ["a\nb", "a\rb", "tab\there", "nul\x00", "del\x7f", "end\\", "a\\ b", "a\\=b", ""]
)
def test_names_line_protocol_cannot_carry_are_refused(value: str) -> None:
    with pytest.raises(InvalidPoint):
        escape_key("sensor", value)
    with pytest.raises(InvalidPoint, match="reading 0"):
        LineEncoder().encode_readings([Reading(value, T0, 1.0)])


def test_a_newline_cannot_inject_a_second_point() -> None:
    hostile = "x temperature=99.0 0\nclimate,sensor=victim"
    with pytest.raises(InvalidPoint, match=r"control character '\\n'"):
        LineEncoder().encode_readings([Reading(hostile, T0, 20.0)])


def test_the_tag_cache_does_not_leak_between_sites() -> None:
    encoder = LineEncoder()
    first = encoder.encode_readings([Reading("s", T0, 1.0, site="a", room="r")])
    second = encoder.encode_readings([Reading("s", T0, 1.0, site="b", room="r")])
    assert first != second
    assert second[0].startswith("climate,room=r,sensor=s,site=b ")


def test_derived_rows_escape_measurement_keys_and_values() -> None:
    (line,) = LineEncoder().encode_derived(
        [DerivedRow("pres ervation,x", {"z": "1", "a b": "c=d"}, {"dew point": 7, "pi": 1.5}, T0)]
    )
    assert line == f"pres\\ ervation\\,x,a\\ b=c\\=d,z=1 dew\\ point=7.0,pi=1.5 {T0_NS}"


@pytest.mark.parametrize(
    "row",
    [
        DerivedRow("#comment", {}, {"x": 1.0}, T0),
        DerivedRow("m", {"time": "x"}, {"x": 1.0}, T0),
        DerivedRow("m", {}, {}, T0),
        DerivedRow("m", {}, {"x": float("-inf")}, T0),
        DerivedRow("m\n", {}, {"x": 1.0}, T0),
    ],
)
def test_bad_derived_rows_are_refused(row: DerivedRow) -> None:
    with pytest.raises(InvalidPoint, match="derived row 0"):
        LineEncoder().encode_derived([row])


def test_escape_measurement_keeps_equals_signs() -> None:
    assert escape_measurement("a=b c,d") == "a=b\\ c\\,d"


def test_batches_split_lines_into_request_bodies() -> None:
    assert list(batches(["a", "b", "c"], 2)) == [b"a\nb", b"c"]
    assert list(batches([], 2)) == []


def test_influxql_string_literals_escape_quotes_backslashes_and_newlines() -> None:
    assert string_literal("x' OR '1'='1") == "'x\\' OR \\'1\\'=\\'1'"
    assert string_literal("a\\'b") == "'a\\\\\\'b'"
    assert string_literal("a\nb") == "'a\\nb'"
    assert identifier('my"db\\') == '"my\\"db\\\\"'


def test_influxql_time_range_and_durations() -> None:
    assert time_range(T0, T0 + timedelta(seconds=1)) == (
        f"time >= {T0_NS} AND time < {T0_NS + 1_000_000_000}"
    )
    assert duration_literal(timedelta(hours=1)) == "1h"
    assert duration_literal(timedelta(days=14)) == "2w"
    assert duration_literal(timedelta(minutes=90)) == "90m"
    assert duration_literal(timedelta(seconds=1.5)) == "1500ms"
    assert duration_literal(timedelta(microseconds=3)) == "3u"
    with pytest.raises(ValueError, match="positive"):
        duration_literal(timedelta(0))
