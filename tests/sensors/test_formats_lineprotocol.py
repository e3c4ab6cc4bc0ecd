"""InfluxDB line protocol: several lines, escapes, types, timestamps, malformed lines, injection."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from repoclimate.sensors.formats import DecodeContext
from repoclimate.sensors.formats.lineprotocol import decode
from repoclimate.sensors.reading import DecodeError, Reading

RECEIVED_AT = datetime(2026, 11, 20, 3, 20, tzinfo=UTC)
CTX = DecodeContext(received_at=RECEIVED_AT)
AT = datetime(2025, 11, 20, 3, 15, tzinfo=UTC)
TOPIC = "repoclimate/lines"


def lines(text: str) -> list[Reading]:
    return decode(TOPIC, text.encode(), CTX)


def reason(text: str | bytes) -> str:
    with pytest.raises(DecodeError) as raised:
        decode(TOPIC, text if isinstance(text, bytes) else text.encode(), CTX)
    return raised.value.reason


def test_one_line() -> None:
    assert lines("climate,sensor=s3-north temperature=19.3,humidity=58.1 1763608500000000000") == [
        Reading("s3-north", AT, 19.3, 58.1)
    ]


def test_several_lines_blank_lines_comments_and_crlf() -> None:
    text = (
        "# exported by logger 7\r\n"
        "climate,sensor=a temperature=19.3 1763608500000000000\r\n"
        "\r\n"
        "cpu,host=gw usage_idle=98.5 1763608500000000000\n"
        "climate,sensor=b humidity=58i,battery=90u 1763608500000000000\n"
    )
    assert lines(text) == [Reading("a", AT, 19.3), Reading("b", AT, None, 58.0, 90.0)]


def test_escapes() -> None:
    text = (
        r"room\ climate,site=city\,archives,sensor=stack\ 3\,north\=a "
        r'temperature=19.3,note="said \"hi\", then=left",humidity="58.1" 1763608500'
    )
    assert lines(text) == [Reading("stack 3,north=a", AT, 19.3, 58.1)]


@pytest.mark.parametrize(
    ("tags", "sensor"),
    [("sensor=a,device=b,host=c", "a"), ("device=b,host=c", "b"), ("host=c", "c")],
)
def test_sensor_tag_fallbacks(tags: str, sensor: str) -> None:
    assert lines(f"m,{tags} t=1")[0].sensor == sensor


@pytest.mark.parametrize(
    "stamp", ["1763608500", "1763608500000", "1763608500000000", "1763608500000000000"]
)
def test_timestamp_precision_by_magnitude(stamp: str) -> None:
    assert lines(f"m,sensor=a t=1 {stamp}")[0].time == AT


def test_no_timestamp_means_receive_time() -> None:
    assert lines("m,sensor=a rh=50")[0].time == RECEIVED_AT


def test_field_aliases_types_and_fahrenheit() -> None:
    (reading,) = lines("m,sensor=a,unit=F temp=68,hum=50.5,battery=3e1,linkquality=-88i")
    assert reading.temperature == pytest.approx(20.0)
    assert (reading.humidity, reading.battery, reading.linkquality) == (50.5, 30.0, -88.0)


def test_other_fields_may_be_any_type() -> None:
    (reading,) = lines('m,sensor=a t=19,ok=true,state="idle",count=3u,ratio=-1.5e-3')
    assert reading.temperature == 19


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("climate,sensor=a", "malformed_line"),  # no fields
        ("climate,sensor=a temperature", "malformed_line"),
        ("climate,sensor=a temperature=", "malformed_line"),
        ("climate,sensor=a temperature=19.3 12:00", "malformed_line"),
        ("climate,sensor=a temperature=19.3 1763608500 extra", "malformed_line"),
        ("climate,sensor temperature=19.3", "malformed_line"),
        ("climate,=a temperature=19.3", "malformed_line"),
        (",sensor=a temperature=19.3", "malformed_line"),
        ("climate,sensor=a  temperature=19.3", "malformed_line"),
        ("climate,sensor=a temperature=19.3,", "malformed_line"),
        ('climate,sensor=a note="unterminated,temperature=19.3', "malformed_line"),
        ("climate,sensor=a temperature=1_9", "malformed_line"),
        ("climate,sensor=a temperature=19.3x", "malformed_line"),
        ("climate,sensor=a temperature=-1u", "malformed_line"),
        ("climate,sensor=a,x=1=2 temperature=19", "malformed_line"),
        ("climate,sensor=a\\", "malformed_line"),
        ("climate,sensor=a temperature=nan", "not_a_number"),
        ("climate,sensor=a temperature=inf", "not_a_number"),
        ('climate,sensor=a temperature="warm"', "not_a_number"),
        ("climate,sensor=a temperature=true", "wrong_type"),
        ("climate,sensor=a temperature=1e999", "too_large"),
        ("climate,sensor=a temperature=19 99999999999999999999999999", "bad_time"),
        ("climate,site=x temperature=19", "missing_field"),
        ("climate,sensor=a,unit=K temperature=19", "bad_unit"),
        (b"climate,sensor=\xff temperature=19", "not_utf8"),
        ("climate,sensor=" + "x" * 300 + " temperature=19", "too_large"),
    ],
)
def test_malformed_lines_are_refused(text: str | bytes, expected: str) -> None:
    assert reason(text) == expected


def test_one_bad_line_rejects_the_whole_message_and_names_it() -> None:
    text = 'climate,sensor=a temperature=19\nclimate,sensor=b temperature="warm"\n'
    with pytest.raises(DecodeError, match="line 2: temperature 'warm' is not a number"):
        lines(text)


@pytest.mark.parametrize(
    "text",
    [
        "climate,sensor=s1\tclimate temperature=19",  # tab inside the tag value
        "climate,sensor=s1\rclimate temperature=19",  # a lone CR inside the line
        "climate,sensor=s1\x00 temperature=19",
        "climate,sensor=s1\x1b[2J temperature=19",
        "climate,sensor=s1\u2028x temperature=19",
        "climate,sensor=s1\\\tx temperature=19",  # an escaped control character is still one
    ],
)
def test_control_characters_in_sensor_ids_are_injection(text: str) -> None:
    assert reason(text) == "injection"


@pytest.mark.parametrize(
    "text",
    [
        "climate,sensor=abc\\\\ temperature=19",  # decodes to abc\ (trailing backslash)
        "climate,sensor=a\\\\\\,b temperature=19",  # decodes to a\,b
    ],
)
def test_sensor_ids_the_store_cannot_carry_are_injection(text: str) -> None:
    with pytest.raises(DecodeError, match="backslash") as raised:
        lines(text)
    assert raised.value.reason == "injection"


def test_newline_cannot_be_escaped_into_a_sensor_id() -> None:
    assert reason("climate,sensor=s1\\\nevil temperature=19") == "malformed_line"


def test_forged_second_line_is_its_own_line() -> None:
    """A newline in a would-be tag value ends the line: what follows must parse on its own."""
    assert reason("climate,sensor=s1\nclimate,sensor=evil temperature=99") == "malformed_line"


def test_empty_payload_has_no_readings() -> None:
    assert lines("") == []
    assert lines("\n# only a comment\n") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("m,sensor=a t=19 " + "9" * 5000, "bad_time"),
        ("m,sensor=a t=" + "9" * 5000 + "i", "malformed_line"),
        ("m,sensor=a t=" + "9" * 5000, "too_large"),
        ("m,sensor=a t=19 \u0661\u0662\u0663", "malformed_line"),  # non-ASCII digits
    ],
)
def test_huge_and_odd_numbers(text: str, expected: str) -> None:
    assert reason(text) == expected
