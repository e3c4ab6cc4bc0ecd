"""Site-local days from the hourly rollups: what a manager means by "1 November" at a site.

Decision (issue 14): ``climate_1d`` stays in **UTC days**, and site-local days are combined
from the hourly rollups (``climate_1h``) when they are read. Why this suffices, and is better
than per-site-zone day boundaries in ``climate_1d``:

- In every zone whose offset from UTC is a whole number of hours — all of China (UTC+8, the
  archives this project serves first), Europe, the Americas, Japan, most of the world — a local
  day is exactly 23, 24 or 25 whole UTC hours (the DST days included). Each hourly bucket keeps
  mean, min, max and count of every series, so combining the hours of a local day (means
  weighted by count) gives *exactly* the day's mean, minimum, maximum and count, the derived
  series included: nothing is approximated.
- A zone is a property of the site in the registry. Daily rollups cut at each site's midnight
  would be wrong for every past day once a site's zone is corrected, and need a rebuild;
  hours never change meaning.
- The cost is reading 24 hourly rows per day instead of one: 8 760 rows for a room's year.

Zones with half- or quarter-hour offsets (India +05:30, Nepal +05:45, South Australia +09:30 …)
split an hour at local midnight; hourly buckets cannot be cut there, so `local_days` refuses
them (`LocalDayError`, naming the zone and the hour) rather than report a day that is off by a
fraction of an hour. Such sites read UTC days, or raw readings.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, tzinfo
from typing import Protocol

from repoclimate.history.rollups import DERIVED_FIELDS, Period
from repoclimate.history.store import AggregatePoint, SeriesStats


class LocalDayError(ValueError):
    """Local days that hourly rollups cannot make (a zone with a fractional-hour offset)."""


class ReadsRollups(Protocol):
    """A store with hourly rollups (both concrete stores)."""

    def rollups(
        self,
        period: Period,
        start: datetime,
        end: datetime,
        *,
        sensor: str | None = None,
        site: str | None = None,
        room: str | None = None,
    ) -> list[AggregatePoint]:
        """Rollups with ``start <= time < end``, oldest first."""


def _weighted(
    pairs: Sequence[tuple[float | None, int]],
) -> tuple[float | None, int]:
    counted = [(value, count) for value, count in pairs if value is not None and count]
    total = sum(count for _, count in counted)
    if not total:
        return None, 0
    return sum(value * count for value, count in counted) / total, total


def _combine(day: datetime, hours: Sequence[AggregatePoint]) -> AggregatePoint:
    t_mean, t_count = _weighted([(h.temperature_mean, h.temperature_count or 0) for h in hours])
    h_mean, h_count = _weighted([(h.humidity_mean, h.humidity_count or 0) for h in hours])
    t_values = [h for h in hours if h.temperature_count]
    h_values = [h for h in hours if h.humidity_count]
    derived: dict[str, SeriesStats] = {}
    for name in DERIVED_FIELDS:
        stats = [h.derived[name] for h in hours if name in h.derived]
        if stats:
            mean, count = _weighted([(s.mean, s.count) for s in stats])
            assert mean is not None
            derived[name] = SeriesStats(
                mean, min(s.min for s in stats), max(s.max for s in stats), count
            )
    return AggregatePoint(
        time=day,
        temperature_mean=t_mean,
        temperature_min=min(
            (h.temperature_min for h in t_values if h.temperature_min is not None), default=None
        ),
        temperature_max=max(
            (h.temperature_max for h in t_values if h.temperature_max is not None), default=None
        ),
        humidity_mean=h_mean,
        humidity_min=min(
            (h.humidity_min for h in h_values if h.humidity_min is not None), default=None
        ),
        humidity_max=max(
            (h.humidity_max for h in h_values if h.humidity_max is not None), default=None
        ),
        count=max(t_count, h_count),
        temperature_count=t_count,
        humidity_count=h_count,
        derived=derived,
    )


def local_days(hours: Sequence[AggregatePoint], zone: tzinfo) -> list[AggregatePoint]:
    """Combine hourly rollups into the local days of ``zone``, oldest first.

    Each day's ``time`` is its local midnight (aware, in ``zone``); means are weighted by count,
    minima and maxima are the hours' extremes, counts add up, derived series alike. Hours must
    carry their per-quantity counts (rollups do). Raises `LocalDayError` for an hour whose
    local offset is not a whole number of hours.
    """
    days: dict[date, list[AggregatePoint]] = {}
    for hour in hours:
        local = hour.time.astimezone(zone)
        offset = local.utcoffset()
        if offset is None or offset.total_seconds() % 3600:
            raise LocalDayError(
                f"zone {zone} is at UTC{local:%z} at {hour.time.isoformat()}: local days need a "
                "whole-hour offset to be made from hourly rollups"
            )
        days.setdefault(local.date(), []).append(hour)
    return [_combine(datetime.combine(day, time(0), zone), days[day]) for day in sorted(days)]


def local_day_rollups(
    store: ReadsRollups,
    first: date,
    end: date,
    zone: tzinfo,
    *,
    sensor: str | None = None,
    site: str | None = None,
    room: str | None = None,
) -> list[AggregatePoint]:
    """The rollups of a sensor or a room for the local days ``first <= day < end`` of
    ``zone`` (a site's zone), from its hourly rollups; see `local_days`."""
    start = datetime.combine(first, time(0), zone)
    stop = datetime.combine(end, time(0), zone)
    hours = store.rollups("1h", start, stop, sensor=sensor, site=site, room=room)
    return [day for day in local_days(hours, zone) if first <= day.time.date() < end]
