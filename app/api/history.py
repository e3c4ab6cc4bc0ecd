"""History of a sensor or a room between two times, raw or aggregated, as JSON or CSV, with
derived preservation series.

``every=5m|1h|1d`` aggregates per interval (aligned to the Unix epoch, UTC): ``temperature`` and
``humidity`` are then the interval's means, with ``…_min``/``…_max`` and ``count`` beside them.
A room's history is the history of each of its sensors, tagged by sensor. ``derived`` adds
series computed by `preservation.metrics.room_metrics` from the returned points with the room's
holdings: ``dew_point`` [°C], ``mrf`` (IPI mould risk factor), ``vtt`` (VTT mould index), ``pi``
(IPI preservation index [years]), ``emc`` (wood equilibrium moisture content [%]). The
cumulative ones (MRF, VTT) start from zero at ``start``: they describe the window asked for.

``every=1h`` and ``every=1d`` are read from the store's hourly and daily rollups
(``climate_1h`` / ``climate_1d``, `HistoryStore.rollups`) for the whole intervals they cover,
and aggregated from the raw readings only for what the rollups cannot answer: a partial first
or last interval (bounds that are not on the hour or the UTC day) and the intervals of the last
`SETTLE` (which the InfluxDB store of another process may not have rolled up yet). The answer
is the raw aggregation's — the same intervals, minima, maxima and counts, means equal to within
floating-point rounding — for a 30-day hourly history in about a tenth of the time.
``api.history_rollups: false`` aggregates everything from the raw readings (a store file from
before rollups needs ``repoclimate history rollup`` once before it can answer from them).

Limits keep one request bounded: raw history spans at most `MAX_RAW_SPAN`, aggregated history
at most `MAX_BUCKETS` intervals.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

import numpy as np
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel
from pydantic_core import to_json

from repoclimate.app.api.auth import get_services, require
from repoclimate.app.api.errors import AUTH_RESPONSES, described, invalid
from repoclimate.app.api.reads import run_sized_read
from repoclimate.app.api.sites import NOT_FOUND, find_room, find_sensor
from repoclimate.app.services import Services
from repoclimate.app.users import Role
from repoclimate.history.influx import ROLLUP_EVERY_S
from repoclimate.history.rollups import Period
from repoclimate.history.store import AggregatePoint, HistoryStore
from repoclimate.history.timestamps import EPOCH, duration_ns, from_ns, to_ns
from repoclimate.preservation.metrics import room_metrics

router = APIRouter(prefix="/api", tags=["history"], dependencies=[Depends(require(Role.VIEWER))])
ServicesDep = Annotated[Services, Depends(get_services)]

Every = Literal["5m", "1h", "1d"]
Derived = Literal["dew_point", "mrf", "vtt", "pi", "emc"]
Format = Literal["json", "csv"]
INTERVALS: dict[str, timedelta] = {
    "5m": timedelta(minutes=5),
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),
}
ROLLUP_PERIODS: dict[str, Period] = {"1h": "1h", "1d": "1d"}
"""The ``every=`` values the store keeps rollups of."""
SETTLE = timedelta(seconds=2 * ROLLUP_EVERY_S)
"""Intervals holding any of the last this long are aggregated from the raw readings: an
InfluxDB store rolls up what another process wrote only every `ROLLUP_EVERY_S`."""
MAX_RAW_SPAN = timedelta(days=31)
MAX_BUCKETS = 20_000
INLINE_RAW_SPAN = timedelta(days=2)
INLINE_BUCKETS = 2_000
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
_DERIVED_FIELD = {
    "dew_point": "dew_point",
    "mrf": "mould_risk_factor",
    "vtt": "vtt_mould_index",
    "pi": "preservation_index",
    "emc": "emc",
}


class HistoryPoint(BaseModel):
    """One reading, or one interval's aggregate; derived fields when asked for."""

    time: datetime
    sensor: str
    temperature: float | None
    humidity: float | None
    temperature_min: float | None = None
    temperature_max: float | None = None
    humidity_min: float | None = None
    humidity_max: float | None = None
    count: int | None = None
    dew_point: float | None = None
    mrf: float | None = None
    vtt: float | None = None
    pi: float | None = None
    emc: float | None = None


Point = dict[str, Any]
"""One point's `HistoryPoint` fields, before validation."""


class History(BaseModel):
    subject: str
    start: datetime
    end: datetime
    every: Every | None
    derived: list[Derived]
    points: list[HistoryPoint]


def _number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


@runtime_checkable
class ValueReads(Protocol):
    """A store that also reads plain rows (`SQLiteStore`): the history answer is built from
    them without a `Reading` or `AggregatePoint` per row (bench/api.py: those objects were
    most of a history request's CPU). Other stores answer through `HistoryStore` alone."""

    def history_values(
        self, sensor: str, start: datetime, end: datetime
    ) -> list[tuple[int, float | None, float | None]]: ...

    def rollup_values(
        self, period: Period, start: datetime, end: datetime, *, sensor: str
    ) -> list[tuple[Any, ...]]: ...


def _raw_points(sensor: str, rows: list[tuple[int, float | None, float | None]]) -> list[Point]:
    """`ValueReads.history_values` rows as points: what `Window.points` makes of the store's
    `Reading` objects. The values have SQLite's REAL affinity (floats or None; SQLite holds no
    NaN), so ``_number`` reduces to ``None if v is None or v - v else v`` (``inf - inf`` is NaN,
    which is true), inline: the function call per value was a fifth of the read."""
    epoch, delta = EPOCH, timedelta
    return [
        {
            "time": epoch + delta(0, 0, time_ns // 1000),
            "sensor": sensor,
            "temperature": None if t is None or t - t else t,
            "humidity": None if h is None or h - h else h,
        }
        for time_ns, t, h in rows
    ]


def _aggregate_point(sensor: str, a: AggregatePoint) -> Point:
    return {
        "time": a.time,
        "sensor": sensor,
        "temperature": _number(a.temperature_mean),
        "humidity": _number(a.humidity_mean),
        "temperature_min": _number(a.temperature_min),
        "temperature_max": _number(a.temperature_max),
        "humidity_min": _number(a.humidity_min),
        "humidity_max": _number(a.humidity_max),
        "count": a.count,
    }


def _rollup_points(sensor: str, rows: list[tuple[Any, ...]]) -> list[Point]:
    """`ValueReads.rollup_values` rows as points: what `_aggregate_point` makes of the
    `AggregatePoint` that `HistoryStore.rollups` builds of the same row (values inline as in
    `_raw_points`)."""
    epoch, delta = EPOCH, timedelta
    return [
        {
            "time": epoch + delta(0, 0, time_ns // 1000),
            "sensor": sensor,
            "temperature": None if t_mean is None or t_mean - t_mean else t_mean,
            "humidity": None if h_mean is None or h_mean - h_mean else h_mean,
            "temperature_min": None if t_min is None or t_min - t_min else t_min,
            "temperature_max": None if t_max is None or t_max - t_max else t_max,
            "humidity_min": None if h_min is None or h_min - h_min else h_min,
            "humidity_max": None if h_max is None or h_max - h_max else h_max,
            "count": count,
        }
        for time_ns, t_mean, t_min, t_max, h_mean, h_min, h_max, count in rows
    ]


class Window:
    """The validated query of one history request."""

    def __init__(
        self,
        services: Services,
        start: datetime | None,
        end: datetime | None,
        every: Every | None,
        derived: list[Derived] | None,
    ) -> None:
        for name, value in (("start", start), ("end", end)):
            if value is not None and value.tzinfo is None:
                raise invalid(("query", name), "give a time zone (…Z or +01:00)")
            if value is not None and not EARLIEST <= value <= LATEST:
                raise invalid(("query", name), f"must lie between {EARLIEST:%Y} and {LATEST:%Y}")
        self.end = (end or services.clock.now()).astimezone(UTC)
        self.start = (start or self.end - timedelta(days=1)).astimezone(UTC)
        if self.start >= self.end:
            raise invalid(("query", "start"), "start must be before end")
        self.every = every
        self.step = None if every is None else INTERVALS[every]
        if self.step is None and self.end - self.start > MAX_RAW_SPAN:
            raise invalid(
                ("query", "every"),
                f"raw history spans at most {MAX_RAW_SPAN.days} days: give every=",
            )
        if self.step is not None and (self.end - self.start) / self.step > MAX_BUCKETS:
            raise invalid(
                ("query", "every"),
                f"at most {MAX_BUCKETS} intervals: a coarser every= or a shorter range",
            )
        self.derived: list[Derived] = list(dict.fromkeys(derived or []))

    @property
    def light(self) -> bool:
        """Whether the window's reads are short enough to run in the event loop
        (`reads.run_sized_read`): raw over at most `INLINE_RAW_SPAN`, or at most
        `INLINE_BUCKETS` intervals."""
        if self.step is None:
            return self.end - self.start <= INLINE_RAW_SPAN
        return (self.end - self.start) / self.step <= INLINE_BUCKETS

    def aggregate(self, services: Services, sensor: str) -> list[AggregatePoint]:
        """The sensor's intervals: whole ones that have settled from the rollups, the rest
        (partial first and last ones, recent ones) from the raw readings."""
        assert self.step is not None and self.every is not None
        store = services.store
        period = ROLLUP_PERIODS.get(self.every)
        if period is None or not services.settings.api.history_rollups:
            return store.aggregate(sensor, self.start, self.end, self.step)
        low, high = rollup_span(self.start, self.end, self.step, services.clock.now() - SETTLE)
        if high <= low:
            return store.aggregate(sensor, self.start, self.end, self.step)
        return from_rollups(store, period, sensor, self.start, self.end, low, high, self.step)

    def aggregate_points(self, services: Services, sensor: str) -> list[Point]:
        """`aggregate` as points; from a `ValueReads` store's plain rollup rows when it is one."""
        assert self.step is not None and self.every is not None
        store = services.store
        period = ROLLUP_PERIODS.get(self.every)
        if (
            period is not None
            and services.settings.api.history_rollups
            and isinstance(store, ValueReads)
        ):
            low, high = rollup_span(self.start, self.end, self.step, services.clock.now() - SETTLE)
            if low < high:
                step = self.step
                head = store.aggregate(sensor, self.start, low, step) if self.start < low else []
                tail = store.aggregate(sensor, high, self.end, step) if high < self.end else []
                return [
                    *(_aggregate_point(sensor, a) for a in head),
                    *_rollup_points(sensor, store.rollup_values(period, low, high, sensor=sensor)),
                    *(_aggregate_point(sensor, a) for a in tail),
                ]
        return [_aggregate_point(sensor, a) for a in self.aggregate(services, sensor)]

    def points(self, services: Services, sensor: str, holdings: str) -> list[Point]:
        """The sensor's points as `HistoryPoint` fields (validated once, with the answer)."""
        store = services.store
        points: list[Point]
        if self.step is not None:
            points = self.aggregate_points(services, sensor)
        elif isinstance(store, ValueReads):
            points = _raw_points(sensor, store.history_values(sensor, self.start, self.end))
        else:
            points = [
                {
                    "time": r.time,
                    "sensor": sensor,
                    "temperature": _number(r.temperature),
                    "humidity": _number(r.humidity),
                }
                for r in store.history(sensor, self.start, self.end)
            ]
        if self.derived and points:
            _add_derived(points, self.derived, holdings)
        return points

    def history(self, subject: str, points: list[Point]) -> dict[str, Any]:
        """The answer's `History` fields."""
        return {
            "subject": subject,
            "start": self.start,
            "end": self.end,
            "every": self.every,
            "derived": self.derived,
            "points": points,
        }


def rollup_span(
    start: datetime, end: datetime, step: timedelta, settled: datetime
) -> tuple[datetime, datetime]:
    """The whole epoch-aligned intervals of ``step`` within ``[start, end)`` that end by
    ``settled``, as ``(low, high)``; ``high <= low`` when there are none."""
    step_ns = duration_ns(step)
    low = -(-to_ns(start) // step_ns) * step_ns
    high = min(to_ns(end), to_ns(settled)) // step_ns * step_ns
    return from_ns(low), from_ns(high)


def from_rollups(
    store: HistoryStore,
    period: Period,
    sensor: str,
    start: datetime,
    end: datetime,
    low: datetime,
    high: datetime,
    step: timedelta,
) -> list[AggregatePoint]:
    head = store.aggregate(sensor, start, low, step) if start < low else []
    tail = store.aggregate(sensor, high, end, step) if high < end else []
    return [*head, *store.rollups(period, low, high, sensor=sensor), *tail]


def _add_derived(points: list[Point], wanted: Sequence[Derived], holdings: str) -> None:
    nan = float("nan")
    t = np.array([nan if p["temperature"] is None else p["temperature"] for p in points])
    rh = np.array([nan if p["humidity"] is None else p["humidity"] for p in points])
    metrics = room_metrics([p["time"] for p in points], t, rh, holdings=holdings)
    series = metrics.series()
    for name in wanted:
        values = series[_DERIVED_FIELD[name]]
        for point, value in zip(points, values, strict=True):
            point[name] = _number(float(value))


_CSV_BASE = ["time", "sensor", "temperature", "humidity"]
_CSV_AGGREGATE = ["temperature_min", "temperature_max", "humidity_min", "humidity_max", "count"]


def _csv(history: History) -> Response:
    columns = _CSV_BASE + (_CSV_AGGREGATE if history.every else []) + list(history.derived)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for point in history.points:
        row = point.model_dump(mode="json")
        writer.writerow(["" if row[c] is None else row[c] for c in columns])
    name = history.subject.replace("/", "_")
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def _answer(history: dict[str, Any], fmt: Format) -> Response:
    """CSV, or JSON written by pydantic-core straight from the `History` fields.

    The fields are built from the store's typed rows (floats or None, ints, aware datetimes),
    so nothing is left to validate: building a `HistoryPoint` per point and letting FastAPI
    validate, dump and encode the answer took a third of a history request's CPU (py-spy,
    bench/api.py). The JSON is the same: `History` stays the documented ``response_model``,
    and the schema tests check every answer against it.
    """
    if fmt == "csv":
        return _csv(History.model_validate(history))
    return Response(to_json(history), media_type="application/json")


_RESPONSES: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    **NOT_FOUND,
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
}

Start = Annotated[datetime | None, Query(description="From (inclusive); default end − 1 day")]
End = Annotated[datetime | None, Query(description="To (exclusive); default now")]
EveryQuery = Annotated[Every | None, Query(description="Aggregate per interval; raw if absent")]
DerivedQuery = Annotated[list[Derived] | None, Query(description="Derived series to add")]
FormatQuery = Annotated[Format, Query(description="json or csv")]


@router.get("/sensors/{sensor_id}/history", response_model=History, responses=_RESPONSES)
async def sensor_history(
    sensor_id: str,
    services: ServicesDep,
    start: Start = None,
    end: End = None,
    every: EveryQuery = None,
    derived: DerivedQuery = None,
    format: FormatQuery = "json",
) -> Response:
    """A registry sensor's readings (raw or per interval) between ``start`` and ``end``."""
    window = Window(services, start, end, every, derived)
    return await run_sized_read(
        services, window.light, _sensor_history, services, sensor_id, window, format
    )


def _sensor_history(services: Services, sensor_id: str, window: Window, format: Format) -> Response:
    _site, room, _sensor = find_sensor(services, sensor_id)
    history = window.history(sensor_id, window.points(services, sensor_id, str(room.holdings)))
    return _answer(history, format)


def _room_history(
    services: Services, site_id: str | None, room_id: str, window: Window, fmt: Format
) -> Response:
    site, room = find_room(services, room_id, site_id)
    points: list[Point] = []
    for sensor in room.sensors:
        if not sensor.surface:
            points.extend(window.points(services, sensor.id, str(room.holdings)))
    points.sort(key=lambda p: (p["time"], p["sensor"]))
    return _answer(window.history(f"{site.id}/{room.id}", points), fmt)


@router.get(
    "/sites/{site_id}/rooms/{room_id}/history", response_model=History, responses=_RESPONSES
)
async def site_room_history(
    site_id: str,
    room_id: str,
    services: ServicesDep,
    start: Start = None,
    end: End = None,
    every: EveryQuery = None,
    derived: DerivedQuery = None,
    format: FormatQuery = "json",
) -> Response:
    """Each air sensor's history in a room, between ``start`` and ``end``."""
    window = Window(services, start, end, every, derived)
    return await run_sized_read(
        services, window.light, _room_history, services, site_id, room_id, window, format
    )


@router.get(
    "/rooms/{room_id}/history",
    response_model=History,
    responses={**_RESPONSES, 409: described("Room id in several sites")},
)
async def room_history(
    room_id: str,
    services: ServicesDep,
    site: Annotated[str | None, Query(description="Site of the room, if ambiguous")] = None,
    start: Start = None,
    end: End = None,
    every: EveryQuery = None,
    derived: DerivedQuery = None,
    format: FormatQuery = "json",
) -> Response:
    """A room's history by room id (``?site=`` when ambiguous)."""
    window = Window(services, start, end, every, derived)
    return await run_sized_read(
        services, window.light, _room_history, services, site, room_id, window, format
    )
