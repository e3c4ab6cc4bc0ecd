"""Shelly Gen1 value topics and Gen2+ RPC notifications and status topics."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from repoclimate.sensors.formats import DecodeContext
from repoclimate.sensors.formats.shelly import decode
from repoclimate.sensors.reading import DecodeError, Reading

RECEIVED_AT = datetime(2026, 11, 20, 3, 20, tzinfo=UTC)
CTX = DecodeContext(received_at=RECEIVED_AT)
DEVICE = "shellyhtg3-84fce63a9d10"
TS = 1795144500.5
AT_TS = datetime(2026, 11, 20, 3, 15, 0, 500000, tzinfo=UTC)


def notify(params: dict[str, Any], method: str = "NotifyStatus") -> bytes:
    return json.dumps(
        {"src": DEVICE, "dst": f"{DEVICE}/events", "method": method, "params": params}
    ).encode()


def reason(topic: str, payload: bytes) -> str:
    with pytest.raises(DecodeError) as raised:
        decode(topic, payload, CTX)
    return raised.value.reason


@pytest.mark.parametrize(
    ("topic", "payload", "expected"),
    [
        (
            "shellies/shellyht-6A1B2C/sensor/temperature",
            b"18.25",
            Reading("shellyht-6A1B2C", RECEIVED_AT, temperature=18.25),
        ),
        (
            "shellies/shellyht-6A1B2C/sensor/humidity",
            b"62.5",
            Reading("shellyht-6A1B2C", RECEIVED_AT, humidity=62.5),
        ),
        (
            "shellies/shellyht-6A1B2C/sensor/battery",
            b"93",
            Reading("shellyht-6A1B2C", RECEIVED_AT, battery=93),
        ),
        (
            "shellies/shelly1-A1/ext_temperature/0",
            b"21.1",
            Reading("shelly1-A1/ext0", RECEIVED_AT, temperature=21.1),
        ),
        (
            "shellies/shelly1-A1/ext_humidity/0",
            b"48",
            Reading("shelly1-A1/ext0", RECEIVED_AT, humidity=48),
        ),
        (
            "shellies/shelly1-A1/ext_temperature/2",
            b"-3.5",
            Reading("shelly1-A1/ext2", RECEIVED_AT, temperature=-3.5),
        ),
    ],
)
def test_gen1(topic: str, payload: bytes, expected: Reading) -> None:
    assert decode(topic, payload, CTX) == [expected]


def test_gen2_full_status() -> None:
    params = {
        "ts": TS,
        "ble": {},
        "devicepower:0": {
            "id": 0,
            "battery": {"V": 5.9, "percent": 90},
            "external": {"present": False},
        },
        "humidity:0": {"id": 0, "rh": 42.2},
        "sys": {"mac": "B8D61A8B17CC", "uptime": 3},
        "temperature:0": {"id": 0, "tC": 19.8, "tF": 67.6},
        "wifi": {"rssi": -60},
    }
    assert decode(f"{DEVICE}/events/rpc", notify(params, "NotifyFullStatus"), CTX) == [
        Reading(DEVICE, AT_TS, 19.8, 42.2, 90.0)
    ]


def test_gen2_add_on_probes_are_sensors_of_their_own() -> None:
    params = {
        "ts": TS,
        "temperature:100": {"id": 100, "tC": 16.5},
        "temperature:101": {"id": 101, "tC": None, "tF": 62.6},
        "humidity:100": {"id": 100, "rh": 51},
        "switch:0": {"id": 0, "output": False, "temperature": {"tC": 41.2}},
    }
    first, second = decode("archive/plus1/events/rpc", notify(params), CTX)
    assert first == Reading("archive/plus1/100", AT_TS, 16.5, 51.0)
    assert (second.sensor, second.humidity) == ("archive/plus1/101", None)
    assert second.temperature == pytest.approx(17.0)


def test_gen2_battery_alone() -> None:
    params = {"ts": TS, "devicepower:0": {"id": 0, "battery": {"V": 5.9, "percent": 88}}}
    assert decode(f"{DEVICE}/events/rpc", notify(params), CTX) == [
        Reading(DEVICE, AT_TS, battery=88.0)
    ]


def test_gen2_without_ts_uses_receive_time() -> None:
    (reading,) = decode(f"{DEVICE}/events/rpc", notify({"humidity:0": {"rh": 50}}), CTX)
    assert reading.time == RECEIVED_AT


@pytest.mark.parametrize(
    ("component", "status", "expected"),
    [
        (
            "temperature:0",
            {"id": 0, "tC": 21.6, "tF": 70.9},
            Reading(DEVICE, RECEIVED_AT, temperature=21.6),
        ),
        ("humidity:0", {"id": 0, "rh": 45.1}, Reading(DEVICE, RECEIVED_AT, humidity=45.1)),
        (
            "devicepower:0",
            {"id": 0, "battery": {"V": 5.9, "percent": 77}},
            Reading(DEVICE, RECEIVED_AT, battery=77),
        ),
        (
            "temperature:100",
            {"id": 100, "tC": 4.5},
            Reading(f"{DEVICE}/100", RECEIVED_AT, temperature=4.5),
        ),
    ],
)
def test_gen2_status_topics(component: str, status: dict[str, Any], expected: Reading) -> None:
    payload = json.dumps(status).encode()
    assert decode(f"{DEVICE}/status/{component}", payload, CTX) == [expected]


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("shellies/announce", b'{"id":"shellyht-6A1B2C"}'),
        ("shellies/shellyht-6A1B2C/online", b"true"),
        ("shellies/shellyht-6A1B2C/announce", b"{}"),
        ("shellies/shelly1-A1/temperature", b"48.3"),  # the relay's own temperature
        ("shellies/shelly1-A1/relay/0", b"on"),
        ("shellies/shellyht-6A1B2C/sensor/ext_power", b"false"),
        ("shellies/shellyht-6A1B2C/sensor/error", b"0"),
        ("shellies/shellyht-6A1B2C/sensor/temperature", b""),
        ("shellies/shelly1-A1/ext_temperature_f/0", b"70.0"),
        (f"{DEVICE}/online", b"true"),
        (f"{DEVICE}/status/sys", b'{"uptime":3}'),
        (f"{DEVICE}/status/switch:0", b'{"id":0,"output":true}'),
        (
            f"{DEVICE}/events/rpc",
            notify({"ts": TS, "events": [{"event": "btn_down"}]}, "NotifyEvent"),
        ),
        (f"{DEVICE}/events/rpc", notify({"ts": TS, "wifi": {"rssi": -70}})),
        (f"{DEVICE}/rpc", b'{"id":1,"method":"Shelly.GetStatus"}'),
        (f"{DEVICE}/events/rpc", b'{"method":[],"params":{}}'),  # found by the fuzz test
    ],
)
def test_messages_without_readings(topic: str, payload: bytes) -> None:
    assert decode(topic, payload, CTX) == []


@pytest.mark.parametrize(
    ("topic", "payload", "expected"),
    [
        ("shellies/shellyht-6A1B2C/sensor/temperature", b"warm", "not_a_number"),
        ("shellies/shellyht-6A1B2C/sensor/temperature", b"nan", "not_a_number"),
        ("shellies/shellyht-6A1B2C/sensor/humidity", b"1e999", "too_large"),
        ("shellies/shellyht-6A1B2C/sensor/humidity", b"\xff", "not_utf8"),
        ("shellies/shelly\x00ht/sensor/humidity", b"50", "injection"),
        (f"{DEVICE}/events/rpc", b'{"method":"NotifyStatus","params":', "malformed_json"),
        (f"{DEVICE}/events/rpc", b'{"method":"NotifyStatus","params":[]}', "wrong_type"),
        (f"{DEVICE}/events/rpc", notify({"ts": "now", "humidity:0": {"rh": 50}}), "bad_time"),
        (f"{DEVICE}/events/rpc", notify({"ts": 10**30, "humidity:0": {"rh": 50}}), "bad_time"),
        (f"{DEVICE}/events/rpc", notify({"humidity:0": {"rh": True}}), "wrong_type"),
        (f"{DEVICE}/events/rpc", notify({"humidity:0": 50}), "wrong_type"),
        (
            f"{DEVICE}/events/rpc",
            notify({"temperature:0": {"tC": None, "errors": ["read"]}}),
            "sensor_error",
        ),
        (f"{DEVICE}/status/humidity:0", b'{"rh":"damp"}', "not_a_number"),
        (DEVICE, b"19.3", "bad_topic"),
        (f"{DEVICE}/temperature", b"19.3", "bad_topic"),
    ],
)
def test_garbage_is_refused(topic: str, payload: bytes, expected: str) -> None:
    assert reason(topic, payload) == expected
