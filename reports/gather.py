"""A report's numbers: for each room of a site (or of every site), its hourly series read from the
history store, every metric of `preservation.metrics.room_metrics` over it for the period, the
period before and the same period a year earlier, its compliance with each standard, its data
completeness and its alert log.

Where the numbers come from — nothing here is recomputed science:

- **Hourly series.** Each air sensor's hourly rollup (``climate_1h``: mean, min, max, count) is
  read for the period (`HistoryStore.rollups`); a store without rollups is read raw and put into
  the same hourly buckets (``source`` says which, and the report prints it). The room's series
  is the hour-by-hour mean of its air sensors' hourly means, as the alert engine's room series
  (`alerts.series.HourlySeries.mean_of`); surface (wall) sensors are left out of it.
- **Metrics.** `room_metrics` of each air sensor's hourly series gives its MRF and VTT index; the
  room's are the worst of its sensors' at each hour (as `alerts.engine.derived_rows` does), and
  every other metric is `room_metrics` of the room's series with the room's profile and
  holdings. MRF and VTT are integrated from the start of each period (the alert engine carries
  them from checkpoints, so a live index can be higher after a damp spell before the period).
- **Standards.** `preservation.compliance.compliance` of the room's series against JGJ 25 (the
  variant for the room's holdings), ISO 11799, BS 4971 and the ASHRAE classes, measured in
  one pass with the room's own profile (`room_metrics(..., standards=)`).
- **Completeness.** Per sensor: samples received against the samples its expected interval
  asks for, hours without a sample, and the longest silence (a sensor silent for a day or more
  is listed as silent).
- **Alerts.** The alert state's alerts about the room or its sensors whose life overlaps the
  period, with the time from firing to acknowledgement.

Time: ``now`` is an argument; a period that has not ended is reported up to ``now``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from repoclimate.alerts.model import Alert
from repoclimate.alerts.state import AlertStore
from repoclimate.history.store import AggregatePoint, Store
from repoclimate.preservation.compliance import Compliance
from repoclimate.preservation.metrics import RoomMetrics, mould_indices, room_metrics
from repoclimate.preservation.profiles import Profile, get_profile
from repoclimate.reports.periods import Period
from repoclimate.sensors.registry import Registry, Room, SensorSpec, Site

FloatArray = NDArray[np.float64]
Source = Literal["rollups", "raw"]
HOUR = timedelta(hours=1)
HOUR_NS = 3_600_000_000_000
SILENT_AFTER_H = 24.0
"""A sensor whose longest silence in the period reaches this many hours is listed as silent."""

STANDARDS: tuple[str, ...] = (
    "jgj25",
    "iso11799-paper",
    "bs4971",
    "ashrae-aa",
    "ashrae-a1",
    "ashrae-a2",
    "ashrae-b",
    "ashrae-c",
    "ashrae-d",
)
"""The standards every report measures each room against (``jgj25``: the JGJ 25 variant for
the room's holdings, `jgj25_for`)."""


class ReportError(LookupError):
    """A report asked for something the registry does not have (site, room)."""


def jgj25_for(holdings: str) -> str:
    """The JGJ 25-2010 profile for a room's holdings: film, magnetic media or paper."""
    return {"film": "jgj25-film", "magnetic": "jgj25-magnetic"}.get(holdings, "jgj25-paper")


@runtime_checkable
class RollupReader(Protocol):
    """A store with hourly rollups (both of the project's stores)."""

    def rollups(
        self,
        period: Literal["1h", "1d"],
        start: datetime,
        end: datetime,
        *,
        sensor: str | None = None,
        site: str | None = None,
        room: str | None = None,
    ) -> list[AggregatePoint]: ...


@runtime_checkable
class HourlyRowReader(Protocol):
    """A store that reads many sensors' hourly rollups at once as float arrays
    (`SQLiteStore.hourly_rows`: per sensor, a row per hour of hour number, samples, then
    temperature mean, min, max and humidity mean, min, max)."""

    def hourly_rows(
        self, sensors: Sequence[str], start: datetime, end: datetime
    ) -> list[FloatArray]: ...


@dataclass(frozen=True, slots=True)
class Hourly:
    """One series on a full hourly grid (NaN where an hour has no sample) [°C, %RH]."""

    times: NDArray[np.datetime64]
    t_mean: FloatArray
    t_min: FloatArray
    t_max: FloatArray
    rh_mean: FloatArray
    rh_min: FloatArray
    rh_max: FloatArray
    count: FloatArray
    """Samples in each hour (0 where none)."""

    @classmethod
    def empty_grid(cls, start: datetime, end: datetime) -> Hourly:
        """The epoch-aligned hours that overlap ``[start, end)`` (the rollups' buckets). In a
        zone whose midnight falls on a half or quarter hour (Asia/Kolkata, Australia/Adelaide)
        the first hour is partial and kept, so the period's first readings are reported (its
        rollup also holds the minutes just before the period; `_figures` ends a period's rollup
        grid before the hour it ends in, which is the next period's first)."""
        first = _floor_hour_ns(start)
        stop = _ceil_hour_ns(end)
        n = max(0, (stop - first) // HOUR_NS)
        times = (np.int64(first) + np.arange(n, dtype=np.int64) * HOUR_NS).astype("datetime64[ns]")

        def nan() -> FloatArray:
            return np.full(n, np.nan)

        return cls(times, nan(), nan(), nan(), nan(), nan(), nan(), np.zeros(n))

    def window(self, start: datetime, end: datetime) -> Hourly:
        """The part of this series on ``Hourly.empty_grid(start, end)`` (which it must cover)."""
        grid = Hourly.empty_grid(start, end)
        if grid.times.size == 0:
            return grid
        first = int(grid.times[0].astype(np.int64))
        offset = (first - int(self.times[0].astype(np.int64))) // HOUR_NS if self.times.size else -1
        stop = offset + grid.times.size
        if offset < 0 or stop > self.times.size:
            raise ValueError(f"series of {self.times.size} hours does not cover {start}–{end}")
        cut = slice(offset, stop)
        return Hourly(
            grid.times,
            self.t_mean[cut],
            self.t_min[cut],
            self.t_max[cut],
            self.rh_mean[cut],
            self.rh_min[cut],
            self.rh_max[cut],
            self.count[cut],
        )


@dataclass(frozen=True, slots=True)
class SensorCompleteness:
    """How much of what a sensor should have sent in the period arrived."""

    sensor: str
    name: str | None
    surface: bool
    samples: int
    expected_samples: float
    completeness_pct: float
    hours_without_data: int
    longest_silence_h: float
    silent: bool


@dataclass(frozen=True, slots=True)
class AlertEntry:
    """One alert of the log, with the time it took to be acknowledged."""

    id: int
    rule: str
    severity: str
    where: str
    summary: str
    since: datetime
    fired_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None

    @property
    def time_to_ack_h(self) -> float | None:
        """Hours from firing (or its start) to acknowledgement; None if never acknowledged."""
        if self.acknowledged_at is None:
            return None
        fired = self.fired_at or self.since
        return max((self.acknowledged_at - fired).total_seconds(), 0.0) / 3600.0


@dataclass(frozen=True, slots=True)
class PeriodFigures:
    """One room over one period: the metrics, the hourly extremes, completeness, alerts."""

    period: Period
    start: datetime
    end: datetime
    metrics: RoomMetrics | None
    """None when the room has no sample in the period."""
    t_lowest: float
    t_highest: float
    rh_lowest: float
    rh_highest: float
    """Extremes of the hourly minima and maxima (the rollups keep the raw extremes)."""
    completeness_pct: float
    alerts: int
    median_time_to_ack_h: float | None

    @property
    def compliance(self) -> Compliance | None:
        return None if self.metrics is None else self.metrics.compliance


@dataclass(frozen=True, slots=True)
class RoomReport:
    """Everything a report says about one room."""

    site: Site
    room: Room
    profile: Profile
    source: Source
    current: PeriodFigures
    previous: PeriodFigures
    last_year: PeriodFigures
    hourly: Hourly
    """The room's hourly series of the period (mean of its air sensors; min and max of them)."""
    sensors: tuple[SensorCompleteness, ...]
    alerts: tuple[AlertEntry, ...]
    standards: tuple[Compliance, ...]


@dataclass(frozen=True, slots=True)
class Report:
    """A site's (or the network's: ``site`` None) report for one period."""

    period: Period
    site: Site | None
    sites: tuple[Site, ...]
    rooms: tuple[RoomReport, ...]
    generated_at: datetime
    room_only: bool = False
    sources: frozenset[Source] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class Sources:
    """Where a report reads: the history store, and the alert state (optional)."""

    store: Store
    registry: Registry
    state: AlertStore | None = None
    prefer: Source = "rollups"
    """``raw`` reads raw readings even where rollups exist (the tests compare the two)."""


def gather(
    sources: Sources,
    period: Period,
    now: datetime,
    *,
    site_id: str | None = None,
    room_id: str | None = None,
) -> Report:
    """The report of ``period`` for one room, one site or (no ``site_id``) every site."""
    registry = sources.registry
    if site_id is None:
        if room_id is not None:
            raise ReportError("a room report needs its site")
        sites = tuple(registry.sites)
    else:
        found = [s for s in registry.sites if s.id == site_id]
        if not found:
            known = ", ".join(s.id for s in registry.sites) or "none"
            raise ReportError(f"the registry has no site {site_id!r} (sites: {known})")
        sites = (found[0],)
    chosen: list[tuple[Site, Room]] = []
    for site in sites:
        for room in site.rooms:
            if room_id is None or room.id == room_id:
                chosen.append((site, room))
    if room_id is not None and not chosen:
        known = ", ".join(r.id for r in sites[0].rooms) or "none"
        raise ReportError(f"site {site_id!r} has no room {room_id!r} (rooms: {known})")
    alerts = _alerts(sources.state, chosen, period, now)
    read = _prefetch(sources, chosen, period, now)
    rooms = tuple(
        _room_report(sources, site, room, period, now, alerts.get((site.id, room.id), []), read)
        for site, room in chosen
    )
    return Report(
        period=period,
        site=sites[0] if site_id is not None else None,
        sites=sites,
        rooms=rooms,
        generated_at=now,
        room_only=room_id is not None,
        sources=frozenset(r.source for r in rooms),
    )


def _room_report(
    sources: Sources,
    site: Site,
    room: Room,
    period: Period,
    now: datetime,
    alerts: list[Alert],
    read: dict[str, Hourly],
) -> RoomReport:
    profile = get_profile(room.profile)
    entries = tuple(_entry(alert) for alert in sorted(alerts, key=lambda a: a.since))
    # a year's previous period is the year before: read and computed once
    done: dict[Period, tuple[PeriodFigures, Hourly, tuple[SensorCompleteness, ...], Source]] = {}
    for which in (period, period.previous(), period.year_before()):
        if which not in done:
            standards = _standard_ids(room) if which == period else ()
            done[which] = _figures(
                sources, site, room, profile, which, now, entries, read, standards
            )
    current = done[period]
    previous = done[period.previous()]
    last_year = done[period.year_before()]
    figures, hourly, sensors, source = current
    return RoomReport(
        site=site,
        room=room,
        profile=profile,
        source=source,
        current=figures,
        previous=previous[0],
        last_year=last_year[0],
        hourly=hourly,
        sensors=sensors,
        alerts=tuple(e for e in entries if _overlaps(e, figures.start, figures.end)),
        standards=() if figures.metrics is None else figures.metrics.standards,
    )


def _figures(
    sources: Sources,
    site: Site,
    room: Room,
    profile: Profile,
    period: Period,
    now: datetime,
    entries: Sequence[AlertEntry],
    read: dict[str, Hourly],
    standards: Sequence[str],
) -> tuple[PeriodFigures, Hourly, tuple[SensorCompleteness, ...], Source]:
    """One period's figures; ``standards``: the profiles to measure the room against too
    (``metrics.standards``)."""
    start, end = _bounds(period, site, now)
    # A period ending on a half hour (Asia/Kolkata): the rollup of the hour it ends in is the
    # next period's first (`Hourly.empty_grid`), so each rollup counts in one period only.
    # Raw readings are cut at the period's end exactly, and an unfinished period keeps its
    # last hour.
    rollups = sources.prefer == "rollups" and isinstance(sources.store, RollupReader)
    grid_end = _first_hour(end) if rollups and end == period.bounds(site.zone)[1] else end
    grid_end = max(grid_end, start)
    if room.sensors and all(spec.id in read for spec in room.sensors):
        per_sensor = [read[spec.id].window(start, grid_end) for spec in room.sensors]
        source: Source = "rollups"
    else:
        per_sensor, source = _read_sensors(sources, room.sensors, start, grid_end)
    air = [h for spec, h in zip(room.sensors, per_sensor, strict=True) if not spec.surface]
    hourly = _room_series(air, Hourly.empty_grid(start, grid_end))
    metrics = _metrics(hourly, air, room, profile, standards)
    completeness = tuple(
        _completeness(spec, h) for spec, h in zip(room.sensors, per_sensor, strict=True)
    )
    in_period = [e for e in entries if _overlaps(e, start, end)]
    figures = PeriodFigures(
        period=period,
        start=start,
        end=end,
        metrics=metrics,
        t_lowest=_nanmin(hourly.t_min),
        t_highest=_nanmax(hourly.t_max),
        rh_lowest=_nanmin(hourly.rh_min),
        rh_highest=_nanmax(hourly.rh_max),
        completeness_pct=_overall_completeness(completeness),
        alerts=len(in_period),
        median_time_to_ack_h=_median_ack(in_period),
    )
    return figures, hourly, completeness, source


def _bounds(period: Period, site: Site, now: datetime) -> tuple[datetime, datetime]:
    """The period's UTC bounds in the site's zone, ending at ``now`` if it has not ended."""
    start, end = period.bounds(site.zone)
    return start, min(end, max(start, now))


def _prefetch(
    sources: Sources, chosen: Sequence[tuple[Site, Room]], period: Period, now: datetime
) -> dict[str, Hourly]:
    """Every chosen room's sensors' hourly rollups over all of the report's periods, in one
    read, each on one hourly grid (`Hourly.window` cuts a period out); empty when the store
    cannot read rows (the InfluxDB store: `_read_sensors` reads per sensor and period)."""
    store = sources.store
    if sources.prefer != "rollups" or not isinstance(store, HourlyRowReader) or not chosen:
        return {}
    sensors = list(dict.fromkeys(spec.id for _, room in chosen for spec in room.sensors))
    if not sensors:
        return {}
    spans = [
        _bounds(which, site, now)
        for site, _ in chosen
        for which in (period, period.previous(), period.year_before())
    ]
    start, end = min(a for a, _ in spans), max(b for _, b in spans)
    grid = Hourly.empty_grid(start, end)
    tables = store.hourly_rows(sensors, _first_hour(start), end)
    first_hour = int(grid.times[0].astype(np.int64)) // HOUR_NS if grid.times.size else 0
    out: dict[str, Hourly] = {}
    size = grid.times.size
    for sensor, table in zip(sensors, tables, strict=True):
        index = table[:, 0].astype(np.int64) - first_hour
        keep = (index >= 0) & (index < size)
        index, part = index[keep], table[keep]
        columns = np.full((7, size), np.nan)
        columns[:6, index] = part[:, 2:8].T
        columns[6] = 0.0
        columns[6, index] = part[:, 1]
        out[sensor] = Hourly(grid.times, *columns)
    return out


def _read_sensors(
    sources: Sources, sensors: Sequence[SensorSpec], start: datetime, end: datetime
) -> tuple[list[Hourly], Source]:
    """Each sensor's hourly series on the period's grid, from rollups or raw readings."""
    store = sources.store
    use_rollups = sources.prefer == "rollups" and isinstance(store, RollupReader)
    out: list[Hourly] = []
    for spec in sensors:
        grid = Hourly.empty_grid(start, end)
        if use_rollups:
            assert isinstance(store, RollupReader)
            points = store.rollups("1h", _first_hour(start), end, sensor=spec.id)
        else:
            points = _raw_hours(store, spec.id, start, end)
        out.append(_on_grid(grid, points))
    return out, "rollups" if use_rollups else "raw"


def _raw_hours(store: Store, sensor: str, start: datetime, end: datetime) -> list[AggregatePoint]:
    """Hourly buckets of a sensor's raw readings, aligned as the rollups are (epoch hours)."""
    readings = store.history(sensor, start, end)
    if not readings:
        return []
    ns = np.array([int(r.time.timestamp() * 1e6) * 1000 for r in readings], dtype=np.int64)
    t = np.array([np.nan if r.temperature is None else r.temperature for r in readings])
    rh = np.array([np.nan if r.humidity is None else r.humidity for r in readings])
    buckets = ns - ns % HOUR_NS
    out: list[AggregatePoint] = []
    edges = np.flatnonzero(np.diff(buckets)) + 1
    for lo, hi in zip(np.r_[0, edges], np.r_[edges, buckets.size], strict=True):
        tt, hh = t[lo:hi], rh[lo:hi]
        out.append(
            AggregatePoint(
                time=datetime.fromtimestamp(int(buckets[lo]) / 1e9, tz=UTC),
                temperature_mean=_opt(np.nanmean, tt),
                temperature_min=_opt(np.nanmin, tt),
                temperature_max=_opt(np.nanmax, tt),
                humidity_mean=_opt(np.nanmean, hh),
                humidity_min=_opt(np.nanmin, hh),
                humidity_max=_opt(np.nanmax, hh),
                count=int(max(np.isfinite(tt).sum(), np.isfinite(hh).sum())),
            )
        )
    return out


def _opt(reduce: object, values: FloatArray) -> float | None:
    if not np.any(np.isfinite(values)):
        return None
    return float(reduce(values))  # type: ignore[operator]


def _on_grid(grid: Hourly, points: Iterable[AggregatePoint]) -> Hourly:
    """The points placed on the grid (hours outside it are dropped)."""
    if grid.times.size == 0:
        return grid
    first = int(grid.times[0].astype(np.int64))
    rows = list(points)
    if not rows:
        return grid
    index = np.array(
        [(int(p.time.timestamp()) * 1_000_000_000 - first) // HOUR_NS for p in rows], dtype=np.int64
    )
    keep = (index >= 0) & (index < grid.times.size)

    def column(values: list[float | None]) -> FloatArray:
        out = np.full(grid.times.size, np.nan)
        data = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        out[index[keep]] = data[keep]
        return out

    count = np.zeros(grid.times.size)
    count[index[keep]] = np.array([p.count for p in rows], dtype=np.float64)[keep]
    return Hourly(
        grid.times,
        column([p.temperature_mean for p in rows]),
        column([p.temperature_min for p in rows]),
        column([p.temperature_max for p in rows]),
        column([p.humidity_mean for p in rows]),
        column([p.humidity_min for p in rows]),
        column([p.humidity_max for p in rows]),
        count,
    )


def _room_series(air: Sequence[Hourly], grid: Hourly) -> Hourly:
    """The hour-by-hour mean of the air sensors' means; min and max over them."""
    if not air:
        return grid
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)  # all-NaN hours stay NaN

        def stack(name: str, reduce: object) -> FloatArray:
            data = np.vstack([getattr(h, name) for h in air])
            return np.asarray(reduce(data, axis=0), dtype=np.float64)  # type: ignore[operator]

        return Hourly(
            grid.times,
            stack("t_mean", np.nanmean),
            stack("t_min", np.nanmin),
            stack("t_max", np.nanmax),
            stack("rh_mean", np.nanmean),
            stack("rh_min", np.nanmin),
            stack("rh_max", np.nanmax),
            np.sum(np.vstack([h.count for h in air]), axis=0),
        )


def _metrics(
    hourly: Hourly, air: Sequence[Hourly], room: Room, profile: Profile, standards: Sequence[str]
) -> RoomMetrics | None:
    """`room_metrics` of the room's series, with the worst of its sensors' mould indices, and
    its compliance with the profile and with ``standards`` measured in the same pass."""
    known = np.isfinite(hourly.t_mean) & np.isfinite(hourly.rh_mean)
    if not np.any(known):
        return None
    worst_mrf = np.full(hourly.times.size, np.nan)
    worst_vtt = np.full(hourly.times.size, np.nan)
    for sensor in air:
        mrf, vtt = mould_indices(
            sensor.times, sensor.t_mean, sensor.rh_mean, holdings=room.holdings
        )
        ok = np.isfinite(sensor.t_mean) & np.isfinite(sensor.rh_mean)
        worst_mrf = np.fmax(worst_mrf, np.where(ok, mrf, np.nan))
        worst_vtt = np.fmax(worst_vtt, np.where(ok, vtt, np.nan))
    return room_metrics(
        hourly.times,
        hourly.t_mean,
        hourly.rh_mean,
        holdings=room.holdings,
        profile=profile,
        mould=(worst_mrf, worst_vtt),
        standards=standards,
    )


def _standard_ids(room: Room) -> tuple[str, ...]:
    """The profiles of `STANDARDS` for this room (JGJ 25: the variant for its holdings)."""
    return tuple(jgj25_for(room.holdings) if s == "jgj25" else s for s in STANDARDS)


def _completeness(spec: SensorSpec, hourly: Hourly) -> SensorCompleteness:
    hours = hourly.times.size
    samples = int(np.sum(hourly.count))
    expected = hours * 3600.0 / spec.expected_interval_s
    empty = hourly.count <= 0
    longest = _longest_run(empty)
    return SensorCompleteness(
        sensor=spec.id,
        name=spec.name,
        surface=spec.surface,
        samples=samples,
        expected_samples=expected,
        completeness_pct=min(100.0, 100.0 * samples / expected) if expected > 0 else math.nan,
        hours_without_data=int(np.sum(empty)),
        longest_silence_h=float(longest),
        silent=hours > 0 and longest >= SILENT_AFTER_H,
    )


def _longest_run(mask: NDArray[np.bool_]) -> int:
    if not np.any(mask):
        return 0
    padded = np.concatenate(([0], mask.astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(padded))
    return int(np.max(edges[1::2] - edges[::2]))


def _overall_completeness(sensors: Sequence[SensorCompleteness]) -> float:
    expected = sum(s.expected_samples for s in sensors)
    if expected <= 0:
        return math.nan
    return min(100.0, 100.0 * sum(s.samples for s in sensors) / expected)


def _alerts(
    state: AlertStore | None, rooms: Sequence[tuple[Site, Room]], period: Period, now: datetime
) -> dict[tuple[str, str], list[Alert]]:
    """The alerts about each room or its sensors that overlap any of the report's periods."""
    if state is None or not rooms:
        return {}
    wanted = {(site.id, room.id) for site, room in rooms}
    earliest = min(
        min(p.bounds(site.zone)[0] for p in (period, period.previous(), period.year_before()))
        for site, _ in rooms
    )
    found: dict[int, Alert] = {a.id: a for a in state.list_alerts(since=earliest, limit=1_000_000)}
    found.update({a.id: a for a in state.open_alerts()})
    out: dict[tuple[str, str], list[Alert]] = {}
    for alert in found.values():
        key = (alert.subject.site or "", alert.subject.room or "")
        if key in wanted and alert.since < now:
            out.setdefault(key, []).append(alert)
    return out


def _entry(alert: Alert) -> AlertEntry:
    return AlertEntry(
        id=alert.id,
        rule=alert.rule,
        severity=alert.severity.label,
        where=alert.subject.sensor or alert.subject.room or "",
        summary=alert.summary,
        since=alert.since,
        fired_at=alert.fired_at,
        acknowledged_at=alert.acknowledged_at,
        acknowledged_by=alert.acknowledged_by,
        resolved_at=alert.resolved_at,
    )


def _overlaps(entry: AlertEntry, start: datetime, end: datetime) -> bool:
    return entry.since < end and (entry.resolved_at is None or entry.resolved_at >= start)


def _median_ack(entries: Sequence[AlertEntry]) -> float | None:
    hours = [h for e in entries if (h := e.time_to_ack_h) is not None]
    return float(np.median(hours)) if hours else None


def _nanmin(x: FloatArray) -> float:
    return float(np.nanmin(x)) if np.any(np.isfinite(x)) else math.nan


def _nanmax(x: FloatArray) -> float:
    return float(np.nanmax(x)) if np.any(np.isfinite(x)) else math.nan


def _floor_hour_ns(when: datetime) -> int:
    ns = int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000
    return ns - ns % HOUR_NS


def _first_hour(start: datetime) -> datetime:
    """The start of the epoch-aligned hour holding ``start`` (where a rollup read begins)."""
    return datetime.fromtimestamp(_floor_hour_ns(start) // 1_000_000_000, tz=UTC)


def _ceil_hour_ns(when: datetime) -> int:
    ns = int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000
    return -(-ns // HOUR_NS) * HOUR_NS
