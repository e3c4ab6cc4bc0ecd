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
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import Response
from pydantic import BaseModel

from repoclimate.alerts.config import HealthParams
from repoclimate.alerts.model import Alert, AlertState
from repoclimate.alerts.rules.health import RULES as HEALTH_RULES
from repoclimate.app.api.alerts import AlertOut, SeverityName, alert_out
from repoclimate.app.api.auth import get_services, require
from repoclimate.app.api.errors import AUTH_RESPONSES, described
from repoclimate.app.api.reads import run_read
from repoclimate.app.services import Services
from repoclimate.app.users import Role
from repoclimate.history.sqlite import SQLiteStore
from repoclimate.history.store import HistoryStore
from repoclimate.preservation.profiles import PROFILES
from repoclimate.preservation.psychrometrics import dew_point
from repoclimate.preservation.status import Band, Status, profile_band, worst
from repoclimate.sensors.calibration import Calibration
from repoclimate.sensors.reading import Reading
from repoclimate.sensors.registry import Registry, Room, SensorSpec, Site

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
    (one query for a whole listing), merged the same way for the sensors whose last message
    lacks a quantity (`_merge_split`). Silence is judged with the default ``silent_factor`` of
    the health rules, not a site's override in the rules file.
    """

    def __init__(
        self,
        services: Services,
        sensors: Iterable[SensorSpec] | None = None,
        *,
        now: datetime | None = None,
        open_alerts: list[Alert] | None = None,
    ) -> None:
        self.now = services.clock.now() if now is None else now
        self.silent_factor = HealthParams().silent_factor
        self.open_alerts: list[Alert] = (
            services.state.open_alerts() if open_alerts is None else open_alerts
        )
        self.changes_at: datetime | None = None
        """With ``sensors``: the earliest time at which the passing of time alone changes what
        their readings show — the oldest reading read leaves its window, or a sensor turns
        silent (new readings aside); None when no reading was found."""
        self.by_sensor: dict[str, list[Alert]] = {}
        for alert in sorted(self.open_alerts, key=lambda a: (a.since, a.id)):
            if alert.subject.sensor is not None:
                self.by_sensor.setdefault(alert.subject.sensor, []).append(alert)
        if sensors is None:
            self.latest = {r.sensor: r for r in services.store.latest()}
            self._merge_split(services)
        else:
            self.latest = {}
            for sensor in sensors:
                reading = self._recent(services, sensor)
                if reading is not None:
                    self.latest[sensor.id] = reading

    def _merge_split(self, services: Services) -> None:
        """A listing's latest rows merged as one room's are: a registry sensor whose last
        message lacks its temperature (or, not a surface sensor, its humidity) — a device that
        sends them in separate messages — takes them from its recent history (`_recent`). Only
        those sensors are read again; the others keep the one query of `Store.latest`."""
        for _, _, sensor in services.registry.sensors():
            last = self.latest.get(sensor.id)
            if last is None or (
                last.temperature is not None and (sensor.surface or last.humidity is not None)
            ):
                continue
            merged = self._recent(services, sensor)
            if merged is not None:
                self.latest[sensor.id] = merged

    def _recent(self, services: Services, sensor: SensorSpec) -> Reading | None:
        end = self.now + AHEAD
        recent = max(self._silent_after(sensor), timedelta(hours=1))
        for lookback in (recent, LOOKBACK_LONG):
            readings = services.store.history(sensor.id, self.now - lookback, end)
            if readings:
                merged = _merged(readings)
                self._changes_at(_oldest_used(readings) + lookback)
                self._changes_at(merged.time + self._silent_after(sensor))
                return merged
        return None

    def _changes_at(self, when: datetime) -> None:
        if self.changes_at is None or when < self.changes_at:
            self.changes_at = when

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


class StoreVersion:
    """A number that changes whenever the history store's content may have changed: SQLite's
    ``PRAGMA data_version`` on a connection of its own that never writes, which changes with
    every commit of any other connection, in this process or another (the collector, an import,
    ``repoclimate history …``). None for a store that offers nothing of the kind (InfluxDB)."""

    def __init__(self, store: HistoryStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        if isinstance(store, SQLiteStore):
            self._connection = sqlite3.connect(store.path, check_same_thread=False)

    def __call__(self) -> int | None:
        if self._connection is None:
            return None
        with self._lock:
            try:
                (version,) = self._connection.execute("PRAGMA data_version").fetchone()
            except sqlite3.Error:
                return None  # not kept: the request reads the store (and reports its error)
        return int(version)


@dataclass(frozen=True, slots=True)
class _Snapshot:
    registry: Registry
    version: int
    alerts: tuple[Alert, ...]
    built: datetime
    until: datetime
    body: bytes


MAX_SNAPSHOTS = 10_000
"""Rooms whose answers are kept at most (all are dropped when more are asked for)."""


class RoomSnapshots:
    """Rooms' present state as answered (the JSON of `RoomState`), kept while nothing it was
    computed from can have changed, so a room asked for again costs two small queries.

    A kept answer is given only when all of these hold, else the room is computed afresh:
    the registry is the same object (a reload replaces it); the store's `StoreVersion` is the
    same (any write since, by anyone, drops every room's answer — a store without a version
    keeps nothing); the open alerts about the room or its sensors are equal (queried every
    time, so an alert opened, acknowledged or resolved shows in the next answer); and the
    clock is before the answer's expiry — the earliest of ``max_age_s`` after it was made, the
    time the oldest reading it read leaves its window or a sensor turns silent
    (`Present.changes_at`), and the next calibration entry's start. ``max_age_s`` bounds the
    one thing not watched: a reading stamped more than `AHEAD` in the future coming into view.
    """

    def __init__(self, max_age_s: float) -> None:
        self.max_age = timedelta(seconds=max_age_s)
        self._entries: dict[tuple[str, str], _Snapshot] = {}
        self._lock = threading.Lock()
        self._version: StoreVersion | None = None
        self.hits = 0
        self.misses = 0

    def _store_version(self, store: HistoryStore) -> int | None:
        version = self._version
        if version is None or version.store is not store:
            with self._lock:
                version = self._version
                if version is None or version.store is not store:
                    version = self._version = StoreVersion(store)
        return version()

    def answer(self, services: Services, registry: Registry, site: Site, room: Room) -> bytes:
        """The JSON of ``room``'s `RoomState` (``site`` and ``room`` from ``registry``)."""
        keep = self.max_age > timedelta(0)
        # Read before anything else: a write landing after this makes the next request's
        # version differ, so an answer never outlives a write it may have missed.
        version = self._store_version(services.store) if keep else None
        now = services.clock.now()
        open_alerts = services.state.open_alerts()
        ids = {sensor.id for sensor in room.sensors}
        alerts = tuple(
            a
            for a in open_alerts
            if a.subject.sensor in ids or (a.subject.site == site.id and a.subject.room == room.id)
        )
        key = (site.id, room.id)
        if version is not None:
            kept = self._entries.get(key)
            if (
                kept is not None
                and kept.registry is registry
                and kept.version == version
                and kept.alerts == alerts
                and kept.built <= now < kept.until
            ):
                self.hits += 1
                return kept.body
        self.misses += 1
        present = Present(services, room.sensors, now=now, open_alerts=open_alerts)
        body = RoomState.__pydantic_serializer__.to_json(present.room(site, room))
        if version is not None:
            until = now + self.max_age
            for when in (present.changes_at, _next_calibration(site, room, now)):
                if when is not None and when < until:
                    until = when
            with self._lock:
                if key not in self._entries and len(self._entries) >= MAX_SNAPSHOTS:
                    self._entries.clear()
                self._entries[key] = _Snapshot(registry, version, alerts, now, until, body)
        return body


def _next_calibration(site: Site, room: Room, now: datetime) -> datetime | None:
    """When the next calibration entry of any of the room's sensors comes into force."""
    starts = [
        when
        for sensor in room.sensors
        for entry in sensor.calibration
        if (when := entry.starts_at(site.zone)) > now
    ]
    return min(starts, default=None)


async def get_snapshots(request: Request) -> RoomSnapshots:
    """The app's `RoomSnapshots` (set by `create_app`)."""
    snapshots: RoomSnapshots = request.app.state.room_snapshots
    return snapshots


def in_force(entries: Iterable[Calibration], site: Site, now: datetime) -> Calibration | None:
    """The calibration entry in force at ``now``: the latest to start at or before it (starts
    in the site's zone, `sensors.calibration`); None before the first."""
    started = [e for e in entries if e.starts_at(site.zone) <= now]
    return max(started, key=lambda e: e.starts_at(site.zone), default=None)


_MERGED = ("temperature", "humidity", "battery")
"""The fields `_merged` fills in from earlier readings."""


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


def _oldest_used(readings: list[Reading]) -> datetime:
    """The time of the oldest reading `_merged` takes a value from: once it leaves the window
    read, the merged reading may change."""
    oldest = readings[-1].time
    for field in _MERGED:
        supplier = next((r for r in reversed(readings) if getattr(r, field) is not None), None)
        if supplier is not None and supplier.time < oldest:
            oldest = supplier.time
    return oldest


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
SnapshotsDep = Annotated[RoomSnapshots, Depends(get_snapshots)]
JSON = "application/json"


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
async def get_site_room(
    site_id: str, room_id: str, services: ServicesDep, snapshots: SnapshotsDep
) -> Response:
    """One room: band, status, sensors' latest readings, open alerts."""
    return await run_read(services, _room_answer, services, snapshots, room_id, site_id)


def _room_answer(
    services: Services, snapshots: RoomSnapshots, room_id: str, site_id: str | None
) -> Response:
    registry = services.registry
    site, room = find_room(services, room_id, site_id)
    return Response(snapshots.answer(services, registry, site, room), media_type=JSON)


@router.get(
    "/rooms/{room_id}",
    response_model=RoomState,
    responses={**AUTH_RESPONSES, **NOT_FOUND, 409: described("Room id in several sites")},
)
async def get_room(
    room_id: str,
    services: ServicesDep,
    snapshots: SnapshotsDep,
    site: Annotated[str | None, Query(description="Site of the room, if ambiguous")] = None,
) -> Response:
    """One room by its id (``?site=`` when several sites have a room of that id)."""
    return await run_read(services, _room_answer, services, snapshots, room_id, site)


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
