"""Picking the decoder: `detect_format` by topic and payload, `decode_message`, and that no input
makes any decoder raise anything but `DecodeError`."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repoclimate.sensors.formats import FORMATS, DecodeContext, decode_message, detect_format
from repoclimate.sensors.reading import DecodeError, Reading

CTX = DecodeContext(received_at=datetime(2026, 11, 20, 3, 20, tzinfo=UTC))


@pytest.mark.parametrize(
    ("topic", "payload", "fmt"),
    [
        ("zigbee2mqtt/stack-3-north", b'{"temperature":19}', "zigbee2mqtt"),
        ("zigbee2mqtt/bridge/state", b"online", "zigbee2mqtt"),
        ("tele/stack1/SENSOR", b"{}", "tasmota"),
        ("stat/stack1/STATUS10", b"{}", "tasmota"),
        ("stack1/tele/SENSOR", b"{}", "tasmota"),
        ("shellies/shellyht-1/sensor/temperature", b"18.25", "shelly"),
        ("shellyhtg3-1/events/rpc", b"{}", "shelly"),
        ("shellyhtg3-1/status/temperature:0", b"{}", "shelly"),
        ("shellyhtg3-1/online", b"true", "shelly"),
        ("v3/app@ttn/devices/dev-1/up", b"{}", "ttn"),
        ("node/sensor/stack_5_humidity/state", b"55.4", "esphome"),
        ("node/status", b"online", "esphome"),
        ("repoclimate/site/room/s1", b'{"temperature":19}', "generic"),
        ("repoclimate/site/room/s1", b'{"temperature":19', "generic"),
        ("repoclimate/site/room/s1", b"garbage", "generic"),
        ("repoclimate/lines", b"climate,sensor=a temperature=19 1763608500", "lineprotocol"),
        ("repoclimate/lines", b"\n# c\nclimate,sensor=a t=19", "lineprotocol"),
        ("gateway/uplinks", b'{"end_device_ids":{},"uplink_message":{}}', "ttn"),
        ("loggers/7", b'{"sensor":"s1","temperature":19}', "generic"),
        ("loggers/7", b'{"readings":[]}', "generic"),
        ("home/zigbee/probe", b' {"temperature":19}', "zigbee2mqtt"),
        ("telegraf/host1", b"climate,host=gw temperature=19", "lineprotocol"),
    ],
)
def test_detect_format(topic: str, payload: bytes, fmt: str) -> None:
    assert detect_format(topic, payload) == fmt


@pytest.mark.parametrize(
    ("topic", "payload"),
    [("home/probe", b"19.3"), ("home/probe", b""), ("x", b"online"), ("a/b", b"[1]")],
)
def test_unknown_format(topic: str, payload: bytes) -> None:
    with pytest.raises(DecodeError) as raised:
        detect_format(topic, payload)
    assert raised.value.reason == "unknown_format"
    assert topic in str(raised.value)


def test_decode_message_by_name_and_auto() -> None:
    payload = b'{"temperature":19.5}'
    expected = [Reading("probe", CTX.received_at, 19.5)]
    assert decode_message("zigbee2mqtt/probe", payload, "zigbee2mqtt", CTX) == expected
    assert decode_message("zigbee2mqtt/probe", payload, "auto", CTX) == expected
    assert decode_message("anything/probe", payload, "zigbee2mqtt", CTX) == expected


def test_decode_message_unknown_format_name() -> None:
    with pytest.raises(DecodeError, match="unknown format 'ruuvi'") as raised:
        decode_message("ruuvi/x", b"{}", "ruuvi", CTX)
    assert raised.value.reason == "unknown_format"


_topics = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "repoclimate/s/r/x",
            "zigbee2mqtt/x",
            "tele/x/SENSOR",
            "stat/x/STATUS10",
            "shellies/x/sensor/temperature",
            "x/events/rpc",
            "x/status/temperature:0",
            "v3/a/devices/x/up",
            "x/sensor/t_temperature/state",
        ]
    ),
)
_json = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
_keys = st.sampled_from(
    ["temperature", "humidity", "battery", "sensor", "time", "readings", "unit", "Time",
     "AM2301", "TempUnit", "StatusSNS", "params", "method", "ts", "temperature:0",
     "uplink_message", "decoded_payload", "received_at", "last_seen", "linkquality"]
)  # fmt: skip
_objects = st.recursive(
    st.dictionaries(_keys, _json, max_size=5),
    lambda inner: st.dictionaries(_keys, inner | _json, max_size=5),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(
    fmt=st.sampled_from(sorted(FORMATS)),
    topic=_topics,
    payload=st.one_of(
        st.binary(max_size=80),
        _objects.map(lambda o: json.dumps(o).encode()),
        st.text(max_size=80).map(str.encode),
    ),
)
def test_any_input_gives_readings_or_decode_error(fmt: str, topic: str, payload: bytes) -> None:
    try:
        readings = decode_message(topic, payload, fmt, CTX)
    except DecodeError as error:
        assert error.reason and str(error)
    else:
        assert all(type(r) is Reading and r.sensor.isprintable() for r in readings)
