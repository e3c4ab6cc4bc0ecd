"""The Things Stack (v3) uplinks of LoRaWAN climate sensors.

::

    v3/<app>@<tenant>/devices/<device>/up   {"end_device_ids":{"device_id":"em300-stack-7",…},
        "received_at":"2026-11-20T03:15:01.5Z","uplink_message":{"decoded_payload":
        {"battery":100,"humidity":52,"temperature":19.3},"rx_metadata":[{"rssi":-88,…}]}}

- Only ``…/up`` carries readings; ``join``, ``down/…``, ``service/data``, ``location/solved``…
  do not, nor do uplinks the console simulated (``"simulated": true``).
- The values come from ``uplink_message.decoded_payload``, which exists only when the device or
  application has a payload formatter: without it the uplink is refused as
  ``no_decoded_payload``. Key names are matched case-insensitively, covering the formatters of
  the common makes — Milesight EM300-TH (``temperature``, ``humidity``, ``battery`` %), Elsys
  ERS (``temperature``, ``humidity``), Dragino LHT65 (``TempC_SHT``, ``Hum_SHT``, numbers or
  strings), Browan TBHH100 (``temperature``, ``humidity``), Netvox (``Temperature``,
  ``Humidity``). Voltages (``vdd``, ``BatV``, ``Volt``) are not battery percentages and are left
  out, as is Browan's ``battery``, which is in volts: a ``battery`` from a device whose
  ``version_ids.brand_id`` is ``browan``, or a fractional ``battery`` of 5 or less, is taken as
  a voltage. Uplinks with neither temperature nor humidity (a status frame) give no reading.
- The sensor id is ``end_device_ids.device_id``; the time is ``received_at`` (else
  ``uplink_message.received_at``); ``linkquality`` is the RSSI [dBm] of the best gateway.
"""

from __future__ import annotations

from typing import Any

from repoclimate.sensors.formats.base import (
    DecodeContext,
    device_time,
    load_json_object,
    number,
    sensor_id,
)
from repoclimate.sensors.reading import DecodeError, Reading

_KEYS = {
    "temperature": 0,
    "temp": 0,
    "tempc_sht": 0,
    "humidity": 1,
    "hum": 1,
    "hum_sht": 1,
    "relative_humidity": 1,
    "rh": 1,
    "battery": 2,
    "battery_level": 2,
}
_BATTERY_IN_VOLTS_BRANDS = frozenset({"browan"})


def decode(topic: str, payload: bytes, ctx: DecodeContext) -> list[Reading]:
    """The reading in one Things Stack uplink, or none for other events."""
    levels = topic.split("/", 4)
    if len(levels) < 5 or levels[0] != "v3" or levels[2] != "devices":
        raise DecodeError("bad_topic", f"topic {topic!r} is not v3/<app>/devices/<device>/<event>")
    if levels[4] != "up":
        return []
    message = load_json_object(payload)
    if message.get("simulated") is True:
        return []
    uplink = message.get("uplink_message")
    if type(uplink) is not dict:
        raise DecodeError("missing_field", "uplink has no uplink_message object")
    decoded = uplink.get("decoded_payload")
    if decoded is None:
        raise DecodeError(
            "no_decoded_payload",
            "uplink has no decoded payload (no payload formatter configured for the device)",
        )
    if type(decoded) is not dict:
        raise DecodeError("wrong_type", "uplink_message.decoded_payload must be an object")
    values: list[float | None] = [None, None, None]
    for key, value in decoded.items():
        slot = _KEYS.get(key.lower())
        if slot is not None and values[slot] is None:
            values[slot] = number(value, f"decoded_payload.{key}")
    temperature, humidity, battery = values
    if temperature is None and humidity is None:
        return []
    if battery is not None and _battery_is_voltage(battery, uplink):
        battery = None
    ids = message.get("end_device_ids")
    device = ids.get("device_id") if type(ids) is dict else None
    time = message.get("received_at")
    if time is None:
        time = uplink.get("received_at")
    sensor = sensor_id(levels[3] if device is None else device, "device_id")
    return [
        Reading(
            sensor,
            device_time(time, "received_at", ctx, sensor),
            temperature,
            humidity,
            battery,
            _best_rssi(uplink.get("rx_metadata")),
        )
    ]


def _battery_is_voltage(battery: float, uplink: dict[str, Any]) -> bool:
    version_ids = uplink.get("version_ids")
    if type(version_ids) is dict:
        brand = version_ids.get("brand_id")
        if type(brand) is str and brand.lower() in _BATTERY_IN_VOLTS_BRANDS:
            return True
    return battery <= 5.0 and not battery.is_integer()


def _best_rssi(rx_metadata: object) -> float | None:
    if type(rx_metadata) is not list:
        return None
    best = None
    for gateway in rx_metadata:
        if type(gateway) is dict:
            rssi = number(gateway.get("rssi", gateway.get("channel_rssi")), "rx_metadata.rssi")
            if rssi is not None and (best is None or rssi > best):
                best = rssi
    return best
