"""Site-local days combined from the hourly rollups equal a recomputation of the raw readings
grouped by local date — on DST days too (23 and 25 hours) — with derived series; zones with
fractional-hour offsets are refused. On SQLite and on the real InfluxDB."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from repoclimate.history import DerivedRow
from repoclimate.history.localdays import LocalDayError, local_day_rollups, local_days
from repoclimate.sensors.reading import Reading
from tests.history.rollup_model import StoreMaker

LONDON = ZoneInfo("Europe/London")
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(params=["sqlite", "influxdb"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreMaker]:
    influxdb = request.getfixturevalue("influxdb") if request.param == "influxdb" else None
    maker = StoreMaker(request.param, tmp_path, influxdb)
    yield maker
    maker.close()


def readings(start: datetime, hours: int, step_min: int = 20) -> list[Reading]:
    """Readings of s1 in room a/r every ``step_min`` minutes, values varying with time."""
    out = []
    for i in range(hours * 60 // step_min):
        when = start + timedelta(minutes=step_min * i)
        out.append(
            Reading("s1", when, 15 + (i * 7 % 13) / 2, 40 + (i * 5 % 11), site="a", room="r")
        )
    return out


def by_local_day(items: list[Reading], zone: ZoneInfo) -> dict[date, list[Reading]]:
    days: dict[date, list[Reading]] = {}
    for r in items:
        days.setdefault(r.time.astimezone(zone).date(), []).append(r)
    return days


@pytest.mark.parametrize(
    ("zone", "first", "days", "hours_per_day"),
    [
        (SHANGHAI, date(2026, 11, 1), 3, [24, 24, 24]),
        (LONDON, date(2026, 10, 24), 3, [24, 25, 24]),  # clocks go back on 25 October
        (LONDON, date(2026, 3, 28), 3, [24, 23, 24]),  # and forward on 29 March
    ],
)
def test_local_days_equal_a_recomputation_by_local_date(
    make_store: StoreMaker, zone: ZoneInfo, first: date, days: int, hours_per_day: list[int]
) -> None:
    store = make_store()
    start = datetime.combine(first, datetime.min.time(), zone) - timedelta(hours=6)
    held = readings(start.astimezone(UTC), 24 * days + 12)
    store.write(held)
    end = first + timedelta(days=days)
    got = local_day_rollups(store, first, end, zone, sensor="s1")
    want = {d: rs for d, rs in by_local_day(held, zone).items() if first <= d < end}
    assert [p.time for p in got] == [datetime.combine(d, datetime.min.time(), zone) for d in want]
    assert [p.count for p in got] == [3 * h for h in hours_per_day]  # three readings an hour
    for point, rs in zip(got, want.values(), strict=True):
        ts = [r.temperature for r in rs if r.temperature is not None]
        hs = [r.humidity for r in rs if r.humidity is not None]
        assert point.temperature_mean == pytest.approx(math.fsum(ts) / len(ts), rel=1e-12)
        assert (point.temperature_min, point.temperature_max) == (min(ts), max(ts))
        assert point.humidity_mean == pytest.approx(math.fsum(hs) / len(hs), rel=1e-12)
        assert (point.humidity_min, point.humidity_max) == (min(hs), max(hs))
    room = local_day_rollups(store, first, end, zone, site="a", room="r")
    assert [(p.time, p.count) for p in room] == [(p.time, p.count) for p in got]


def test_local_days_carry_the_derived_series(make_store: StoreMaker) -> None:
    store = make_store()
    day = date(2026, 11, 2)
    midnight = datetime.combine(day, datetime.min.time(), SHANGHAI).astimezone(UTC)
    store.write(readings(midnight - timedelta(hours=2), 28))
    tags = {"site": "a", "room": "r", "sensor": "s1", "scope": "sensor"}
    # hourly dew points from 22:00 the local day before to 02:00 the local day after
    rows = [
        DerivedRow("preservation", tags, {"dew_point": float(h)}, midnight + timedelta(hours=h))
        for h in range(-2, 26)
    ]
    store.write_derived(rows)
    (point,) = local_day_rollups(store, day, day + timedelta(days=1), SHANGHAI, sensor="s1")
    stats = point.derived["dew_point"]
    assert (stats.count, stats.min, stats.max) == (24, 0.0, 23.0)
    assert stats.mean == pytest.approx(11.5)


def test_a_zone_with_a_fractional_hour_offset_is_refused(make_store: StoreMaker) -> None:
    store = make_store()
    store.write(readings(datetime(2026, 11, 1, tzinfo=UTC), 2))
    with pytest.raises(LocalDayError, match=r"Asia/Kolkata.*whole-hour"):
        local_day_rollups(
            store, date(2026, 11, 1), date(2026, 11, 2), ZoneInfo("Asia/Kolkata"), sensor="s1"
        )
    assert local_days([], ZoneInfo("Asia/Kolkata")) == []
