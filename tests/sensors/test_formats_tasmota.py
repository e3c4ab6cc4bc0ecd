"""Tasmota SENSOR telemetry: chips, several chips, °F, local device time, other topics, garbage."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from repoclimate.sensors.formats import DecodeContext
from repoclimate.sensors.formats.tasmota import decode
from repoclimate.sensors.reading import DecodeError, Reading

RECEIVED_AT = datetime(2026, 11, 20, 3, 20, tzinfo=UTC)
CTX = DecodeContext(received_at=RECEIVED_AT, timezone=ZoneInfo("Asia/Shanghai"))
LOCAL_11_15 = "2026-11-20T11:15:00"  # 03:15 UTC in Shanghai
AT_03_15 = datetime(2026, 11, 20, 3, 15, tzinfo=UTC)


def sensor_message(**chips: Any) -> bytes:
    return json.dumps({"Time": LOCAL_11_15, **chips, "TempUnit": "C"}).encode()


def reason(topic: str, payload: bytes) -> str:
    with pytest.raises(DecodeError) as raised:
        decode(topic, payload, CTX)
    return raised.value.reason


@pytest.mark.parametrize(
    ("chip", "values"),
    [
        ("AM2301", {"Temperature": 18.6, "Humidity": 52.4, "DewPoint": 8.6}),
        ("DHT11", {"Temperature": 18.6, "Humidity": 52.4, "DewPoint": 8.6}),
        ("SHT3X", {"Temperature": 18.6, "Humidity": 52.4, "DewPoint": 8.6}),
        ("SHT3X-0x44", {"Temperature": 18.6, "Humidity": 52.4, "DewPoint": 8.6}),
        ("BME280", {"Temperature": 18.6, "Humidity": 52.4, "DewPoint": 8.6, "Pressure": 1009.8}),
        ("BME680", {"Temperature": 18.6, "Humidity": 52.4, "Pressure": 1009.8, "Gas": 112.5}),
        ("SI7021", {"Temperature": 18.6, "Humidity": 52.4, "DewPoint": 8.6}),
        ("HTU21", {"Temperature": 18.6, "Humidity": 52.4, "DewPoint": 8.6}),
    ],
)
def test_one_chip(chip: str, values: dict[str, float]) -> None:
    assert decode("tele/stack1/SENSOR", sensor_message(**{chip: values}), CTX) == [
        Reading("stack1", AT_03_15, 18.6, 52.4)
    ]


def test_ds18b20_is_temperature_only() -> None:
    payload = sensor_message(DS18B20={"Id": "01144A0CB2AA", "Temperature": 17.9})
    assert decode("tele/vault/SENSOR", payload, CTX) == [Reading("vault", AT_03_15, 17.9)]


def test_several_chips_give_one_reading_each() -> None:
    payload = sensor_message(
        **{
            "SHT3X-0x44": {"Temperature": 18.1, "Humidity": 50.2, "DewPoint": 7.6},
            "SHT3X-0x45": {"Temperature": 18.4, "Humidity": 49.8, "DewPoint": 7.7},
            "DS18B20-1": {"Id": "01144A0CB2AA", "Temperature": 16.0},
            "DS18B20-2": {"Id": "01144A0CB2AB", "Temperature": 16.5},
            "Global": {"Temperature": 18.1, "Humidity": 50.2, "DewPoint": 7.6},
            "ESP32": {"Temperature": 47.8},
            "ENERGY": {"Power": 0},
        }
    )
    readings = decode("tele/stack1/SENSOR", payload, CTX)
    assert readings == [
        Reading("stack1/SHT3X-0x44", AT_03_15, 18.1, 50.2),
        Reading("stack1/SHT3X-0x45", AT_03_15, 18.4, 49.8),
        Reading("stack1/DS18B20-1", AT_03_15, 16.0),
        Reading("stack1/DS18B20-2", AT_03_15, 16.5),
    ]


def test_one_failed_chip_of_several_keeps_the_ids() -> None:
    payload = sensor_message(
        AM2301={"Temperature": None, "Humidity": None}, BME280={"Temperature": 18.0}
    )
    assert decode("tele/stack1/SENSOR", payload, CTX) == [Reading("stack1/BME280", AT_03_15, 18.0)]


def test_fahrenheit() -> None:
    payload = json.dumps(
        {"Time": LOCAL_11_15, "AM2301": {"Temperature": 65.5, "Humidity": 52.4}, "TempUnit": "F"}
    ).encode()
    (reading,) = decode("tele/stack1/SENSOR", payload, CTX)
    assert reading.temperature == pytest.approx(18.6111, abs=1e-4)
    assert reading.humidity == 52.4


def test_local_time_is_read_in_the_zone_of_the_device() -> None:
    zones = {"shanghai-plug": ZoneInfo("Asia/Shanghai")}
    ctx = DecodeContext(
        received_at=RECEIVED_AT,
        timezone=ZoneInfo("Europe/London"),
        timezone_for=lambda device: zones.get(device, ZoneInfo("Europe/London")),
    )
    payload = json.dumps({"Time": LOCAL_11_15, "AM2301": {"Temperature": 19.5}}).encode()
    assert decode("tele/shanghai-plug/SENSOR", payload, ctx)[0].time == AT_03_15
    assert decode("tele/london-plug/SENSOR", payload, ctx)[0].time == datetime(
        2026, 11, 20, 11, 15, tzinfo=UTC
    )


def test_local_time_across_daylight_saving() -> None:
    ctx = DecodeContext(received_at=RECEIVED_AT, timezone=ZoneInfo("Europe/London"))
    summer = json.dumps({"Time": "2026-07-01T12:00:00", "SI7021": {"Temperature": 20}}).encode()
    winter = json.dumps({"Time": "2026-01-01T12:00:00", "SI7021": {"Temperature": 20}}).encode()
    assert decode("tele/s/SENSOR", summer, ctx)[0].time == datetime(2026, 7, 1, 11, tzinfo=UTC)
    assert decode("tele/s/SENSOR", winter, ctx)[0].time == datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_time_with_offset_is_used_as_is() -> None:
    payload = json.dumps({"Time": "2026-11-20T04:15:00+01:00", "SI7021": {"Humidity": 50}})
    assert decode("tele/s/SENSOR", payload.encode(), CTX)[0].time == AT_03_15


def test_unsynced_clock_and_missing_time_fall_back_to_receive_time() -> None:
    unsynced = json.dumps({"Time": "1970-01-01T00:03:15", "SI7021": {"Humidity": 50}})
    assert decode("tele/s/SENSOR", unsynced.encode(), CTX)[0].time == RECEIVED_AT
    no_time = json.dumps({"SI7021": {"Humidity": 50}})
    assert decode("tele/s/SENSOR", no_time.encode(), CTX)[0].time == RECEIVED_AT


def test_custom_full_topic_and_status10() -> None:
    custom = decode("stack1/tele/SENSOR", sensor_message(HTU21={"Temperature": 18}), CTX)
    assert custom == [Reading("stack1", AT_03_15, 18.0)]
    status = json.dumps({"StatusSNS": {"Time": LOCAL_11_15, "AM2301": {"Humidity": 52.4}}})
    assert decode("stat/stack1/STATUS10", status.encode(), CTX) == [
        Reading("stack1", AT_03_15, None, 52.4)
    ]


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("tele/stack1/STATE", b'{"Time":"2026-11-20T11:15:00","Uptime":"0T01:00:00"}'),
        ("tele/stack1/LWT", b"Offline"),
        ("tele/stack1/INFO1", b'{"Module":"Generic"}'),
        ("stat/stack1/RESULT", b'{"POWER":"ON"}'),
        ("cmnd/stack1/STATUS", b"10"),
        ("tele/stack1/SENSOR", b'{"Time":"2026-11-20T11:15:00","ENERGY":{"Power":3}}'),
        ("tele/stack1/SENSOR", b'{"Time":"2026-11-20T11:15:00","ESP32":{"Temperature":48}}'),
    ],
)
def test_messages_without_readings(topic: str, payload: bytes) -> None:
    assert decode(topic, payload, CTX) == []


@pytest.mark.parametrize(
    ("topic", "payload", "expected"),
    [
        ("tele/stack1/SENSOR", b'{"Time":"2026-11-20T11:15:00","AM2301":{"Temp', "malformed_json"),
        ("tele/stack1/SENSOR", b'["AM2301"]', "wrong_type"),
        ("tele/stack1/SENSOR", b'{"AM2301":{"Temperature":"hot"}}', "not_a_number"),
        ("tele/stack1/SENSOR", b'{"AM2301":{"Temperature":false}}', "wrong_type"),
        ("tele/stack1/SENSOR", b'{"AM2301":{"Humidity":[52]}}', "wrong_type"),
        ("tele/stack1/SENSOR", b'{"AM2301":{"Humidity":NaN}}', "not_a_number"),
        ("tele/stack1/SENSOR", b'{"AM2301":{"Humidity":52},"TempUnit":"K"}', "bad_unit"),
        ("tele/stack1/SENSOR", b'{"AM2301":{"Humidity":52},"Time":"11:15 today"}', "bad_time"),
        ("tele/stack1/SENSOR", b'{"AM2301":{"Humidity":52},"Time":true}', "bad_time"),
        ("tele/stack1/SENSOR", b'{"AM2301":{"Temperature":null,"Humidity":null}}', "sensor_error"),
        ("stat/stack1/STATUS10", b'{"Status":{}}', "wrong_type"),
        ("tele/stack\t1/SENSOR", b'{"AM2301":{"Humidity":52}}', "injection"),
        ("stack1/SENSOR", b'{"AM2301":{"Humidity":52}}', "bad_topic"),
        ("sensors/stack1/SENSOR", b'{"AM2301":{"Humidity":52}}', "bad_topic"),
    ],
)
def test_garbage_is_refused(topic: str, payload: bytes, expected: str) -> None:
    assert reason(topic, payload) == expected
