"""ESPHome state topics: quantity from the object id or the registry, sensor ids, garbage."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from repoclimate.sensors.formats import DecodeContext
from repoclimate.sensors.formats.esphome import decode
from repoclimate.sensors.reading import DecodeError, Reading

RECEIVED_AT = datetime(2026, 11, 20, 3, 20, tzinfo=UTC)
CTX = DecodeContext(received_at=RECEIVED_AT)


def reason(topic: str, payload: bytes, ctx: DecodeContext = CTX) -> str:
    with pytest.raises(DecodeError) as raised:
        decode(topic, payload, ctx)
    return raised.value.reason


@pytest.mark.parametrize(
    ("object_id", "sensor", "quantity"),
    [
        ("stack_5_temperature", "node/stack_5", "temperature"),
        ("stack_5_temp", "node/stack_5", "temperature"),
        ("stack_5_humidity", "node/stack_5", "humidity"),
        ("stack_5_hum", "node/stack_5", "humidity"),
        ("stack_5_rh", "node/stack_5", "humidity"),
        ("stack_5_battery", "node/stack_5", "battery"),
        ("stack_5_battery_level", "node/stack_5", "battery"),
        ("temperature", "node", "temperature"),
        ("humidity", "node", "humidity"),
    ],
)
def test_quantity_from_suffix(object_id: str, sensor: str, quantity: str) -> None:
    (reading,) = decode(f"node/sensor/{object_id}/state", b"17.8", CTX)
    assert reading == Reading(sensor, RECEIVED_AT, **{quantity: 17.8})


def test_probe_temperature_and_humidity_share_a_sensor() -> None:
    (t,) = decode("archive-node-2/sensor/stack_5_temperature/state", b"17.8", CTX)
    (h,) = decode("archive-node-2/sensor/stack_5_humidity/state", b"55.4", CTX)
    assert t.sensor == h.sensor == "archive-node-2/stack_5"


def test_topic_prefix_with_levels() -> None:
    (reading,) = decode("archive/east/node-2/sensor/vault_rh/state", b"40", CTX)
    assert reading.sensor == "archive/east/node-2/vault"


def test_quantity_from_registry_when_suffix_does_not_say() -> None:
    asked: list[str] = []

    def quantity_for(topic: str) -> str | None:
        asked.append(topic)
        return "humidity" if "dht_a" in topic else None

    ctx = DecodeContext(received_at=RECEIVED_AT, quantity_for=quantity_for)
    assert decode("node/sensor/dht_a/state", b"51.5", ctx) == [
        Reading("node/dht_a", RECEIVED_AT, humidity=51.5)
    ]
    assert decode("node/sensor/dht_b/state", b"51.5", ctx) == []
    decode("node/sensor/dht_temperature/state", b"20", ctx)
    assert asked == ["node/sensor/dht_a/state", "node/sensor/dht_b/state"]  # suffix first
    bad = DecodeContext(received_at=RECEIVED_AT, quantity_for=lambda topic: "pressure")
    assert reason("node/sensor/dht_a/state", b"1000", bad) == "bad_quantity"


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("archive-node-2/status", b"online"),
        ("archive-node-2/status", b"offline"),
        ("archive-node-2/debug", b"[D][sensor:094]: 'x': Sending state"),
        ("archive-node-2/sensor/wifi_signal/state", b"-61"),
        ("archive-node-2/sensor/uptime/state", b"3600"),
        ("archive-node-2/sensor/battery_voltage/state", b"3.9"),
        ("archive-node-2/binary_sensor/door/state", b"ON"),
        ("archive-node-2/switch/fan/state", b"OFF"),
        ("archive-node-2/sensor/stack_5_humidity/state", b""),
    ],
)
def test_messages_without_readings(topic: str, payload: bytes) -> None:
    assert decode(topic, payload, CTX) == []


@pytest.mark.parametrize(
    ("topic", "payload", "expected"),
    [
        ("node/sensor/stack_5_humidity/state", b"nan", "not_a_number"),
        ("node/sensor/stack_5_humidity/state", b"NaN", "not_a_number"),
        ("node/sensor/stack_5_humidity/state", b"inf", "not_a_number"),
        ("node/sensor/stack_5_humidity/state", b"55,4", "not_a_number"),
        ("node/sensor/stack_5_humidity/state", b"55.4 %", "not_a_number"),
        ("node/sensor/stack_5_humidity/state", b"1e309", "too_large"),
        ("node/sensor/stack_5_humidity/state", b"\x35\x35\xff", "not_utf8"),
        ("node\r/sensor/stack_5_humidity/state", b"55", "injection"),
        ("node/sensor/stack_5_humidity", b"55", "bad_topic"),
        ("stack_5_humidity", b"55", "bad_topic"),
    ],
)
def test_garbage_is_refused(topic: str, payload: bytes, expected: str) -> None:
    assert reason(topic, payload) == expected


def test_nan_message_says_what_was_wrong() -> None:
    with pytest.raises(DecodeError, match="humidity 'nan' is not a number"):
        decode("node/sensor/stack_5_humidity/state", b"nan", CTX)
