"""What the engine evaluates: sites → rooms → sensors with the few facts rules need, taken from
the registry (`sensors.registry`) or built directly in tests and benchmarks. Also the
`Directory` that gives people-facing text names and local time zones."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from repoclimate.alerts.model import Subject
from repoclimate.sensors.registry import Registry


@dataclass(frozen=True, slots=True)
class SensorNode:
    id: str
    site: str
    room: str
    expected_interval_s: float = 300.0
    surface: bool = False
    name: str | None = None

    @property
    def subject(self) -> Subject:
        return Subject(self.site, self.room, self.id)


@dataclass(frozen=True, slots=True)
class RoomNode:
    site: str
    id: str
    profile: str
    holdings: str
    sensors: tuple[SensorNode, ...] = ()
    name: str | None = None

    @property
    def subject(self) -> Subject:
        return Subject(self.site, self.id)

    @property
    def air(self) -> tuple[SensorNode, ...]:
        return tuple(s for s in self.sensors if not s.surface)

    @property
    def surfaces(self) -> tuple[SensorNode, ...]:
        return tuple(s for s in self.sensors if s.surface)


@dataclass(frozen=True, slots=True)
class SiteNode:
    id: str
    zone: ZoneInfo
    rooms: tuple[RoomNode, ...] = ()
    name: str | None = None


class Topology:
    """Sites, rooms and sensors to evaluate; a `alerts.render.Directory` for messages."""

    def __init__(self, sites: Sequence[SiteNode]) -> None:
        self.sites = tuple(sites)
        self._sites = {site.id: site for site in self.sites}
        self._rooms = {(room.site, room.id): room for site in self.sites for room in site.rooms}

    @classmethod
    def from_registry(cls, registry: Registry) -> Topology:
        sites = []
        for site in registry.sites:
            rooms = tuple(
                RoomNode(
                    site=site.id,
                    id=room.id,
                    profile=room.profile,
                    holdings=room.holdings,
                    name=room.name,
                    sensors=tuple(
                        SensorNode(
                            id=sensor.id,
                            site=site.id,
                            room=room.id,
                            expected_interval_s=sensor.expected_interval_s,
                            surface=sensor.surface,
                            name=sensor.name,
                        )
                        for sensor in room.sensors
                    ),
                )
                for room in site.rooms
            )
            sites.append(SiteNode(site.id, site.zone, rooms, site.name))
        return cls(sites)

    def rooms(self) -> Iterator[RoomNode]:
        for site in self.sites:
            yield from site.rooms

    def sensors(self) -> Iterator[SensorNode]:
        for room in self.rooms():
            yield from room.sensors

    def subject_ids(self) -> set[str]:
        """The subject ids of every site, room and sensor."""
        ids = {site.id for site in self.sites}
        for room in self.rooms():
            ids.add(room.subject.id)
            ids.update(sensor.subject.id for sensor in room.sensors)
        return ids

    def room(self, site: str, room: str) -> RoomNode:
        return self._rooms[(site, room)]

    # -- Directory ------------------------------------------------------------------------
    def place(self, subject: Subject) -> str:
        if subject.key is not None:
            return subject.key
        site = self._sites.get(subject.site or "")
        room = self._rooms.get((subject.site or "", subject.room or ""))
        site_name = (site.name or site.id) if site else subject.site
        if subject.room is None:
            return site_name or subject.id
        room_name = (room.name or room.id) if room else subject.room
        return f"{room_name} — {site_name}"

    def timezone(self, site: str | None) -> ZoneInfo:
        found = self._sites.get(site or "")
        if found is not None:
            return found.zone
        return self.sites[0].zone if self.sites else ZoneInfo("UTC")
