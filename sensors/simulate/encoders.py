"""Encoders: a reading as each kind of real device would publish it over MQTT.

``encode(encoding, device, reading)`` returns the (topic, payload) messages of one observation,
in the shapes of ``shared/payloads`` and the formats' documentation. Values are first rounded to
the device's resolution (:func:`device_values`), so what is published is what a real device of
that kind could send.

=============  ==============================================  ================  ==============
encoding       topic                                           time in payload   resolution
=============  ==============================================  ================  ==============
generic        ``repoclimate/<site>/<room>/<device>``          ISO 8601 UTC      0.01
zigbee2mqtt    ``zigbee2mqtt/<device>``                        ``last_seen``     0.01
tasmota        ``tele/<device>/SENSOR``                        local, no offset  0.1
shelly-gen1    ``shellies/<device>/sensor/<quantity>``         none (1 / value)  0.01 °C, 0.5 %
shelly-gen2    ``<device>/events/rpc`` (``NotifyStatus``)      ``ts`` epoch s    0.1
esphome        ``<node>/sensor/<object>_<quantity>/state``     none (1 / value)  0.1
ttn            ``v3/<site>@ttn/devices/<device>/up``           ``received_at``   0.1 °C, 0.5 %
lineprotocol   ``repoclimate/<site>/lines``                    nanoseconds       0.01
=============  ==============================================  ================  ==============

The ESPHome device id is ``<node>/<object>`` (as the decoder names it); a sensor whose object id
does not end in the quantity (``quantity`` set) publishes ``<node>/sensor/<object>/state``. TTN
devices whose id starts with ``ers`` send Elsys ERS uplinks, others Milesight EM300 uplinks (with
the real ``frm_payload`` bytes). Generic sensors marked ``humidity_fraction`` send RH as 0…1.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from repoclimate.sensors.reading import UNASSIGNED, Reading
from repoclimate.sensors.simulate.physics import dew_point_c

ENCODINGS = (
    "generic",
    "zigbee2mqtt",
    "tasmota",
    "shelly-gen1",
    "shelly-gen2",
    "esphome",
    "ttn",
    "lineprotocol",
)
"""Payload shapes the simulator can publish."""

DECODER_FORMAT = {encoding: encoding for encoding in ENCODINGS} | {
    "shelly-gen1": "shelly",
    "shelly-gen2": "shelly",
}
"""The decoder format (``sensors.formats``) that reads each encoding."""

TIMESTAMPED = frozenset({"generic", "zigbee2mqtt", "tasmota", "shelly-gen2", "ttn", "lineprotocol"})
"""Encodings whose payload carries the observation time (the others are stamped on receipt)."""

_DIVISORS: dict[str, tuple[int, int]] = {
    # encoding: (temperature steps per °C, humidity steps per %RH)
    "generic": (100, 100),
    "zigbee2mqtt": (100, 100),
    "tasmota": (10, 10),
    "shelly-gen1": (100, 2),
    "shelly-gen2": (10, 10),
    "esphome": (10, 10),
    "ttn": (10, 2),
    "lineprotocol": (100, 100),
}
_FRACTION_DIVISOR = 10_000


@dataclass(frozen=True, slots=True)
class Encoded:
    """One MQTT message and which quantities of the reading it carries."""

    topic: str
    payload: bytes
    quantities: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Options:
    zone: tzinfo
    model: str | None
    explicit_quantity: bool


@dataclass(frozen=True, slots=True)
class DeviceValues:
    """The numbers a device sends: rounded to its resolution; humidity as 0…1 when it sends a
    fraction."""

    temperature: float | None
    humidity: float | None
    battery: float | None
    linkquality: float | None


def _steps(value: float, divisor: int) -> float:
    return round(value * divisor) / divisor


def device_values(
    encoding: str, reading: Reading, *, humidity_fraction: bool = False, model: str | None = None
) -> DeviceValues:
    """``reading``'s values as a device of ``encoding`` sends them (see the module table)."""
    t_div, h_div = _DIVISORS[_check(encoding)]
    if encoding == "ttn" and _is_elsys(model):
        h_div = 1
    temperature = None if reading.temperature is None else _steps(reading.temperature, t_div)
    humidity = None
    if reading.humidity is not None:
        rh = min(100.0, max(0.0, reading.humidity))
        divisor = _FRACTION_DIVISOR if humidity_fraction else h_div
        humidity = _steps(rh / 100.0 if humidity_fraction else rh, divisor)
    battery = None if reading.battery is None else float(round(reading.battery))
    linkquality = None if reading.linkquality is None else float(round(reading.linkquality))
    return DeviceValues(temperature, humidity, battery, linkquality)


def _check(encoding: str) -> str:
    if encoding not in _DIVISORS:
        raise ValueError(f"unknown encoding {encoding!r}; encodings: {', '.join(ENCODINGS)}")
    return encoding


def _is_elsys(model: str | None) -> bool:
    return model is not None and model.lower().startswith("ers")


def encode(
    encoding: str,
    device: str,
    reading: Reading,
    *,
    timezone: tzinfo = UTC,
    humidity_fraction: bool = False,
    model: str | None = None,
    explicit_quantity: bool = False,
) -> list[tuple[str, bytes]]:
    """The (topic, payload) messages a device of ``encoding`` publishes for ``reading``.

    ``device`` is the device id as the format names it; ``reading.site`` / ``reading.room`` fill
    topic levels where the format has them; ``timezone`` is the device clock's zone (Tasmota);
    ``model`` picks a device model where the format has several (Tasmota chip ``AM2301`` /
    ``BME280`` / ``SHT3X``; TTN ``ERS`` or EM300); ``explicit_quantity`` (ESPHome) publishes
    under the bare object id, for sensors whose registry entry names the quantity.
    """
    return [
        (message.topic, message.payload)
        for message in encode_messages(
            encoding,
            device,
            reading,
            timezone=timezone,
            humidity_fraction=humidity_fraction,
            model=model,
            explicit_quantity=explicit_quantity,
        )
    ]


def encode_messages(
    encoding: str,
    device: str,
    reading: Reading,
    *,
    timezone: tzinfo = UTC,
    humidity_fraction: bool = False,
    model: str | None = None,
    explicit_quantity: bool = False,
) -> list[Encoded]:
    """Like :func:`encode`, with the quantities each message carries."""
    values = device_values(encoding, reading, humidity_fraction=humidity_fraction, model=model)
    return _ENCODERS[encoding](
        device, reading, values, _Options(timezone, model, explicit_quantity)
    )


_Encoder = Callable[[str, Reading, DeviceValues, _Options], list[Encoded]]


def _json(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":"), allow_nan=False).encode()


def _iso_utc(moment: datetime, milliseconds: bool = False) -> str:
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds" if milliseconds else "auto")
    return text.replace("+00:00", "Z")


def _quantities(values: DeviceValues) -> tuple[str, ...]:
    return tuple(
        name
        for name in ("temperature", "humidity", "battery", "linkquality")
        if getattr(values, name) is not None
    )


def _present(values: DeviceValues, *names: str) -> dict[str, float | int]:
    document: dict[str, float | int] = {}
    for name in names:
        value = getattr(values, name)
        if value is not None:
            document[name] = int(value) if name in ("battery", "linkquality") else value
    return document


def _generic(
    device: str, reading: Reading, values: DeviceValues, options: _Options
) -> list[Encoded]:
    site = reading.site or UNASSIGNED
    room = reading.room or UNASSIGNED
    document: dict[str, object] = {"time": _iso_utc(reading.time)}
    level = device
    if "/" in device or "+" in device or "#" in device:  # not a topic level: name it in the body
        document["sensor"] = device
        level = device.replace("/", "_").replace("+", "_").replace("#", "_")
    document.update(_present(values, "temperature", "humidity", "battery", "linkquality"))
    return [Encoded(f"repoclimate/{site}/{room}/{level}", _json(document), _quantities(values))]


def _zigbee2mqtt(
    device: str, reading: Reading, values: DeviceValues, options: _Options
) -> list[Encoded]:
    document: dict[str, object] = {}
    document.update(_present(values, "battery", "humidity", "linkquality", "temperature"))
    if values.battery is not None:
        document["voltage"] = int(2500 + 5.5 * values.battery)
    document["last_seen"] = _iso_utc(reading.time, milliseconds=True)
    return [Encoded(f"zigbee2mqtt/{device}", _json(document), _quantities(values))]


def _tasmota(
    device: str, reading: Reading, values: DeviceValues, options: _Options
) -> list[Encoded]:
    local = reading.time.astimezone(options.zone).replace(tzinfo=None, microsecond=0)
    model = (options.model or "").upper()
    chip = model if model in ("AM2301", "BME280", "SHT3X", "DHT11") else "AM2301"
    sensor: dict[str, float] = {}
    if values.temperature is not None:
        sensor["Temperature"] = values.temperature
    if values.humidity is not None:
        sensor["Humidity"] = values.humidity
        if values.temperature is not None:
            sensor["DewPoint"] = round(dew_point_c(values.temperature, values.humidity), 1)
    if chip == "BME280":
        sensor["Pressure"] = 1013.2
    document: dict[str, object] = {"Time": local.isoformat(), chip: sensor, "TempUnit": "C"}
    if chip == "BME280":
        document["PressureUnit"] = "hPa"
    quantities = tuple(q for q in ("temperature", "humidity") if getattr(values, q) is not None)
    return [Encoded(f"tele/{device}/SENSOR", _json(document), quantities)]


def _number_text(value: float) -> bytes:
    return repr(value).encode()


def _shelly_gen1(
    device: str, reading: Reading, values: DeviceValues, options: _Options
) -> list[Encoded]:
    messages = []
    for quantity in ("temperature", "humidity", "battery"):
        value = getattr(values, quantity)
        if value is None:
            continue
        text = str(int(value)).encode() if quantity == "battery" else _number_text(value)
        messages.append(Encoded(f"shellies/{device}/sensor/{quantity}", text, (quantity,)))
    return messages


def _shelly_gen2(
    device: str, reading: Reading, values: DeviceValues, options: _Options
) -> list[Encoded]:
    params: dict[str, object] = {"ts": round(reading.time.timestamp(), 2)}
    if values.temperature is not None:
        t_f = round(values.temperature * 9.0 / 5.0 + 32.0, 1)
        params["temperature:0"] = {"id": 0, "tC": values.temperature, "tF": t_f}
    if values.humidity is not None:
        params["humidity:0"] = {"id": 0, "rh": values.humidity}
    if values.battery is not None:
        volts = round(4.2 + 1.8 * values.battery / 100.0, 2)
        params["devicepower:0"] = {
            "id": 0,
            "battery": {"V": volts, "percent": int(values.battery)},
            "external": {"present": False},
        }
    document = {
        "src": device,
        "dst": f"{device}/events",
        "method": "NotifyStatus",
        "params": params,
    }
    quantities = tuple(
        q for q in ("temperature", "humidity", "battery") if getattr(values, q) is not None
    )
    return [Encoded(f"{device}/events/rpc", _json(document), quantities)]


def _esphome(
    device: str, reading: Reading, values: DeviceValues, options: _Options
) -> list[Encoded]:
    node, slash, object_id = device.rpartition("/")
    if not slash:
        raise ValueError(f"an ESPHome device id is <node>/<object>, got {device!r}")
    present = [q for q in ("temperature", "humidity") if getattr(values, q) is not None]
    messages = []
    for quantity in present:
        value = getattr(values, quantity)
        suffix = "" if options.explicit_quantity else f"_{quantity}"
        messages.append(
            Encoded(
                f"{node}/sensor/{object_id}{suffix}/state", f"{value:.1f}".encode(), (quantity,)
            )
        )
    return messages


def _milesight_em300(values: DeviceValues) -> bytes:
    frame = b""
    if values.battery is not None:
        frame += bytes((0x01, 0x75, int(values.battery)))
    if values.temperature is not None:
        frame += bytes((0x03, 0x67)) + struct.pack("<h", round(values.temperature * 10))
    if values.humidity is not None:
        frame += bytes((0x04, 0x68, round(values.humidity * 2)))
    return frame


def _elsys_ers(values: DeviceValues) -> bytes:
    frame = b""
    if values.temperature is not None:
        frame += b"\x01" + struct.pack(">h", round(values.temperature * 10))
    if values.humidity is not None:
        frame += bytes((0x02, round(values.humidity)))
    frame += b"\x04" + struct.pack(">H", 12) + b"\x05\x00"
    frame += b"\x07" + struct.pack(">H", 3648)
    return frame


def _ttn(device: str, reading: Reading, values: DeviceValues, options: _Options) -> list[Encoded]:
    application = reading.site or UNASSIGNED
    rssi = -88 if values.linkquality is None else int(values.linkquality)
    decoded: dict[str, object] = {}
    if _is_elsys(options.model):
        f_port, frame = 5, _elsys_ers(values)
        decoded.update(_present(values, "temperature", "humidity"))
        decoded.update({"light": 12, "motion": 0, "vdd": 3648})
    else:
        f_port, frame = 85, _milesight_em300(values)
        decoded.update(_present(values, "battery", "humidity", "temperature"))
    document = {
        "end_device_ids": {
            "device_id": device,
            "application_ids": {"application_id": application},
        },
        "received_at": _iso_utc(reading.time),
        "uplink_message": {
            "f_port": f_port,
            "frm_payload": base64.b64encode(frame).decode(),
            "decoded_payload": decoded,
            "rx_metadata": [{"gateway_ids": {"gateway_id": "gw-roof"}, "rssi": rssi, "snr": 9.2}],
        },
    }
    quantities: tuple[str, ...] = tuple(
        q for q in ("temperature", "humidity", "battery") if q in decoded
    )
    if values.linkquality is not None:
        quantities += ("linkquality",)
    return [Encoded(f"v3/{application}@ttn/devices/{device}/up", _json(document), quantities)]


def _escape_tag(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _lineprotocol(
    device: str, reading: Reading, values: DeviceValues, options: _Options
) -> list[Encoded]:
    fields = ",".join(
        f"{name}={value!r}"
        for name, value in (
            ("temperature", values.temperature),
            ("humidity", values.humidity),
            ("battery", values.battery),
        )
        if value is not None
    )
    nanoseconds = round(reading.time.timestamp() * 1_000_000) * 1000
    line = f"climate,sensor={_escape_tag(device)} {fields} {nanoseconds}"
    site = reading.site or UNASSIGNED
    return [Encoded(f"repoclimate/{site}/lines", line.encode(), _quantities(values))]


_ENCODERS: dict[str, _Encoder] = {
    "generic": _generic,
    "zigbee2mqtt": _zigbee2mqtt,
    "tasmota": _tasmota,
    "shelly-gen1": _shelly_gen1,
    "shelly-gen2": _shelly_gen2,
    "esphome": _esphome,
    "ttn": _ttn,
    "lineprotocol": _lineprotocol,
}
