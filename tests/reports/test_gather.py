"""A report's numbers equal `preservation.metrics` computed independently over the seeded
readings (binned to hours here, not by the store), from rollups and from raw readings alike."""

from __future__ import annotations

import math
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from repoclimate.history.sqlite import SQLiteStore
from repoclimate.history.store import AggregatePoint
from repoclimate.preservation.compliance import compliance
from repoclimate.preservation.metrics import RoomMetrics, room_metrics
from repoclimate.reports.gather import STANDARDS, ReportError, Sources, gather, jgj25_for
from repoclimate.reports.periods import parse_period
from repoclimate.reports.ranking import rank_rooms
from repoclimate.sensors.reading import Reading
from repoclimate.sensors.registry import parse_registry
from tests.reports.conftest import NOW, Seeded
from tests.reports.seeding import SMALL_SENSORS, readings

ZONE = ZoneInfo("Asia/Shanghai")


def independent_hourly(sensor: str, period: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sensor's seeded readings of the period, averaged per UTC hour on the period's grid."""
    start, end = parse_period(period).bounds(ZONE)
    grid = np.arange(int(start.timestamp()), int(end.timestamp()), 3600)
    t_sum = np.zeros(grid.size)
    rh_sum = np.zeros(grid.size)
    n = np.zeros(grid.size)
    for r in readings({sensor: SMALL_SENSORS[sensor]}, start, end, 900):
        k = (int(r.time.timestamp()) - grid[0]) // 3600
        t_sum[k] += r.temperature or 0.0
        rh_sum[k] += r.humidity or 0.0
        n[k] += 1
    with np.errstate(invalid="ignore"):
        return grid.astype("datetime64[s]"), t_sum / n, rh_sum / n


def independent_room(sensors: list[str], period: str, profile: str, holdings: str) -> RoomMetrics:
    series = [independent_hourly(s, period) for s in sensors]
    times = series[0][0]
    worst_mrf = np.full(times.size, np.nan)
    worst_vtt = np.full(times.size, np.nan)
    for _, t, rh in series:
        own = room_metrics(times, t, rh, holdings=holdings)
        ok = np.isfinite(t)
        worst_mrf = np.fmax(worst_mrf, np.where(ok, own.mrf, np.nan))
        worst_vtt = np.fmax(worst_vtt, np.where(ok, own.vtt_index, np.nan))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # hours when every sensor was silent
        t_room = np.nanmean(np.vstack([s[1] for s in series]), axis=0)
        rh_room = np.nanmean(np.vstack([s[2] for s in series]), axis=0)
    return room_metrics(
        times, t_room, rh_room, holdings=holdings, profile=profile, mould=(worst_mrf, worst_vtt)
    )


def close(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@pytest.mark.parametrize("prefer", ["rollups", "raw"])
def test_room_figures_equal_metrics_computed_independently(seeded: Seeded, prefer: str) -> None:
    report = gather(seeded.sources(prefer), parse_period("2026-11"), NOW, site_id="shanghai")
    assert report.sources == {prefer}
    stack = next(r for r in report.rooms if r.room.id == "stack-a")
    expected = independent_room(["a1", "a2"], "2026-11", "jgj25-paper", "paper")  # not the wall
    got = stack.current.metrics
    assert got is not None and got.compliance is not None and expected.compliance is not None
    for name in ("twpi", "mean_lifetime_multiplier", "mrf_max", "vtt_max", "gap_hours"):
        assert close(getattr(got, name), getattr(expected, name)), name
    assert close(got.emc_range.emc_min_pct, expected.emc_range.emc_min_pct)
    assert close(got.emc_range.emc_max_pct, expected.emc_range.emc_max_pct)
    assert close(got.compliance.time_in_band_pct, expected.compliance.time_in_band_pct)
    assert len(got.compliance.band_excursions) == len(expected.compliance.band_excursions) >= 1
    # the damp spell (10–14 Nov UTC) is the excursion, and it made mould risk rise
    longest = max(got.compliance.band_excursions, key=lambda e: e.hours)
    assert str(longest.start).startswith("2026-11-10") and longest.quantity == "rh"
    assert got.mrf_max > 0.3 and got.compliance.time_in_band_pct < 90.0


def test_standards_previous_period_and_last_year(seeded: Seeded) -> None:
    report = gather(seeded.sources(), parse_period("2026-11"), NOW, site_id="shanghai")
    film = next(r for r in report.rooms if r.room.id == "film-vault")
    times, t, rh = independent_hourly("f1", "2026-11")
    ids = [jgj25_for("film") if s == "jgj25" else s for s in STANDARDS]
    assert [c.profile_id for c in film.standards] == ids
    for measured, profile in zip(film.standards, ids, strict=True):
        assert close(measured.time_in_band_pct, compliance(profile, times, t, rh).time_in_band_pct)
    assert film.previous.period.label == "2026-10" and film.last_year.period.label == "2025-11"
    previous = independent_room(["f1"], "2026-10", "jgj25-film", "film")
    last_year = independent_room(["f1"], "2025-11", "jgj25-film", "film")
    assert film.previous.metrics is not None and film.last_year.metrics is not None
    assert close(film.previous.metrics.twpi, previous.twpi)
    assert close(film.last_year.metrics.twpi, last_year.twpi)


def test_completeness_names_the_silent_sensor(seeded: Seeded) -> None:
    report = gather(seeded.sources(), parse_period("2026-11"), NOW, site_id="shanghai")
    stack = next(r for r in report.rooms if r.room.id == "stack-a")
    by_id = {s.sensor: s for s in stack.sensors}
    assert by_id["a1"].samples == 30 * 96 and by_id["a1"].completeness_pct == 100.0
    assert by_id["a2"].hours_without_data == 60 and by_id["a2"].longest_silence_h == 60
    assert by_id["a2"].silent and not by_id["a1"].silent
    assert by_id["a2"].samples == 30 * 96 - 60 * 4
    assert by_id["a-wall"].surface


def test_alert_log_with_time_to_acknowledge(seeded: Seeded) -> None:
    report = gather(seeded.sources(), parse_period("2026-11"), NOW, site_id="shanghai")
    stack = next(r for r in report.rooms if r.room.id == "stack-a")
    assert [a.rule for a in stack.alerts] == ["mould.mrf"]
    assert stack.alerts[0].time_to_ack_h == pytest.approx(1.5)
    assert stack.current.alerts == 1 and stack.current.median_time_to_ack_h == pytest.approx(1.5)
    assert stack.previous.alerts == 0
    film = next(r for r in report.rooms if r.room.id == "film-vault")
    assert film.alerts == ()


def test_ranking_puts_the_damp_room_first(seeded: Seeded) -> None:
    report = gather(seeded.sources(), parse_period("2026-11"), NOW, site_id="shanghai")
    ranked = rank_rooms(report.rooms)
    assert [e.room.room.id for e in ranked] == ["stack-a", "film-vault"]
    assert ranked[0].mould > ranked[1].mould


def test_unknown_site_or_room_is_refused_with_what_exists(seeded: Seeded) -> None:
    with pytest.raises(ReportError, match=r"no site 'nowhere'.*shanghai"):
        gather(seeded.sources(), parse_period("2026-11"), NOW, site_id="nowhere")
    with pytest.raises(ReportError, match=r"no room 'attic'.*stack-a"):
        gather(seeded.sources(), parse_period("2026-11"), NOW, site_id="shanghai", room_id="attic")


@pytest.mark.parametrize(
    ("zone", "midnight_utc"),
    [
        ("Asia/Kolkata", datetime(2026, 10, 31, 18, 30, tzinfo=UTC)),  # UTC+05:30
        ("Australia/Adelaide", datetime(2026, 10, 31, 13, 30, tzinfo=UTC)),  # UTC+10:30 (DST)
    ],
)
@pytest.mark.parametrize("prefer", ["rollups", "raw"])
def test_half_hour_zone_keeps_the_periods_first_partial_hour(
    tmp_path: Path, zone: str, midnight_utc: datetime, prefer: str
) -> None:
    """A local midnight on the half hour: the readings of its first half hour are reported (a
    warm spell there is the month's highest temperature)."""
    registry = parse_registry(
        "sites:\n"
        f"  - id: s\n    timezone: {zone}\n    rooms:\n"
        "      - id: r\n        profile: jgj25-paper\n        holdings: paper\n"
        "        sensors: [{id: x, match: {format: generic}, expected_interval_s: 900}]\n"
    )
    start = midnight_utc - timedelta(hours=6)
    rows = []
    for k in range(4 * 30):
        when = start + timedelta(minutes=15 * k)
        warm = midnight_utc <= when < midnight_utc + timedelta(minutes=30)
        rows.append(Reading("x", when, 27.5 if warm else 18.0, 50.0, site="s", room="r"))
    now = midnight_utc + timedelta(hours=24)
    with SQLiteStore(tmp_path / "half.sqlite") as store:
        store.write(rows)
        report = gather(Sources(store, registry, None, prefer=prefer), parse_period("2026-11"), now)
    (room,) = report.rooms
    assert room.current.start == midnight_utc
    first = int(room.hourly.times[0].astype("datetime64[s]").astype(np.int64))
    assert first == int(midnight_utc.timestamp()) - 1800  # the partial hour is on the grid
    assert room.current.t_highest == 27.5
    assert room.hourly.t_max[0] == 27.5
    # the day before (previous period's end) does not hold the warm half hour
    assert room.previous.t_highest == 18.0


class _PerSensorStore:
    """The seeded store seen through `rollups` and `history` only (as the InfluxDB store is:
    no `hourly_rows`), so the report reads each sensor and period on its own."""

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store

    def rollups(self, *args: Any, **kwargs: Any) -> list[AggregatePoint]:
        return self._store.rollups(*args, **kwargs)

    def history(self, sensor: str, start: datetime, end: datetime) -> list[Reading]:
        return self._store.history(sensor, start, end)


def test_one_query_read_equals_the_per_sensor_read(seeded: Seeded) -> None:
    """The report's one-query read (`hourly_rows`) gives the same series and figures as
    `rollups` per sensor and period."""
    period = parse_period("2026-11")
    fast = gather(seeded.sources(), period, NOW, site_id="shanghai")
    plain_sources = Sources(_PerSensorStore(seeded.store), seeded.registry, seeded.state)  # type: ignore[arg-type]
    plain = gather(plain_sources, period, NOW, site_id="shanghai")
    assert fast.sources == plain.sources == {"rollups"}
    for a, b in zip(fast.rooms, plain.rooms, strict=True):
        for name in ("t_mean", "t_min", "t_max", "rh_mean", "rh_min", "rh_max", "count"):
            np.testing.assert_array_equal(getattr(a.hourly, name), getattr(b.hourly, name))
        assert _same_figures(a.current, b.current)
        assert a.sensors == b.sensors
        assert [s.time_in_band_pct for s in a.standards] == [
            s.time_in_band_pct for s in b.standards
        ]


def _same_figures(a: Any, b: Any) -> bool:
    """Period figures equal field by field (their metrics hold arrays, compared by value)."""
    ma, mb = a.metrics, b.metrics
    return (
        (a.t_lowest, a.t_highest, a.rh_lowest, a.rh_highest, a.completeness_pct)
        == (b.t_lowest, b.t_highest, b.rh_lowest, b.rh_highest, b.completeness_pct)
        and ma.twpi == mb.twpi
        and ma.mrf_max == mb.mrf_max
        and ma.vtt_max == mb.vtt_max
        and ma.compliance.time_in_band_pct == mb.compliance.time_in_band_pct
    )
