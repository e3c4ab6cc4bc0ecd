"""What the simulator simulates: sites, rooms with their plant, sensors with their devices.

A :class:`Layout` comes from the built-in demo (:func:`demo_layout`, the same site, rooms and
devices as ``examples/registry.yaml``) or from any registry (:func:`layout_from_registry`, with
room plant guessed from the climate profile). :meth:`Layout.with_encodings` re-targets every
sensor to one payload format or a rotation of several; :meth:`Layout.with_interval` sets one
reporting interval for all; :meth:`Layout.scaled` multiplies the sensors for load tests;
:meth:`Layout.registry_yaml` writes the registry that places every simulated device, so a
collector fed by the simulator files each reading under its room.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from zoneinfo import ZoneInfo

import yaml

from repoclimate.sensors.calibration import Calibration
from repoclimate.sensors.registry import Registry
from repoclimate.sensors.simulate.encoders import DECODER_FORMAT, ENCODINGS
from repoclimate.sensors.simulate.physics import OutdoorClimate, RoomClimate


@dataclass(frozen=True, slots=True)
class SimSensor:
    """A simulated sensor: its registry id, its device and what makes its readings its own."""

    id: str
    device: str
    encoding: str
    interval_s: int = 300
    position_c: float = 0.0
    """How much warmer its spot is than the room's mean air [°C] (cold wall: negative)."""
    bias_c: float = 0.0
    """The device's temperature error [°C] (its registry calibration corrects it)."""
    bias_rh: float = 0.0
    """The device's humidity error [%RH]."""
    humidity_fraction: bool = False
    battery: bool = False
    surface: bool = False
    quantity: str | None = None
    """Measures only this quantity (``temperature`` / ``humidity``); both when ``None``."""
    model: str | None = None
    """Device model where the format has several (Tasmota chip, TTN ``ERS``)."""
    name: str | None = None
    calibration: tuple[Calibration, ...] = ()
    topic: str | None = None
    """Topic filter for the registry's match, if the sensor should be matched by topic too."""

    @property
    def decoder_format(self) -> str:
        return DECODER_FORMAT[self.encoding]


@dataclass(frozen=True, slots=True)
class SimRoom:
    """A simulated room: its registry fields, its physics and its sensors."""

    id: str
    profile: str
    holdings: str
    climate: RoomClimate
    sensors: tuple[SimSensor, ...]
    name: str | None = None


@dataclass(frozen=True, slots=True)
class SimSite:
    """A simulated site: its time zone, its outdoor climate and its rooms."""

    id: str
    timezone: str
    rooms: tuple[SimRoom, ...]
    outdoor: OutdoorClimate = field(default_factory=OutdoorClimate)
    name: str | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True, slots=True)
class Layout:
    """Every simulated site, room and sensor."""

    sites: tuple[SimSite, ...]

    def rooms(self) -> Iterator[tuple[SimSite, SimRoom]]:
        for site in self.sites:
            for room in site.rooms:
                yield site, room

    def sensors(self) -> Iterator[tuple[SimSite, SimRoom, SimSensor]]:
        for site, room in self.rooms():
            for sensor in room.sensors:
                yield site, room, sensor

    def with_encodings(self, formats: str | Sequence[str] = "mixed") -> Layout:
        """Sensors re-targeted to ``formats``.

        ``"mixed"`` keeps each sensor's own format; one encoding (``"tasmota"``) or several
        (``["generic", "ttn"]``, assigned in rotation over the sensors) re-target them all.
        ``"shelly"`` stands for ``shelly-gen1`` and ``shelly-gen2`` in turn. Device ids change
        only where the new format needs it (ESPHome ids are ``<node>/<object>``).
        """
        encodings = expand_formats(formats)
        if encodings is None:
            return self
        counter = 0
        sites = []
        for site in self.sites:
            rooms = []
            for room in site.rooms:
                sensors = []
                for sensor in room.sensors:
                    encoding = encodings[counter % len(encodings)]
                    counter += 1
                    sensors.append(_retarget(sensor, encoding, room.id))
                rooms.append(replace(room, sensors=tuple(sensors)))
            sites.append(replace(site, rooms=tuple(rooms)))
        return Layout(tuple(sites))

    def with_interval(self, interval_s: int | None) -> Layout:
        """Every sensor reporting every ``interval_s`` seconds (``None``: each its own), as
        loggers set to report hourly do; the registry's expected intervals follow."""
        if interval_s is None:
            return self
        if interval_s < 1:
            raise ValueError("the reporting interval must be at least 1 s")
        return Layout(
            tuple(
                replace(
                    site,
                    rooms=tuple(
                        replace(
                            room,
                            sensors=tuple(
                                replace(sensor, interval_s=interval_s) for sensor in room.sensors
                            ),
                        )
                        for room in site.rooms
                    ),
                )
                for site in self.sites
            )
        )

    def scaled(self, copies: int) -> Layout:
        """Each sensor ``copies`` times (copy k > 1 gets id and device suffix ``-xk``)."""
        if copies < 1:
            raise ValueError("copies must be at least 1")
        if copies == 1:
            return self
        sites = []
        for site in self.sites:
            rooms = []
            for room in site.rooms:
                sensors = list(room.sensors)
                for k in range(2, copies + 1):
                    sensors.extend(_copy(sensor, k) for sensor in room.sensors)
                rooms.append(replace(room, sensors=tuple(sensors)))
            sites.append(replace(site, rooms=tuple(rooms)))
        return Layout(tuple(sites))

    def registry_yaml(self) -> str:
        """A registry (YAML) that places every simulated sensor in its room."""
        document = {"sites": [_site_entry(site) for site in self.sites]}
        header = "# Registry of the simulated repository (written by the repoclimate simulator).\n"
        return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)

    def messages_per_hour(self) -> float:
        """MQTT messages the layout publishes per simulated hour."""
        total = 0.0
        for _, _, sensor in self.sensors():
            total += 3600.0 / sensor.interval_s * _messages_per_reading(sensor)
        return total


def _messages_per_reading(sensor: SimSensor) -> int:
    quantities = 1 if sensor.quantity is not None else 2
    if sensor.encoding == "esphome":
        return quantities
    if sensor.encoding == "shelly-gen1":
        return quantities + (1 if sensor.battery else 0)
    return 1


def expand_formats(formats: str | Sequence[str]) -> tuple[str, ...] | None:
    """The encodings named by ``formats`` (``None`` for ``"mixed"``); ``ValueError`` if unknown."""
    names = [formats] if isinstance(formats, str) else list(formats)
    names = [part.strip() for name in names for part in name.split(",") if part.strip()]
    if names == ["mixed"]:
        return None
    encodings: list[str] = []
    for name in names:
        if name == "shelly":
            encodings += ["shelly-gen1", "shelly-gen2"]
        elif name in ENCODINGS:
            encodings.append(name)
        else:
            raise ValueError(
                f"unknown format {name!r}; use mixed, shelly or one of {', '.join(ENCODINGS)}"
            )
    if not encodings:
        raise ValueError("no format given")
    return tuple(encodings)


def _slug(text: str, separator: str) -> str:
    return re.sub(r"[^a-z0-9]+", separator, text.lower()).strip(separator) or "sensor"


def _retarget(sensor: SimSensor, encoding: str, room_id: str) -> SimSensor:
    if encoding == sensor.encoding:
        return sensor
    device = sensor.device
    if encoding == "esphome" and "/" not in device:
        device = f"{_slug(room_id, '-')}-node/{_slug(sensor.id, '_')}"
    elif encoding != "esphome" and "/" in device:
        device = sensor.id
    return replace(
        sensor,
        encoding=encoding,
        device=device,
        humidity_fraction=sensor.humidity_fraction and encoding in ("generic", "lineprotocol"),
        quantity=sensor.quantity if encoding == "esphome" else None,
        topic=None,
    )


def _copy(sensor: SimSensor, k: int) -> SimSensor:
    device = f"{sensor.device}_x{k}" if sensor.encoding == "esphome" else f"{sensor.device}-x{k}"
    return replace(sensor, id=f"{sensor.id}-x{k}", device=device, name=None)


def _site_entry(site: SimSite) -> dict[str, object]:
    entry: dict[str, object] = {"id": site.id}
    if site.name:
        entry["name"] = site.name
    entry["timezone"] = site.timezone
    entry["rooms"] = [_room_entry(room) for room in site.rooms]
    return entry


def _room_entry(room: SimRoom) -> dict[str, object]:
    entry: dict[str, object] = {"id": room.id}
    if room.name:
        entry["name"] = room.name
    entry.update({"profile": room.profile, "holdings": room.holdings})
    entry["sensors"] = [_sensor_entry(sensor) for sensor in room.sensors]
    return entry


def _sensor_entry(sensor: SimSensor) -> dict[str, object]:
    entry: dict[str, object] = {"id": sensor.id}
    if sensor.name:
        entry["name"] = sensor.name
    match: dict[str, str] = {"format": sensor.decoder_format}
    if sensor.device != sensor.id:
        match["device"] = sensor.device
    if sensor.topic:
        match["topic"] = sensor.topic
    entry["match"] = match
    if sensor.quantity is not None and sensor.encoding == "esphome":
        entry["quantity"] = sensor.quantity
    entry["expected_interval_s"] = sensor.interval_s
    if sensor.humidity_fraction:
        entry["humidity_fraction"] = True
    if sensor.surface:
        entry["surface"] = True
    if sensor.calibration:
        entry["calibration"] = [
            {"from": c.from_.isoformat(), **_offsets(c)} for c in sensor.calibration
        ]
    return entry


def _offsets(calibration: Calibration) -> dict[str, float]:
    offsets = {}
    if calibration.temperature_offset:
        offsets["temperature_offset"] = calibration.temperature_offset
    if calibration.humidity_offset:
        offsets["humidity_offset"] = calibration.humidity_offset
    return offsets


# ----- plant by climate profile ----------------------------------------------------------------

_PROFILE_PLANT: dict[str, tuple[float | None, float]] = {
    # profile: (HVAC temperature set point or None for free-running, dehumidifier RH set point)
    "ashrae-aa": (20.0, 50.0),
    "ashrae-a1": (20.0, 50.0),
    "ashrae-a2": (20.0, 50.0),
    "ashrae-as": (20.0, 50.0),  # the pre-2019 names of A1 and A2, still accepted
    "ashrae-a": (20.0, 50.0),
    "ashrae-b": (20.0, 50.0),
    "ashrae-c": (None, 50.0),
    "ashrae-d": (None, 60.0),
    "en15757": (None, 55.0),
    "iso11799-paper": (None, 40.0),
    "bs4971": (17.0, 50.0),
    "pas198": (18.0, 50.0),
    "en16893": (None, 50.0),
    "jgj25-paper": (None, 55.0),
    "jgj25-film": (14.0, 40.0),
    "film-cold": (1.0, 35.0),
}


def room_climate_for(profile: str) -> RoomClimate:
    """Plausible plant for a room held to ``profile``: HVAC where the profile's band needs it,
    a dehumidifier inside the profile's RH band everywhere (so its failure can be simulated)."""
    setpoint_c, setpoint_rh = _PROFILE_PLANT.get(profile, (None, 50.0))
    if setpoint_c is not None and setpoint_c < 10.0:
        return RoomClimate(
            setpoint_c=setpoint_c,
            setpoint_rh=setpoint_rh,
            outdoor_coupling=0.2,
            thermal_tau_h=72.0,
            moisture_tau_h=24.0,
            moisture_load_hpa=1.5,
            dehumidifier_tau_h=0.25,
        )
    return RoomClimate(setpoint_c=setpoint_c, setpoint_rh=setpoint_rh, moisture_load_hpa=4.0)


def _encoding_for(format_name: str | None, device: str) -> str:
    if format_name is None:
        return "generic"
    if format_name == "shelly":
        gen2 = re.match(r"^shelly(plus|pro|htg3|.*-g[34])", device, flags=re.IGNORECASE)
        return "shelly-gen2" if gen2 else "shelly-gen1"
    if format_name == "esphome" and "/" not in device:
        return "generic"
    return format_name


def layout_from_registry(registry: Registry) -> Layout:
    """A layout simulating every sensor of ``registry`` with its own device id and format.

    Each device's error is the negative of its latest calibration, so calibrated readings are
    right from the latest calibration on. Sensors without a format publish ``generic``.
    """
    sites = []
    for site in registry.sites:
        rooms = []
        for room in site.rooms:
            sensors = []
            for spec in room.sensors:
                latest = max(
                    spec.calibration,
                    key=lambda c: c.starts_at(site.zone),
                    default=None,
                )
                encoding = _encoding_for(spec.match.format, spec.device)
                sensors.append(
                    SimSensor(
                        id=spec.id,
                        device=spec.device,
                        encoding=encoding,
                        interval_s=max(1, round(spec.expected_interval_s)),
                        bias_c=-latest.temperature_offset if latest else 0.0,
                        bias_rh=-latest.humidity_offset if latest else 0.0,
                        humidity_fraction=spec.humidity_fraction,
                        battery=encoding in ("zigbee2mqtt", "shelly-gen1", "shelly-gen2", "ttn"),
                        surface=spec.surface,
                        quantity=spec.quantity,
                        model="ERS" if spec.device.lower().startswith("ers") else None,
                        name=spec.name,
                        calibration=spec.calibration,
                        topic=spec.match.topic,
                    )
                )
            rooms.append(
                SimRoom(
                    id=room.id,
                    profile=room.profile,
                    holdings=room.holdings,
                    climate=room_climate_for(room.profile),
                    sensors=tuple(sensors),
                    name=room.name,
                )
            )
        sites.append(SimSite(site.id, site.timezone, tuple(rooms), name=site.name))
    return Layout(tuple(sites))


# ----- the built-in demo ----------------------------------------------------------------------


def _cal(when: str, t: float = 0.0, rh: float = 0.0) -> Calibration:
    start = date.fromisoformat(when) if len(when) == 10 else when
    return Calibration.model_validate(
        {"from": start, "temperature_offset": t, "humidity_offset": rh}
    )


def demo_layout() -> Layout:
    """City Archives (Europe/London): eight rooms, thirteen sensors in every payload format —
    the site, rooms and devices of ``examples/registry.yaml``.

    Plant: each room's is set inside its profile's band, so the site is green until a fault.
    Stack 1 is a basement whose old earth-retaining walls are damp (2.5 m below ground, its
    temperature mostly the soil's, 10–14 °C over the year); stack 3 a ground-floor stack with
    dry walls; both are free-running with dehumidifiers at 40 %RH. A failed dehumidifier takes
    stack 1 to 90–97 %RH within two days in any season (mould warning in 2–4 weeks), stack 3
    to 75–90 %RH depending on the season (see `sensors.simulate.physics`). Stack 5, the map
    room, the photographic store and the searchroom are air-conditioned; vault A is a cold film
    store (1 °C, 35 %RH); stack 7 is an unconditioned outstore with no plant of its own, in a
    heated warehouse unit (19 °C), full of paper that buffers its moisture for days: 13–20 °C
    and 35–71 %RH over a year (seed 0), held to ASHRAE class C (RH 25–75 %, T ≤ 30 °C), the
    class for stores that can only avoid the high-risk extremes.
    """
    ground_floor = RoomClimate(
        building_c=18.0,
        outdoor_coupling=0.35,
        moisture_tau_h=12.0,
        moisture_load_hpa=4.5,
        setpoint_rh=40.0,
    )
    basement = RoomClimate(
        building_c=16.0,
        outdoor_coupling=0.05,
        ground_coupling=0.75,
        below_ground_m=2.5,
        thermal_tau_h=72.0,
        moisture_tau_h=96.0,
        moisture_load_hpa=1.0,
        wet_wall_tau_h=16.0,
        setpoint_rh=40.0,
    )
    rooms = (
        SimRoom(
            "stack-1",
            "iso11799-paper",
            "paper",
            basement,
            (SimSensor("stack1", "stack1", "tasmota", 300, model="AM2301", position_c=0.1),),
            name="Stack 1 (basement, bound volumes)",
        ),
        SimRoom(
            "stack-3",
            "iso11799-paper",
            "paper",
            ground_floor,
            (
                SimSensor(
                    "s3-north",
                    "s3-north",
                    "generic",
                    300,
                    position_c=-0.4,
                    bias_c=0.2,
                    bias_rh=-1.5,
                    calibration=(_cal("2026-01-10", -0.2, 1.5),),
                    topic="repoclimate/city-archives/#",
                ),
                SimSensor(
                    "stack-3-north",
                    "stack-3-north",
                    "zigbee2mqtt",
                    900,
                    position_c=-0.2,
                    bias_c=-0.1,
                    bias_rh=2.0,
                    battery=True,
                    calibration=(
                        _cal("2025-06-02", rh=-1.0),
                        _cal("2026-03-15T10:30", 0.1, -2.0),
                    ),
                ),
                SimSensor(
                    "s3-south", "s3-south", "generic", 300, position_c=0.2, humidity_fraction=True
                ),
            ),
            name="Stack 3 (ground floor, loose papers)",
        ),
        SimRoom(
            "stack-5",
            "iso11799-paper",
            "mixed",
            RoomClimate(setpoint_c=16.0, setpoint_rh=40.0, moisture_load_hpa=3.0),
            (
                SimSensor("stack-5", "archive-node-2/stack_5", "esphome", 60),
                SimSensor(
                    "stack-5-wall",
                    "archive-node-2/stack_5_wall",
                    "esphome",
                    60,
                    surface=True,
                    quantity="temperature",
                ),
            ),
            name="Stack 5 (first floor)",
        ),
        SimRoom(
            "stack-7",
            "ashrae-c",
            "paper",
            RoomClimate(
                building_c=19.0,
                outdoor_coupling=0.3,
                thermal_tau_h=24.0,
                moisture_tau_h=240.0,
                moisture_load_hpa=0.0,
            ),
            (SimSensor("em300-stack-7", "em300-stack-7", "ttn", 600, battery=True),),
            name="Stack 7 (outstore, LoRaWAN)",
        ),
        SimRoom(
            "vault-a",
            "film-cold",
            "film",
            room_climate_for("film-cold"),
            (
                SimSensor(
                    "vault-a",
                    "vault-a",
                    "tasmota",
                    300,
                    model="BME280",
                    bias_c=-0.3,
                    bias_rh=1.2,
                    calibration=(_cal("2025-11-01", 0.3, -1.2),),
                ),
            ),
            name="Vault A (cold film store)",
        ),
        SimRoom(
            "map-room",
            "bs4971",
            "paper",
            RoomClimate(setpoint_c=17.0, setpoint_rh=50.0, moisture_load_hpa=2.0),
            (SimSensor("ers-map-room", "ers-map-room", "ttn", 600, battery=True, model="ERS"),),
            name="Map Room",
        ),
        SimRoom(
            "photo-store",
            "ashrae-a2",
            "photographs",
            RoomClimate(setpoint_c=16.0, setpoint_rh=45.0, moisture_load_hpa=2.0),
            (
                SimSensor("photo-store-ht", "shellyht-6A1B2C", "shelly-gen1", 600, battery=True),
                SimSensor(
                    "photo-store-g3",
                    "shellyhtg3-84fce63a9d10",
                    "shelly-gen2",
                    600,
                    battery=True,
                    position_c=0.3,
                ),
            ),
            name="Photographic Store",
        ),
        SimRoom(
            "reading-room",
            "ashrae-b",
            "mixed",
            RoomClimate(setpoint_c=20.5, setpoint_rh=55.0, moisture_load_hpa=3.0, building_c=20.0),
            (
                SimSensor("reading-room", "reading-room", "zigbee2mqtt", 900, battery=True),
                SimSensor("reading-room-lp", "bms-searchroom", "lineprotocol", 300),
            ),
            name="Searchroom",
        ),
    )
    return Layout((SimSite("city-archives", "Europe/London", rooms, name="City Archives"),))
