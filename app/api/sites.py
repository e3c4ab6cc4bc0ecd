"""Sites, rooms and sensors from the registry, each with its present state: latest reading, dew
point, the band of its room's profile, a status and the open alerts about it.

Each sensor also carries its calibration in force now (the registry's offsets, which the
pipeline added to its raw values) and its health: the open alerts of the health rules
(`alerts.rules.health`: silent, stuck, battery low, out of range) about it, each with its since.

Status of a sensor: ``silent`` when its latest reading is older than the health rule's
``silent_factor`` × its expected interval (or it was never heard), else the worse of its
temperature and humidity against the band (`preservation.status`: ``ok``, ``near``, ``out``, or
``missing`` when it sent neither); a surface (wall) sensor is judged for silence only. A room's
and a site's status is the worst of their sensors', worst first: ``out`` (the collection is in
conditions that harm it now), ``silent`` (nobody knows), ``near``, ``ok``, ``missing``. A room
with one sensor out and another silent is ``out``: the silent one is counted beside it.
``unassigned`` is the status of readings from devices the registry does not know
(``GET /api/unassigned``).

A room id is unique within its site: ``/api/sites/{site}/rooms/{room}`` always names one room,
``/api/rooms/{room}`` does when no other site has a room of that id (else 409; ``?site=`` picks).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel

from repoclimate.alerts.config import HealthParams
from repoclimate.alerts.model import Alert, AlertState
from repoclimate.alerts.rules.health import RULES as HEALTH_RULES
from repoclimate.app.api.alerts import AlertOut, SeverityName, alert_out
from repoclimate.app.api.auth import get_services, require
from repoclimate.app.api.errors import AUTH_RESPONSES, described
from repoclimate.app.services import Services
from repoclimate.app.users import Role
from repoclimate.preservation.profiles import PROFILES
from repoclimate.preservation.psychrometrics import dew_point
from repoclimate.preservation.status import Band, Status, profile_band, worst
from repoclimate.sensors.calibration import Calibration
from repoclimate.sensors.reading import Reading
from repoclimate.sensors.registry import Room, SensorSpec, Site

SensorStatus = Literal["ok", "near", "out", "missing", "silent", "unassigned"]
_STATUS_RANK = {"missing": 0, "ok": 1, "near": 2, "silent": 3, "unassigned": 3, "out": 4}

router = APIRouter(prefix="/api", tags=["sites"], dependencies=[Depends(require(Role.VIEWER))])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: described("No such site, room or sensor")}


class BandOut(BaseModel):
    """The band a room's profile holds it to; null for an open limit [°C, %RH]."""

    t_min_c: float | None
    t_max_c: float | None
    rh_min_pct: float | None
    rh_max_pct: float | None


class CalibrationOut(BaseModel):
    """The registry's calibration entry in force: offsets added to the raw values."""

    since: datetime
    """When the entry came into force (its ``from``, in the site's zone, as an instant)."""
    temperature_offset: float
    """[°C]"""
    humidity_offset: float
    """[%RH]"""
    note: str | None


class HealthOut(BaseModel):
    """An open alert of the health rules about a sensor."""

    alert: int
    rule: str
    """``sensor.silent``, ``sensor.stuck``, ``sensor.battery_low`` or ``sensor.out_of_range``."""
    state: AlertState
    severity: SeverityName
    since: datetime
    """When the condition began."""


class SensorState(BaseModel):
    """A registry sensor and its latest reading."""

    id: str
    name: str | None
    site: str
    room: str
    surface: bool
    expected_interval_s: float
    time: datetime | None
    temperature: float | None
    humidity: float | None
    battery: float | None
    dew_point: float | None
    """[°C], when the latest reading has both temperature and humidity."""
    status: SensorStatus
    open_alerts: list[int]
    """Ids of open alerts about this sensor."""
    calibration: CalibrationOut | None
    """The entry in force now; null before the first one, or with none."""
    health: list[HealthOut]
    """Open alerts of the health rules about this sensor, oldest first."""


class RoomState(BaseModel):
    id: str
    site: str
    name: str | None
    profile: str
    holdings: str
    band: BandOut | None
    """Null when the profile id is not known to this version."""
    status: SensorStatus
    sensors: list[SensorState]
    open_alerts: list[AlertOut]
    """Open alerts about the room or any of its sensors."""


class SiteState(BaseModel):
    id: str
    name: str | None
    timezone: str
    status: SensorStatus
    rooms: list[RoomState]


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


LOOKBACK_LONG = timedelta(days=7)
"""How far back a sensor not heard recently is looked for, to show its last reading."""
AHEAD = timedelta(hours=1)
"""Readings stamped this far after now (a sensor's clock running fast) still count as latest."""


class Present:
    """What one request needs to judge the present: latest readings, open alerts, the time.

    With ``sensors`` (one room's, one sensor) each sensor's latest reading comes from its recent
    history — an index range read in either store, and the latest temperature and humidity are
    merged when a device sends them in separate messages (a sensor last heard more than
    `LOOKBACK_LONG` ago shows no reading); without, from the store's `latest` of every sensor
    (one query for a whole listing). Silence is judged with the default ``silent_factor`` of
    the health rules, not a site's override in the rules file.
    """

    def __init__(self, services: Services, sensors: Iterable[SensorSpec] | None = None) -> None:
        self.now = services.clock.now()
        self.silent_factor = HealthParams().silent_factor
        self.open_alerts: list[Alert] = services.state.open_alerts()
        self.by_sensor: dict[str, list[Alert]] = {}
        for alert in sorted(self.open_alerts, key=lambda a: (a.since, a.id)):
            if alert.subject.sensor is not None:
                self.by_sensor.setdefault(alert.subject.sensor, []).append(alert)
        if sensors is None:
            self.latest = {r.sensor: r for r in services.store.latest()}
        else:
            self.latest = {}
            for sensor in sensors:
                reading = self._recent(services, sensor)
                if reading is not None:
                    self.latest[sensor.id] = reading

    def _recent(self, services: Services, sensor: SensorSpec) -> Reading | None:
        end = self.now + AHEAD
        recent = max(self._silent_after(sensor), timedelta(hours=1))
        for lookback in (recent, LOOKBACK_LONG):
            readings = services.store.history(sensor.id, self.now - lookback, end)
            if readings:
                return _merged(readings)
        return None

    def _silent_after(self, sensor: SensorSpec) -> timedelta:
        return timedelta(seconds=self.silent_factor * sensor.expected_interval_s)

    def alerts_about(self, site: str, room: str | None = None) -> list[Alert]:
        return [
            a
            for a in self.open_alerts
            if a.subject.site == site and (room is None or a.subject.room == room)
        ]

    def sensor(self, site: Site, room: Room, sensor: SensorSpec, t: Band, rh: Band) -> SensorState:
        reading = self.latest.get(sensor.id)
        state: SensorStatus
        if reading is None or self.now - reading.time > self._silent_after(sensor):
            state = "silent"
        elif sensor.surface:
            state = "ok"
        else:
            state = worst(t.status(reading.temperature), rh.status(reading.humidity)).value
        dew: float | None = None
        if reading is not None and reading.temperature is not None and reading.humidity is not None:
            dew = _number(float(dew_point(reading.temperature, reading.humidity)))
        return SensorState(
            id=sensor.id,
            name=sensor.name,
            site=site.id,
            room=room.id,
            surface=sensor.surface,
            expected_interval_s=sensor.expected_interval_s,
            time=None if reading is None else reading.time,
            temperature=None if reading is None else _number(reading.temperature),
            humidity=None if reading is None else _number(reading.humidity),
            battery=None if reading is None else _number(reading.battery),
            dew_point=dew,
            status=state,
            open_alerts=[a.id for a in self.open_alerts if a.subject.sensor == sensor.id],
            calibration=self._calibration(site, sensor),
            health=[
                HealthOut.model_validate(
                    {
                        "alert": a.id,
                        "rule": a.rule,
                        "state": a.state,
                        "severity": a.severity.label,
                        "since": a.since,
                    }
                )
                for a in self.by_sensor.get(sensor.id, ())
                if a.subject.site == site.id and a.rule in HEALTH_RULES
            ],
        )

    def _calibration(self, site: Site, sensor: SensorSpec) -> CalibrationOut | None:
        entry = in_force(sensor.calibration, site, self.now)
        if entry is None:
            return None
        return CalibrationOut(
            since=entry.starts_at(site.zone),
            temperature_offset=entry.temperature_offset,
            humidity_offset=entry.humidity_offset,
            note=entry.note,
        )

    def room(self, site: Site, room: Room) -> RoomState:
        profile = PROFILES.get(room.profile)
        t, rh = profile_band(profile, "t"), profile_band(profile, "rh")
        sensors = [self.sensor(site, room, sensor, t, rh) for sensor in room.sensors]
        band = None
        if profile is not None:
            band = BandOut(
                t_min_c=_finite(t.low),
                t_max_c=_finite(t.high),
                rh_min_pct=_finite(rh.low),
                rh_max_pct=_finite(rh.high),
            )
        return RoomState(
            id=room.id,
            site=site.id,
            name=room.name,
            profile=room.profile,
            holdings=str(room.holdings),
            band=band,
            status=_worst(s.status for s in sensors),
            sensors=sensors,
            open_alerts=[alert_out(a) for a in self.alerts_about(site.id, room.id)],
        )

    def site(self, site: Site) -> SiteState:
        rooms = [self.room(site, room) for room in site.rooms]
        return SiteState(
            id=site.id,
            name=site.name,
            timezone=str(site.timezone),
            status=_worst(r.status for r in rooms),
            rooms=rooms,
        )


def in_force(entries: Iterable[Calibration], site: Site, now: datetime) -> Calibration | None:
    """The calibration entry in force at ``now``: the latest to start at or before it (starts
    in the site's zone, `sensors.calibration`); None before the first."""
    started = [e for e in entries if e.starts_at(site.zone) <= now]
    return max(started, key=lambda e: e.starts_at(site.zone), default=None)


def _merged(readings: list[Reading]) -> Reading:
    """The last reading, its missing temperature, humidity or battery taken from the latest
    earlier one that has it (devices that send one quantity per message)."""
    last = readings[-1]

    def latest(field: str) -> float | None:
        return next((v for r in reversed(readings) if (v := getattr(r, field)) is not None), None)

    return replace(
        last,
        temperature=latest("temperature"),
        humidity=latest("humidity"),
        battery=latest("battery"),
    )


def _worst(statuses: Iterable[SensorStatus]) -> SensorStatus:
    return max(statuses, key=_STATUS_RANK.__getitem__, default=Status.MISSING.value)


def find_site(services: Services, site_id: str) -> Site:
    for site in services.registry.sites:
        if site.id == site_id:
            return site
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"no site {site_id!r} in the registry")


def find_room(services: Services, room_id: str, site_id: str | None = None) -> tuple[Site, Room]:
    """The (site, room) a room id names (within ``site_id`` when given): 404, or 409 when the
    id is in several sites."""
    found = [
        (site, room)
        for site, room in services.registry.rooms()
        if room.id == room_id and (site_id is None or site.id == site_id)
    ]
    if not found:
        where = f" in site {site_id!r}" if site_id else ""
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no room {room_id!r}{where}")
    if len(found) > 1:
        sites = ", ".join(site.id for site, _ in found)
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"room {room_id!r} is in several sites ({sites}): ?site="
        )
    return found[0]


def find_sensor(services: Services, sensor_id: str) -> tuple[Site, Room, SensorSpec]:
    try:
        return services.registry.locate(sensor_id)
    except KeyError:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no sensor {sensor_id!r} in the registry"
        ) from None


ServicesDep = Annotated[Services, Depends(get_services)]


@router.get("/sites", response_model=list[SiteState], responses=AUTH_RESPONSES)
def list_sites(services: ServicesDep) -> list[SiteState]:
    """Every site with its rooms and sensors and their present state."""
    present = Present(services)
    return [present.site(site) for site in services.registry.sites]


@router.get("/sites/{site_id}", response_model=SiteState, responses={**AUTH_RESPONSES, **NOT_FOUND})
def get_site(site_id: str, services: ServicesDep) -> SiteState:
    """One site and the present state of its rooms."""
    return Present(services).site(find_site(services, site_id))


@router.get(
    "/sites/{site_id}/rooms/{room_id}",
    response_model=RoomState,
    responses={**AUTH_RESPONSES, **NOT_FOUND},
)
def get_site_room(site_id: str, room_id: str, services: ServicesDep) -> RoomState:
    """One room: band, status, sensors' latest readings, open alerts."""
    site, room = find_room(services, room_id, site_id)
    return Present(services, room.sensors).room(site, room)


@router.get(
    "/rooms/{room_id}",
    response_model=RoomState,
    responses={**AUTH_RESPONSES, **NOT_FOUND, 409: described("Room id in several sites")},
)
def get_room(
    room_id: str,
    services: ServicesDep,
    site: Annotated[str | None, Query(description="Site of the room, if ambiguous")] = None,
) -> RoomState:
    """One room by its id (``?site=`` when several sites have a room of that id)."""
    found_site, room = find_room(services, room_id, site)
    return Present(services, room.sensors).room(found_site, room)


@router.get(
    "/sensors/{sensor_id}", response_model=SensorState, responses={**AUTH_RESPONSES, **NOT_FOUND}
)
def get_sensor(sensor_id: str, services: ServicesDep) -> SensorState:
    """One registry sensor and its latest reading."""
    site, room, sensor = find_sensor(services, sensor_id)
    profile = PROFILES.get(room.profile)
    present = Present(services, [sensor])
    return present.sensor(
        site, room, sensor, profile_band(profile, "t"), profile_band(profile, "rh")
    )
