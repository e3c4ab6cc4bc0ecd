"""The Things Stack v3 uplinks: device makes, times, RSSI, other events, garbage."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from repoclimate.sensors.formats import DecodeContext
from repoclimate.sensors.formats.ttn import decode
from repoclimate.sensors.reading import DecodeError

RECEIVED_AT = datetime(2026, 11, 20, 3, 20, tzinfo=UTC)
CTX = DecodeContext(received_at=RECEIVED_AT)
TOPIC = "v3/city-archives@ttn/devices/dev-1/up"
AT = datetime(2026, 11, 20, 3, 15, 1, 123456, tzinfo=UTC)


def uplink(decoded: object = None, **extra: Any) -> bytes:
    message: dict[str, Any] = {
        "end_device_ids": {"device_id": "dev-1", "application_ids": {"application_id": "a"}},
        "received_at": "2026-11-20T03:15:01.123456789Z",
        "uplink_message": {"f_port": 85, "frm_payload": "AXVk", **extra},
    }
    if decoded is not None:
        message["uplink_message"]["decoded_payload"] = decoded
    return json.dumps(message).encode()


def reason(payload: bytes, topic: str = TOPIC) -> str:
    with pytest.raises(DecodeError) as raised:
        decode(topic, payload, CTX)
    return raised.value.reason


@pytest.mark.parametrize(
    ("make", "decoded", "expected"),
    [
        (
            "Milesight EM300-TH",
            {"battery": 100, "humidity": 52, "temperature": 19.3},
            (19.3, 52, 100),
        ),
        (
            "Elsys ERS",
            {"temperature": 20.4, "humidity": 46, "light": 12, "motion": 0, "vdd": 3648},
            (20.4, 46, None),
        ),
        (
            "Dragino LHT65 (strings)",
            {
                "BatV": 3.05,
                "Bat_status": 3,
                "Ext_sensor": "Temperature Sensor",
                "Hum_SHT": "57.0",
                "TempC_DS": "327.67",
                "TempC_SHT": "21.13",
            },
            (21.13, 57, None),
        ),
        ("Dragino LHT65N", {"BatV": 3.1, "Hum_SHT": 57.1, "TempC_SHT": 21.2}, (21.2, 57.1, None)),
        (
            "Browan TBHH100",
            {"status": 1, "battery": 3.6, "temperature": 21, "humidity": 34},
            (21, 34, None),
        ),
        (
            "Netvox R718A",
            {"Device": "R718A", "Volt": 3.6, "Temperature": 23.5, "Humidity": 55.2},
            (23.5, 55.2, None),
        ),
    ],
)
def test_device_makes(make: str, decoded: dict[str, Any], expected: tuple[float, ...]) -> None:
    (reading,) = decode(TOPIC, uplink(decoded), CTX)
    assert (reading.temperature, reading.humidity, reading.battery) == expected, make
    assert (reading.sensor, reading.time) == ("dev-1", AT)


def test_browan_battery_is_volts_even_when_whole() -> None:
    payload = uplink(
        {"status": 1, "battery": 3, "temperature": 21, "humidity": 34},
        version_ids={"brand_id": "browan", "model_id": "tbhh100"},
    )
    assert decode(TOPIC, payload, CTX)[0].battery is None


def test_odd_version_ids_do_not_matter() -> None:
    payload = uplink({"battery": 80, "temperature": 19}, version_ids={"brand_id": ["x"]})
    assert decode(TOPIC, payload, CTX)[0].battery == 80


def test_best_gateway_rssi_is_linkquality() -> None:
    payload = uplink(
        {"temperature": 19.3},
        rx_metadata=[{"rssi": -101, "snr": 2}, {"channel_rssi": -88}, {"rssi": -95}, "junk"],
    )
    assert decode(TOPIC, payload, CTX)[0].linkquality == -88


def test_time_falls_back_to_uplink_then_receive_time() -> None:
    message = json.loads(uplink({"temperature": 19.3}, received_at="2026-11-20T03:15:00Z"))
    del message["received_at"]
    (reading,) = decode(TOPIC, json.dumps(message).encode(), CTX)
    assert reading.time == datetime(2026, 11, 20, 3, 15, tzinfo=UTC)
    del message["uplink_message"]["received_at"]
    assert decode(TOPIC, json.dumps(message).encode(), CTX)[0].time == RECEIVED_AT


def test_device_id_from_topic_when_payload_lacks_it() -> None:
    message = json.loads(uplink({"temperature": 19.3}))
    del message["end_device_ids"]
    (reading,) = decode("v3/app/devices/dev-2/up", json.dumps(message).encode(), CTX)
    assert reading.sensor == "dev-2"


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        (
            "v3/a@ttn/devices/dev-1/join",
            b'{"end_device_ids":{"device_id":"dev-1"},"join_accept":{}}',
        ),
        ("v3/a@ttn/devices/dev-1/down/ack", b"{}"),
        ("v3/a@ttn/devices/dev-1/down/queued", b"{}"),
        ("v3/a@ttn/devices/dev-1/service/data", b"{}"),
        ("v3/a@ttn/devices/dev-1/location/solved", b"{}"),
        (TOPIC, uplink({"battery": 100})),
        (TOPIC, uplink({"door": "open"})),
        (TOPIC, uplink({})),
        (
            TOPIC,
            json.dumps({**json.loads(uplink({"temperature": 19})), "simulated": True}).encode(),
        ),
    ],
)
def test_messages_without_readings(topic: str, payload: bytes) -> None:
    assert decode(topic, payload, CTX) == []


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (uplink(), "no_decoded_payload"),
        (uplink([19.3]), "wrong_type"),
        (uplink({"temperature": "warm"}), "not_a_number"),
        (uplink({"temperature": True}), "wrong_type"),
        (uplink({"Humidity": {"value": 50}}), "wrong_type"),
        (uplink({"temperature": 19}, rx_metadata=[{"rssi": "loud"}]), "not_a_number"),
        (b'{"uplink_message":{"decoded_payload":{"temperature":19', "malformed_json"),
        (b'{"end_device_ids":{"device_id":"dev-1"}}', "missing_field"),
        (
            b'{"received_at":"x","uplink_message":{"decoded_payload":{"temperature":19}}}',
            "bad_time",
        ),
        (
            b'{"end_device_ids":{"device_id":"a\\u0000b"},"uplink_message":{"decoded_payload":{"temperature":19}}}',
            "injection",
        ),
    ],
)
def test_garbage_is_refused(payload: bytes, expected: str) -> None:
    assert reason(payload) == expected


@pytest.mark.parametrize(
    "topic", ["v3/app/devices/dev-1", "v2/app/devices/dev-1/up", "v3/app/dev-1/up"]
)
def test_wrong_topic_shapes(topic: str) -> None:
    assert reason(uplink({"temperature": 19}), topic) == "bad_topic"


def test_missing_decoded_payload_says_why() -> None:
    with pytest.raises(DecodeError, match="no payload formatter"):
        decode(TOPIC, uplink(), CTX)
