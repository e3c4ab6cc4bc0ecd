"""Zigbee2MQTT device states: friendly names, ignored topics, non-climate devices, garbage."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from repoclimate.sensors.formats import DecodeContext
from repoclimate.sensors.formats.zigbee2mqtt import decode
from repoclimate.sensors.reading import DecodeError, Reading

RECEIVED_AT = datetime(2026, 11, 20, 3, 20, tzinfo=UTC)
CTX = DecodeContext(received_at=RECEIVED_AT)
STATE = b'{"battery":100,"humidity":58.12,"linkquality":120,"temperature":19.34,"voltage":3025}'


def reason(topic: str, payload: bytes) -> str:
    with pytest.raises(DecodeError) as raised:
        decode(topic, payload, CTX)
    return raised.value.reason


def test_state() -> None:
    assert decode("zigbee2mqtt/stack-3-north", STATE, CTX) == [
        Reading("stack-3-north", RECEIVED_AT, 19.34, 58.12, 100.0, 120.0)
    ]


@pytest.mark.parametrize(
    ("topic", "sensor"),
    [
        ("zigbee2mqtt/stack 3 north", "stack 3 north"),
        ("zigbee2mqtt/archive/stack-3/north", "archive/stack-3/north"),
        ("site-a/zigbee2mqtt/north", "north"),
        ("z2m-archive/north", "north"),
    ],
)
def test_friendly_names(topic: str, sensor: str) -> None:
    (reading,) = decode(topic, STATE, CTX)
    assert reading.sensor == sensor


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("zigbee2mqtt/bridge/state", b'{"state":"online"}'),
        ("zigbee2mqtt/bridge/devices", b"[]"),
        ("zigbee2mqtt/bridge/logging", b'{"level":"info","message":"x"}'),
        ("zigbee2mqtt/stack-3-north/availability", b'{"state":"offline"}'),
        ("zigbee2mqtt/stack-3-north/availability", b"offline"),
        ("zigbee2mqtt/stack-3-north/set", b'{"temperature":19}'),
        ("zigbee2mqtt/stack-3-north/set/temperature", b"19"),
        ("zigbee2mqtt/stack-3-north/get", b'{"temperature":""}'),
        ("zigbee2mqtt/stack-3-north/temperature", b"19.34"),  # output: attribute
        ("zigbee2mqtt/door-contact-1", b'{"contact":true,"battery":97}'),
        ("zigbee2mqtt/plug-1", b'{"state":"ON","power":12,"device_temperature":31}'),
        ("zigbee2mqtt/stack-3-north", b'{"temperature":null,"humidity":null,"battery":80}'),
        ("zigbee2mqtt/stack-3-north", b""),
    ],
)
def test_messages_without_readings(topic: str, payload: bytes) -> None:
    assert decode(topic, payload, CTX) == []


def test_one_quantity_is_enough() -> None:
    (reading,) = decode("zigbee2mqtt/probe", b'{"temperature":"21.5"}', CTX)
    assert (reading.temperature, reading.humidity, reading.battery) == (21.5, None, None)


@pytest.mark.parametrize(
    "last_seen", ["2026-11-20T03:15:00.000Z", "2026-11-20T04:15:00+01:00", 1795144500000]
)
def test_last_seen_is_the_time(last_seen: object) -> None:
    payload = json.dumps({"temperature": 19, "last_seen": last_seen}).encode()
    (reading,) = decode("zigbee2mqtt/probe", payload, CTX)
    assert reading.time == datetime(2026, 11, 20, 3, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("topic", "payload", "expected"),
    [
        ("zigbee2mqtt/probe", b'{"temperature":19.3', "malformed_json"),
        ("zigbee2mqtt/probe", b"online", "malformed_json"),
        ("zigbee2mqtt/probe", b"[19.3]", "wrong_type"),
        ("zigbee2mqtt/probe", b'{"temperature":"warm"}', "not_a_number"),
        ("zigbee2mqtt/probe", b'{"temperature":true}', "wrong_type"),
        ("zigbee2mqtt/probe", b'{"humidity":NaN}', "not_a_number"),
        ("zigbee2mqtt/probe", b'{"humidity":1e500}', "too_large"),
        ("zigbee2mqtt/probe", b'{"humidity":{"value":50}}', "wrong_type"),
        ("zigbee2mqtt/probe", b'{"humidity":50,"battery":"full"}', "not_a_number"),
        ("zigbee2mqtt/probe", b'{"humidity":50,"last_seen":"yesterday"}', "bad_time"),
        ("zigbee2mqtt/probe", b'{"humidity":"5\xff"}', "not_utf8"),
        ("zigbee2mqtt/probe\n2", b'{"humidity":50}', "injection"),
        ("zigbee2mqtt", b'{"humidity":50}', "bad_topic"),
        ("zigbee2mqtt/", b'{"humidity":50}', "bad_topic"),
    ],
)
def test_garbage_is_refused(topic: str, payload: bytes, expected: str) -> None:
    assert reason(topic, payload) == expected
