"""The `Store` interface: what the collector writes to and what alerts, pages and reports read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sensors.reading import Reading


class StoreUnavailable(RuntimeError):
    """The store cannot be reached or refused the write for a transient reason.

    The collector spools on this and retries later; any other exception from ``write`` is a bug or
    a permanent refusal and is reported, not retried forever.
    """


@dataclass(frozen=True, slots=True)
class AggregatePoint:
    """One interval of an aggregated history: mean, min and max of each quantity [°C, %RH]."""

    time: datetime
    temperature_mean: float | None
    temperature_min: float | None
    temperature_max: float | None
    humidity_mean: float | None
    humidity_min: float | None
    humidity_max: float | None
    count: int


class Store(Protocol):
    """A time-series store of readings, tagged by site, room and sensor.

    Writes are idempotent: a reading with the same sensor and time as a stored one replaces it
    (fields merge), so redelivered messages never make duplicates.
    """

    def write(self, readings: Sequence[Reading]) -> None:
        """Store readings durably; raise `StoreUnavailable` when the store cannot take them now."""

    def latest(self) -> list[Reading]:
        """The most recent reading of every sensor."""

    def history(self, sensor: str, start: datetime, end: datetime) -> list[Reading]:
        """A sensor's readings with ``start <= time < end``, oldest first."""

    def aggregate(
        self, sensor: str, start: datetime, end: datetime, every: timedelta
    ) -> list[AggregatePoint]:
        """A sensor's history between two times aggregated per interval of ``every``."""

    def count(self) -> int:
        """How many readings (points) the store holds."""

    def close(self) -> None:
        """Release connections and files."""
