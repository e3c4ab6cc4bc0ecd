"""Unassigned sensors: devices whose readings arrive but that the registry does not place, so staff
can see them and add them to a room.

Two sources, merged: the store's latest reading of every sensor tagged ``unassigned`` (how long
it has been heard, its last values — known to every API replica), and the collector's pipeline
in this process (`ingest.pipeline.UnassignedSensors`: first seen since start, topic, format and
the start of its latest payload). A sensor the registry now knows is not listed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from repoclimate.app.api.auth import get_services, require
from repoclimate.app.api.errors import AUTH_RESPONSES
from repoclimate.app.services import Services
from repoclimate.app.users import Role
from repoclimate.ingest.pipeline import UnassignedSighting
from repoclimate.sensors.reading import UNASSIGNED

router = APIRouter(prefix="/api", tags=["sensors"], dependencies=[Depends(require(Role.VIEWER))])


class UnassignedSensor(BaseModel):
    sensor: str
    """The device's sensor id as its format names it (what a registry entry matches)."""
    first_seen: datetime | None
    """First heard by this process's collector (null when no collector runs here)."""
    last_seen: datetime | None
    temperature: float | None
    humidity: float | None
    topic: str | None
    format: str | None
    sample_payload: str | None
    """The start of its latest MQTT payload (UTF-8, undecodable bytes replaced)."""


def _sightings(services: Services) -> dict[str, UnassignedSighting]:
    collector = services.collector
    if collector is None:
        return {}
    return {s.sensor: s for s in collector.pipeline.unassigned.snapshot()}


@router.get("/unassigned", response_model=list[UnassignedSensor], responses=AUTH_RESPONSES)
def list_unassigned(services: Annotated[Services, Depends(get_services)]) -> list[UnassignedSensor]:
    """Sensors heard but not in the registry, with first/last seen and a sample payload."""
    registry = services.registry
    sightings = _sightings(services)
    latest = {r.sensor: r for r in services.store.latest() if r.site == UNASSIGNED}
    result: list[UnassignedSensor] = []
    for sensor in sorted(set(sightings) | set(latest)):
        try:
            registry.locate(sensor)
            continue  # placed since: no longer unassigned
        except KeyError:
            pass
        seen = sightings.get(sensor)
        reading = latest.get(sensor)
        last = [seen.last_seen] if seen is not None else []
        if reading is not None:
            last.append(reading.time)
        result.append(
            UnassignedSensor(
                sensor=sensor,
                first_seen=None if seen is None else seen.first_seen,
                last_seen=max(last) if last else None,
                temperature=None if reading is None else reading.temperature,
                humidity=None if reading is None else reading.humidity,
                topic=None if seen is None else seen.topic,
                format=None if seen is None else seen.format,
                sample_payload=(
                    None if seen is None else seen.sample_payload.decode("utf-8", "replace")
                ),
            )
        )
    return result
