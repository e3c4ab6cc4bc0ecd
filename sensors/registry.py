"""The site/room/sensor registry: where each sensor hangs, what it measures, how to correct it.

The registry is a YAML file (``examples/registry.yaml`` is a complete example)::

    sites:
      - id: city-archives            # [a-z0-9][a-z0-9_-]*, unique
        name: City Archives
        timezone: Europe/London      # IANA zone: device-local clocks, calibration dates, reports
        rooms:
          - id: stack-3              # unique within its site
            name: Stack 3
            profile: iso11799-paper  # climate profile id (checked with Registry.check_profiles)
            holdings: paper          # paper|parchment|photographs|film|magnetic|mixed|wood
            sensors:
              - id: s3-north         # unique across the registry
                match: {format: generic, device: s3-north, topic: "repoclimate/#"}
                quantity: null       # esphome only: temperature|humidity when the name lacks it
                expected_interval_s: 300
                humidity_fraction: false
                surface: false
                calibration:
                  - {from: 2026-01-10, temperature_offset: -0.2, humidity_offset: 1.5}

A sensor matches a decoded reading by its device id (``match.device``, default the sensor id) and,
when given, the payload format and an MQTT topic filter (``+`` and ``#`` wildcards). When several
entries share a device id the most specific one that matches wins (format and topic, then format,
then topic, then neither). Calibration rules are in :mod:`sensors.calibration`.

Errors are `sensors.yamlfile.Issue` objects naming the file, the line and the field, e.g.
``registry.yaml:14: sites[0].rooms[1].sensors[2].expected_interval_s: Input should be greater
than 0``. Unknown keys are rejected (``unknown key (did you mean 'profile'?)``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Self
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from repoclimate.sensors.calibration import (
    Calibration,
    CalibrationTable,
    DuplicateCalibrationStartError,
    correct,
)
from repoclimate.sensors.reading import UNASSIGNED, Reading
from repoclimate.sensors.tags import check_tag_text
from repoclimate.sensors.topics import check_topic_filter, topic_matches
from repoclimate.sensors.yamlfile import (
    ConfigError,
    FieldIssuesError,
    FieldPath,
    Issue,
    TimeZoneName,
    issue_at,
    load_yaml,
    parse_yaml,
    validate,
)

__all__ = [
    "FORMATS",
    "HOLDINGS",
    "Calibration",
    "Match",
    "Registry",
    "RegistryError",
    "Resolver",
    "Room",
    "SensorSpec",
    "Site",
    "load_registry",
    "parse_registry",
    "topic_matches",
]

FORMATS = ("generic", "zigbee2mqtt", "tasmota", "shelly", "esphome", "ttn", "lineprotocol")
"""Payload formats a sensor's ``match.format`` may name."""
HOLDINGS = ("paper", "parchment", "photographs", "film", "magnetic", "mixed", "wood")
"""Kinds of holdings a room may keep."""

Format = Literal["generic", "zigbee2mqtt", "tasmota", "shelly", "esphome", "ttn", "lineprotocol"]
Holdings = Literal["paper", "parchment", "photographs", "film", "magnetic", "mixed", "wood"]
Quantity = Literal["temperature", "humidity"]

_SLUG = r"^[a-z0-9][a-z0-9_-]*$"
_SENSOR_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
_PROFILE_ID = r"^[a-z0-9][a-z0-9_.-]*$"
_CACHE_LIMIT = 200_000


Resolver = Callable[[str, str, Reading], Reading]
"""``(format, topic, reading) -> placed reading``: see `Registry.resolve`."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Match(_Model):
    """How a decoded reading is recognised as this sensor's."""

    format: Format | None = None
    """Payload format; any format when absent."""
    device: str | None = Field(default=None, min_length=1, max_length=256)
    """Device id as the decoder names it; the sensor id when absent."""
    topic: str | None = Field(default=None, max_length=1024)
    """MQTT topic filter the message must arrive on; any topic when absent."""

    @field_validator("device")
    @classmethod
    def _device_printable(cls, value: str | None) -> str | None:
        if value is not None:
            check_tag_text(value, "device id")
        return value

    @field_validator("topic")
    @classmethod
    def _topic_filter(cls, value: str | None) -> str | None:
        return None if value is None else check_topic_filter(value)


class SensorSpec(_Model):
    """One sensor: its id, how to recognise its readings, how often it reports, its calibration."""

    id: str = Field(pattern=_SENSOR_ID, max_length=128)
    name: str | None = None
    match: Match = Match()
    quantity: Quantity | None = None
    """ESPHome only: what the sensor measures when its object id does not end in the quantity."""
    expected_interval_s: float = Field(default=300.0, gt=0, allow_inf_nan=False)
    humidity_fraction: bool = False
    """The device sends relative humidity as 0…1; it is scaled to %RH."""
    surface: bool = False
    """Measures a surface (wall, floor) temperature rather than air."""
    calibration: tuple[Calibration, ...] = ()

    @property
    def device(self) -> str:
        """The device id this sensor's readings carry."""
        return self.match.device or self.id

    @model_validator(mode="after")
    def _quantity_for_esphome(self) -> Self:
        if self.quantity is not None and self.match.format not in (None, "esphome"):
            raise FieldIssuesError(
                [(("quantity",), "quantity applies to ESPHome sensors only", None)]
            )
        return self


class Room(_Model):
    """A room (stack, vault, store): its climate profile, its holdings and its sensors."""

    id: str = Field(pattern=_SLUG, max_length=64)
    name: str | None = None
    profile: str = Field(pattern=_PROFILE_ID, max_length=64)
    holdings: Holdings
    sensors: tuple[SensorSpec, ...] = ()


class Site(_Model):
    """A site (a building or a campus) in one time zone."""

    id: str = Field(pattern=_SLUG, max_length=64)
    name: str | None = None
    timezone: TimeZoneName
    rooms: tuple[Room, ...] = ()

    @property
    def zone(self) -> ZoneInfo:
        """The site's time zone."""
        return ZoneInfo(self.timezone)


class RegistryError(ConfigError):
    """A registry that cannot be used; ``issues`` lists every problem found, each with its place."""


@dataclass(frozen=True, slots=True)
class _Placement:
    sensor: str
    site: str
    room: str
    humidity_fraction: bool
    table: CalibrationTable

    def apply(self, reading: Reading) -> Reading:
        temperature, humidity = reading.temperature, reading.humidity
        if self.table or (self.humidity_fraction and humidity is not None):
            temperature, humidity = correct(
                temperature,
                humidity,
                reading.time,
                table=self.table,
                humidity_fraction=self.humidity_fraction,
            )
        return Reading(
            self.sensor,
            reading.time,
            temperature,
            humidity,
            reading.battery,
            reading.linkquality,
            self.site,
            self.room,
        )


@dataclass(frozen=True, slots=True)
class _Candidate:
    format: str | None
    topic: str | None
    specificity: int
    order: int
    placement: _Placement
    zone: ZoneInfo


@dataclass
class _Index:
    by_device: dict[str, list[_Candidate]] = field(default_factory=dict)
    by_sensor: dict[str, tuple[Site, Room, SensorSpec]] = field(default_factory=dict)
    esphome_quantity: dict[str, str] = field(default_factory=dict)
    topic_quantity: list[tuple[str, str]] = field(default_factory=list)


class Registry(_Model):
    """Every site, room and sensor, plus fast lookups from a decoded reading to its sensor."""

    sites: tuple[Site, ...]

    _index: _Index = PrivateAttr(default_factory=_Index)
    _resolve: Resolver = PrivateAttr()  # both set by the validator
    _quantity_for: Callable[[str], str | None] = PrivateAttr()
    _source: str | None = PrivateAttr(default=None)
    _lines: dict[FieldPath, int] = PrivateAttr(default_factory=dict)

    @classmethod
    def empty(cls) -> Registry:
        """A registry that knows no sensor: every reading is kept as unassigned."""
        return cls(sites=())

    @model_validator(mode="after")
    def _check_and_index(self) -> Self:
        problems: list[tuple[FieldPath, str, FieldPath | None]] = []
        site_seen: dict[str, FieldPath] = {}
        sensor_seen: dict[str, FieldPath] = {}
        match_seen: dict[tuple[str | None, str, str | None], FieldPath] = {}
        index = _Index()
        order = 0
        for s, site in enumerate(self.sites):
            site_path: FieldPath = ("sites", s)
            _unique(site_seen, site.id, (*site_path, "id"), "site id", problems)
            room_seen: dict[str, FieldPath] = {}
            zone = site.zone
            for r, room in enumerate(site.rooms):
                room_path: FieldPath = (*site_path, "rooms", r)
                _unique(room_seen, room.id, (*room_path, "id"), "room id", problems)
                for n, sensor in enumerate(room.sensors):
                    path: FieldPath = (*room_path, "sensors", n)
                    _unique(sensor_seen, sensor.id, (*path, "id"), "sensor id", problems)
                    key = (sensor.match.format, sensor.device, sensor.match.topic)
                    _unique(
                        match_seen,
                        key,
                        (*path, "match"),
                        "match",
                        problems,
                        describe=f"(device {sensor.device!r}, same format and topic)",
                    )
                    try:
                        table = CalibrationTable.build(sensor.calibration, zone)
                    except DuplicateCalibrationStartError as exc:
                        problems.append(
                            (
                                (*path, "calibration", exc.second, "from"),
                                str(exc),
                                (*path, "calibration", exc.first, "from"),
                            )
                        )
                        table = CalibrationTable()
                    placement = _Placement(
                        sensor.id, site.id, room.id, sensor.humidity_fraction, table
                    )
                    specificity = 2 * (sensor.match.format is not None) + (
                        sensor.match.topic is not None
                    )
                    index.by_device.setdefault(sensor.device, []).append(
                        _Candidate(
                            sensor.match.format,
                            sensor.match.topic,
                            specificity,
                            order,
                            placement,
                            zone,
                        )
                    )
                    order += 1
                    index.by_sensor.setdefault(sensor.id, (site, room, sensor))
                    if sensor.quantity is not None:
                        if sensor.match.topic is not None:
                            index.topic_quantity.append((sensor.match.topic, sensor.quantity))
                        else:
                            index.esphome_quantity.setdefault(sensor.device, sensor.quantity)
        if problems:
            raise FieldIssuesError(problems)
        for candidates in index.by_device.values():
            candidates.sort(key=lambda c: (-c.specificity, c.order))
        self._index = index
        self._resolve = _resolver(index)
        self._quantity_for = _quantity_lookup(index)
        return self

    # ----- navigation -------------------------------------------------------------------------

    def rooms(self) -> Iterator[tuple[Site, Room]]:
        """Every (site, room), in file order."""
        for site in self.sites:
            for room in site.rooms:
                yield site, room

    def sensors(self) -> Iterator[tuple[Site, Room, SensorSpec]]:
        """Every (site, room, sensor), in file order."""
        for site in self.sites:
            for room in site.rooms:
                for sensor in room.sensors:
                    yield site, room, sensor

    def sensor(self, sensor_id: str) -> SensorSpec:
        """The sensor with registry id ``sensor_id``; ``KeyError`` if there is none."""
        return self.locate(sensor_id)[2]

    def locate(self, sensor_id: str) -> tuple[Site, Room, SensorSpec]:
        """(site, room, sensor) of registry id ``sensor_id``; ``KeyError`` if there is none."""
        try:
            return self._index.by_sensor[sensor_id]
        except KeyError:
            raise KeyError(f"no sensor {sensor_id!r} in the registry") from None

    def room(self, site_id: str, room_id: str) -> Room:
        """The room ``room_id`` of site ``site_id``; ``KeyError`` if there is none."""
        for site, room in self.rooms():
            if site.id == site_id and room.id == room_id:
                return room
        raise KeyError(f"no room {site_id}/{room_id} in the registry")

    @property
    def default_timezone(self) -> ZoneInfo:
        """The first site's time zone (UTC for an empty registry): for device-local clocks of
        sensors the registry does not know."""
        return self.sites[0].zone if self.sites else ZoneInfo("UTC")

    def timezone_for_sensor(self, device: str) -> ZoneInfo:
        """Time zone of the site of the sensor with device id ``device``; the default zone if no
        sensor has that device id."""
        candidates = self._index.by_device.get(device)
        return candidates[0].zone if candidates else self.default_timezone

    def timezone_resolver(self) -> Callable[[str], ZoneInfo]:
        """`timezone_for_sensor` as a plain function with a per-device cache (for
        `DecodeContext.timezone_for`: device-local clocks read in their own site's zone)."""
        by_device = self._index.by_device
        default = self.default_timezone
        cache: dict[str, ZoneInfo] = {}

        def timezone_for(device: str) -> ZoneInfo:
            try:
                return cache[device]
            except KeyError:
                pass
            candidates = by_device.get(device)
            zone = candidates[0].zone if candidates else default
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[device] = zone
            return zone

        return timezone_for

    # ----- resolution -------------------------------------------------------------------------

    def resolve(self, fmt: str, topic: str, reading: Reading) -> Reading:
        """``reading`` placed: renamed to its registry sensor id, site and room set, humidity
        fraction scaled and calibration applied.

        ``fmt`` is the concrete format the message was decoded as (``"auto"`` or ``""`` match
        any format). A reading no sensor matches is kept: sensor = its device id, site and room
        ``UNASSIGNED``, values untouched. Hot loops should call `resolver()` once and use the
        function it returns.
        """
        # Not self._resolve: pydantic serves private attributes through __getattr__, which
        # costs more (about 2 µs) than the placement itself.
        resolve: Resolver = self.__pydantic_private__["_resolve"]  # type: ignore[index]
        return resolve(fmt, topic, reading)

    def resolver(self) -> Resolver:
        """`resolve` as a plain function (cached placements, no model attribute access)."""
        return self._resolve

    def quantity_for(self, topic: str) -> str | None:
        """What an ESPHome state topic measures when its object id does not say so.

        ``<node>/sensor/<object_id>/state`` is looked up as device ``<node>/<object_id>`` among
        sensors with an explicit ``quantity``, then against those sensors' topic filters.
        """
        quantity_for: Callable[[str], str | None] = self.__pydantic_private__["_quantity_for"]  # type: ignore[index]
        return quantity_for(topic)

    def quantity_resolver(self) -> Callable[[str], str | None]:
        """`quantity_for` as a plain function (for `DecodeContext.quantity_for`)."""
        return self._quantity_for

    # ----- checks that need other packages ----------------------------------------------------

    def check_profiles(self, known: Collection[str]) -> None:
        """Raise ``RegistryError`` naming every room whose profile is not in ``known``."""
        issues: list[Issue] = []
        for s, site in enumerate(self.sites):
            for r, room in enumerate(site.rooms):
                if room.profile not in known:
                    path: FieldPath = ("sites", s, "rooms", r, "profile")
                    issues.append(
                        self.issue(
                            path,
                            f"unknown climate profile {room.profile!r}; known: "
                            + ", ".join(sorted(known)),
                        )
                    )
        if issues:
            raise RegistryError(issues)

    @property
    def source(self) -> str | None:
        """The file this registry was loaded from, if any."""
        return self._source

    def issue(self, path: FieldPath, reason: str) -> Issue:
        """A problem found later (by a check that needs other packages) at field ``path`` of
        this registry, on the line of its file the field is on."""
        return issue_at(self._source, self._lines, path, reason)


def _resolver(index: _Index) -> Resolver:
    """The placement function of an index, with its own cache, as a closure.

    Everything it needs is bound here, so a call costs dictionary look-ups only (pydantic
    private attributes cost a ``__getattr__`` call each, which showed in the collector's
    profile).
    """
    by_device = index.by_device
    cache: dict[tuple[str, str, str], _Placement | None] = {}

    def place(fmt: str, topic: str, device: str) -> _Placement | None:
        any_format = fmt in ("", "auto")
        for candidate in by_device.get(device, ()):
            if candidate.format is not None and not any_format and candidate.format != fmt:
                continue
            if candidate.topic is not None and not topic_matches(candidate.topic, topic):
                continue
            return candidate.placement
        return None

    def resolve(fmt: str, topic: str, reading: Reading) -> Reading:
        key = (fmt, topic, reading.sensor)
        try:
            placement = cache[key]
        except KeyError:
            placement = place(fmt, topic, reading.sensor)
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[key] = placement
        if placement is None:
            return Reading(
                reading.sensor,
                reading.time,
                reading.temperature,
                reading.humidity,
                reading.battery,
                reading.linkquality,
                UNASSIGNED,
                UNASSIGNED,
            )
        return placement.apply(reading)

    return resolve


def _quantity_lookup(index: _Index) -> Callable[[str], str | None]:
    """`Registry.quantity_for` of an index, with its own cache, as a closure."""
    esphome_quantity = index.esphome_quantity
    topic_quantity = index.topic_quantity
    cache: dict[str, str | None] = {}

    def quantity_for(topic: str) -> str | None:
        try:
            return cache[topic]
        except KeyError:
            pass
        quantity: str | None = None
        levels = topic.split("/")
        if len(levels) >= 4 and levels[-1] == "state" and levels[-3] == "sensor":
            device = "/".join(levels[:-3]) + "/" + levels[-2]
            quantity = esphome_quantity.get(device)
        if quantity is None:
            for topic_filter, wanted in topic_quantity:
                if topic_matches(topic_filter, topic):
                    quantity = wanted
                    break
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[topic] = quantity
        return quantity

    return quantity_for


def _unique(
    seen: dict[Any, FieldPath],
    key: Any,
    path: FieldPath,
    what: str,
    problems: list[tuple[FieldPath, str, FieldPath | None]],
    describe: str | None = None,
) -> None:
    first = seen.get(key)
    if first is None:
        seen[key] = path
        return
    label = describe or repr(key)
    problems.append((path, f"duplicate {what} {label}", first))


# ----- loading ---------------------------------------------------------------------------------


def parse_registry(text: str, source: str = "<registry>") -> Registry:
    """Validate registry YAML ``text``; ``source`` names it in errors (normally the file path)."""
    try:
        data, lines = parse_yaml(text, source)
    except ConfigError as exc:
        raise RegistryError(exc.issues) from None
    return _registry_from(data, lines, source)


def load_registry(path: str | Path) -> Registry:
    """Load and validate the registry file at ``path``.

    Raises ``RegistryError`` naming the file, the line and the field of every problem.
    """
    try:
        data, lines = load_yaml(Path(path))
    except ConfigError as exc:
        raise RegistryError(exc.issues) from None
    return _registry_from(data, lines, str(path))


def _registry_from(data: object, lines: dict[FieldPath, int], source: str) -> Registry:
    if data is None:
        raise RegistryError(
            Issue(source, 1, "", "the registry is empty; expected a mapping with a 'sites' list")
        )
    if not isinstance(data, dict):
        raise RegistryError(issue_at(source, lines, (), "expected a mapping with a 'sites' list"))
    try:
        registry = validate(Registry, data, source=source, lines=lines)
    except ConfigError as exc:
        raise RegistryError(exc.issues) from None
    registry._source = source
    registry._lines = lines
    return registry
