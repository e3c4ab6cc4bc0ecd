"""Shelly devices: Gen1 topics of plain numbers, and Gen2+ RPC notifications and status topics.

Gen1 (H&T, Shelly 1 with the temperature add-on), one number per message::

    shellies/<id>/sensor/temperature   18.25   °C (set the device to °C: the value has no unit)
    shellies/<id>/sensor/humidity      62.5    %RH
    shellies/<id>/sensor/battery       93      %
    shellies/<id>/ext_temperature/<n>  21.1    add-on probe n → sensor "<id>/ext<n>"
    shellies/<id>/ext_humidity/<n>     48      add-on DHT22 n → sensor "<id>/ext<n>"

Gen2+ (Plus/Pro/Gen3/Gen4: H&T Gen3, Plus H&T, Plus add-on), where ``<id>`` is the device's MQTT
topic prefix (by default its device id, e.g. ``shellyhtg3-84fce63a9d10``)::

    <id>/events/rpc  {"method":"NotifyStatus","params":{"ts":1763608500.02,
                      "temperature:0":{"tC":19.8,"tF":67.6},"humidity:0":{"rh":63.9},
                      "devicepower:0":{"battery":{"V":5.9,"percent":90}}}}
    <id>/status/temperature:0  {"id":0,"tC":19.8,"tF":67.6}   ("Generic status update over MQTT")

- ``NotifyStatus`` and ``NotifyFullStatus`` carry readings (``params.ts`` epoch seconds is the
  time); ``NotifyEvent`` and other methods do not.
- Components ``temperature:N`` (tC, or tF converted), ``humidity:N`` (rh) and
  ``devicepower:0`` (battery.percent) make one reading per instance N: sensor ``<id>`` for
  instance 0, ``<id>/<N>`` for others (add-on probes are 100…104).
- A component whose value is null and which lists ``errors`` (a failed probe) adds nothing; a
  message that then has no value at all is refused as ``sensor_error``.
- The relay's own ``shellies/<id>/temperature`` (its internal temperature), ``online``,
  ``announce``, ``info`` and the other Gen1/Gen2 topics carry no readings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from repoclimate.sensors.formats.base import (
    DecodeContext,
    device_time,
    fahrenheit_to_celsius,
    load_json_object,
    number,
    payload_number,
    quantity_reading,
    sensor_id,
)
from repoclimate.sensors.reading import DecodeError, Reading

GEN1_PREFIX = "shellies/"
_GEN1_SENSORS = frozenset({"temperature", "humidity", "battery"})
_GEN1_EXTERNAL = {"ext_temperature": "temperature", "ext_humidity": "humidity"}
_GEN2_COMPONENTS = frozenset({"temperature", "humidity", "devicepower"})
_GEN2_QUIET_SUFFIXES = ("/online", "/rpc", "/debug/log", "/command")
_NOTIFY_METHODS = frozenset({"NotifyStatus", "NotifyFullStatus"})


def decode(topic: str, payload: bytes, ctx: DecodeContext) -> list[Reading]:
    """Readings of one Shelly message (Gen1 value topic, Gen2+ notification or status)."""
    if topic.endswith("/events/rpc"):
        return _notification(topic[: -len("/events/rpc")], payload, ctx)
    prefix, _, component = topic.rpartition("/")
    if prefix.endswith("/status"):
        if component.partition(":")[0] not in _GEN2_COMPONENTS:
            return []  # sys, wifi, switch:0…
        status = load_json_object(payload)
        return _component_readings(prefix[: -len("/status")], {component: status}, ctx.received_at)
    if topic.startswith(GEN1_PREFIX):
        return _gen1(topic, payload, ctx)
    if prefix and topic.endswith(_GEN2_QUIET_SUFFIXES):
        return []
    raise DecodeError(
        "bad_topic",
        f"topic {topic!r} is not shellies/<id>/…, <id>/events/rpc or <id>/status/<component>",
    )


def _gen1(topic: str, payload: bytes, ctx: DecodeContext) -> list[Reading]:
    levels = topic.split("/")
    if len(levels) != 4 or not payload:  # announce, online, info, relay/0, the relay's temperature…
        return []
    _, device, group, name = levels
    if group == "sensor" and name in _GEN1_SENSORS:
        quantity, sensor = name, device
    elif group in _GEN1_EXTERNAL and name.isdigit():
        quantity, sensor = _GEN1_EXTERNAL[group], f"{device}/ext{name}"
    else:
        return []
    sensor = sensor_id(sensor, "Shelly device id")
    return [quantity_reading(sensor, ctx.received_at, quantity, payload_number(payload, quantity))]


def _notification(prefix: str, payload: bytes, ctx: DecodeContext) -> list[Reading]:
    message = load_json_object(payload)
    method = message.get("method")
    if type(method) is not str or method not in _NOTIFY_METHODS:
        return []
    params = message.get("params")
    if type(params) is not dict:
        raise DecodeError("wrong_type", "params of a Shelly notification must be an object")
    return _component_readings(
        prefix, params, device_time(params.get("ts"), "params.ts", ctx, prefix)
    )


def _component_readings(prefix: str, components: dict[str, Any], time: datetime) -> list[Reading]:
    """One reading per instance of the temperature/humidity/devicepower components."""
    instances: dict[str, list[float | None]] = {}
    errors: list[str] = []
    for key, status in components.items():
        kind, colon, instance = key.partition(":")
        if not colon or kind not in _GEN2_COMPONENTS:
            continue
        if type(status) is not dict:
            raise DecodeError("wrong_type", f"{key} must be an object")
        values = instances.setdefault(instance, [None, None, None])
        if kind == "temperature":
            values[0] = number(status.get("tC"), f"{key}.tC")
            if values[0] is None:
                t_f = number(status.get("tF"), f"{key}.tF")
                values[0] = None if t_f is None else fahrenheit_to_celsius(t_f)
        elif kind == "humidity":
            values[1] = number(status.get("rh"), f"{key}.rh")
        else:
            battery = status.get("battery")
            if type(battery) is dict:
                values[2] = number(battery.get("percent"), f"{key}.battery.percent")
        reported = status.get("errors")
        if reported:
            names = [e for e in reported if type(e) is str] if type(reported) is list else []
            errors.append(f"{key} ({', '.join(names) or 'errors'})")
    readings = [
        Reading(
            sensor_id(prefix if instance == "0" else f"{prefix}/{instance}", "Shelly device id"),
            time,
            temperature,
            humidity,
            battery,
        )
        for instance, (temperature, humidity, battery) in instances.items()
        if temperature is not None or humidity is not None or battery is not None
    ]
    if not readings and errors:
        raise DecodeError("sensor_error", f"Shelly reports errors: {'; '.join(errors)}")
    return readings
