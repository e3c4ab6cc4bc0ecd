"""Hourly and daily rollups per sensor and per room equal a recomputation from the raw readings,
also when readings arrive late or replace stored ones; the rebuild is idempotent. On SQLite and
on the real InfluxDB."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repoclimate.history import DerivedRow, rollups
from repoclimate.history import influx as influx_module
from repoclimate.history.influx import InfluxStore
from repoclimate.history.rollups import DERIVED_FIELDS
from repoclimate.history.timestamps import from_ns
from repoclimate.sensors.reading import Reading
from tests.history.rollup_model import (
    RollupStore,
    StoreMaker,
    assert_same,
    assert_same_derived,
    expected,
    expected_derived,
    final_derived,
    final_state,
)
from tests.servers import InfluxDB

T0 = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
PLACES = {"s1": ("site", "r1"), "s2": ("site", "r1"), "s3": ("site", "r2")}
SPAN = (T0 - DAY, T0 + 3 * DAY)

values = st.one_of(st.none(), st.floats(-20, 40, allow_nan=False).map(lambda v: round(v, 2)))


@st.composite
def readings(draw: st.DrawFn) -> Reading:
    sensor = draw(st.sampled_from(sorted(PLACES)))
    minutes = draw(st.integers(-60, 2 * 24 * 60))
    site, room = PLACES[sensor]
    temperature, humidity = draw(
        st.tuples(values, values).filter(lambda pair: pair != (None, None))
    )
    return Reading(
        sensor, T0 + timedelta(minutes=minutes), temperature, humidity, None, None, site, room
    )


@st.composite
def derived_rows(draw: st.DrawFn) -> DerivedRow:
    """A ``preservation`` row of a sensor or of a room, with some of the rolled-up fields (and
    one that is not rolled up)."""
    if draw(st.booleans()):
        sensor = draw(st.sampled_from(sorted(PLACES)))
        site, room = PLACES[sensor]
        tags = {"site": site, "room": room, "sensor": sensor, "scope": "sensor"}
    else:
        site, room = draw(st.sampled_from(sorted(set(PLACES.values()))))
        tags = {"site": site, "room": room, "scope": "room"}
    names = draw(st.sets(st.sampled_from([*DERIVED_FIELDS, "frost_point"]), min_size=1))
    number = st.floats(-10, 120, allow_nan=False).map(lambda v: round(v, 3))
    fields = {name: draw(number) for name in sorted(names)}
    minutes = draw(st.integers(-60, 2 * 24 * 60))
    return DerivedRow("preservation", tags, fields, T0 + timedelta(minutes=minutes))


@pytest.fixture(params=["sqlite", "influxdb", "influxdb-rp"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreMaker]:
    """Fresh stores of one kind (``influxdb-rp``: rollups in their own retention policy)."""
    influxdb = request.getfixturevalue("influxdb") if request.param != "sqlite" else None
    policy = "forever" if request.param == "influxdb-rp" else None
    maker = StoreMaker(request.param, tmp_path, influxdb, rollup_retention_policy=policy)
    yield maker
    maker.close()


def place(
    sensor: str, minutes: float, temperature: float | None, humidity: float | None
) -> Reading:
    site, room = PLACES[sensor]
    return Reading(
        sensor, T0 + timedelta(minutes=minutes), temperature, humidity, None, None, site, room
    )


def check_all(store: RollupStore, batches: list[list[Reading]]) -> None:
    """The readings' rollups equal the recomputation; buckets holding only derived values (no
    readings: count 0) are not the readings' and are left to `check_derived`."""
    held = final_state(batches)
    for every, period in ((HOUR, "1h"), (DAY, "1d")):
        for sensor in PLACES:
            got = store.rollups(period, *SPAN, sensor=sensor)  # type: ignore[arg-type]
            assert_same([p for p in got if p.count], expected(held, every, sensor=sensor))
        for site, room in set(PLACES.values()):
            got = store.rollups(period, *SPAN, site=site, room=room)  # type: ignore[arg-type]
            assert_same([p for p in got if p.count], expected(held, every, site=site, room=room))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(batches=st.lists(st.lists(readings(), min_size=1, max_size=15), min_size=1, max_size=5))
def test_rollups_equal_a_recomputation_from_raw_data(
    make_store: StoreMaker, batches: list[list[Reading]]
) -> None:
    """Batches in any order (late readings, replacements, fields filled in later)."""
    store = make_store()
    for batch in batches:
        store.write(batch)
    check_all(store, batches)
    store.rebuild_rollups(*SPAN)
    check_all(store, batches)


def check_derived(store: RollupStore, batches: list[list[DerivedRow]]) -> None:
    held = final_derived(batches)
    owners = [(s, "", "") for s in PLACES] + [("", *place) for place in set(PLACES.values())]
    for every, period in ((HOUR, "1h"), (DAY, "1d")):
        for sensor, site, room in owners:
            got = (
                store.rollups(period, *SPAN, sensor=sensor)  # type: ignore[arg-type]
                if sensor
                else store.rollups(period, *SPAN, site=site, room=room)  # type: ignore[arg-type]
            )
            assert_same_derived(got, expected_derived(held, every, (sensor, site, room)))


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    batches=st.lists(
        st.tuples(
            st.lists(readings(), max_size=8), st.lists(derived_rows(), min_size=1, max_size=8)
        ),
        min_size=1,
        max_size=4,
    )
)
def test_derived_rollups_equal_a_recomputation_from_the_derived_rows(
    make_store: StoreMaker, batches: list[tuple[list[Reading], list[DerivedRow]]]
) -> None:
    """Derived rows and readings interleaved in any order, rows replaced and filled in later:
    the derived series' rollups follow the derived rows, the readings' follow the readings."""
    store = make_store()
    for readings_batch, derived_batch in batches:
        store.write(readings_batch)
        store.write_derived(derived_batch)
    derived = [d for _, d in batches]
    check_derived(store, derived)
    check_all(store, [r for r, _ in batches])
    make_store.wipe_rollups(store)
    store.rebuild_rollups(*SPAN)
    check_derived(store, derived)
    check_all(store, [r for r, _ in batches])


def test_influxdb_rollups_live_in_their_retention_policy_which_keeps_them_forever(
    influxdb: InfluxDB, tmp_path: Path
) -> None:
    maker = StoreMaker("influxdb", tmp_path, influxdb, rollup_retention_policy="forever")
    store = maker()
    assert isinstance(store, InfluxStore)
    database = store.settings.database
    store.write([place("s1", m, 20.0, 50.0) for m in (0, 10, 70)])
    assert len(store.rollups("1h", *SPAN, sensor="s1")) == 2
    answer = influxdb.query(f'SHOW RETENTION POLICIES ON "{database}"', database)
    (series,) = answer["results"][0]["series"]  # type: ignore[index]
    durations = {values[0]: values[1] for values in series["values"]}
    assert durations["forever"] == "0s"  # created, DURATION INF
    in_policy = influxdb.query(f'SELECT count(*) FROM "{database}"."forever".climate_1h', database)
    assert in_policy["results"][0]["series"]  # type: ignore[index]
    default = influxdb.query(f'SELECT count(*) FROM "{database}"."autogen".climate_1h', database)
    assert "series" not in default["results"][0]  # type: ignore[index]
    maker.close()


def test_a_late_reading_updates_its_hour_and_day(make_store: StoreMaker) -> None:
    store = make_store()
    store.write([place("s1", m, 20.0, 50.0) for m in (0, 10, 70)])
    (hour, _) = store.rollups("1h", *SPAN, sensor="s1")
    assert (hour.temperature_mean, hour.count) == (20.0, 2)
    store.write([place("s1", 5, 26.0, None)])
    (hour, _) = store.rollups("1h", *SPAN, sensor="s1")
    assert (hour.temperature_mean, hour.temperature_max, hour.count) == (22.0, 26.0, 3)
    assert hour.humidity_mean == 50.0
    (day,) = store.rollups("1d", *SPAN, sensor="s1")
    assert (day.temperature_mean, day.count) == (21.5, 4)
    (room_day,) = store.rollups("1d", *SPAN, site="site", room="r1")
    assert room_day.temperature_max == 26.0


def test_a_replaced_reading_updates_its_buckets(make_store: StoreMaker) -> None:
    store = make_store()
    store.write([place("s2", 0, 20.0, 50.0), place("s2", 1, 22.0, 52.0)])
    store.write([place("s2", 1, 30.0, None)])  # the same point again, corrected
    (hour,) = store.rollups("1h", *SPAN, sensor="s2")
    assert (hour.temperature_mean, hour.temperature_max, hour.humidity_max, hour.count) == (
        25.0,
        30.0,
        52.0,
        2,
    )


def test_days_are_utc_days(make_store: StoreMaker) -> None:
    store = make_store()
    # 22:00 and 23:00 on 1 March, 00:00 and 01:00 on 2 March (UTC)
    store.write([place("s1", 60 * h, 20.0 + h, None) for h in range(4)])
    days = store.rollups("1d", *SPAN, sensor="s1")
    assert [(d.time, d.temperature_mean) for d in days] == [
        (datetime(2026, 3, 1, tzinfo=UTC), 20.5),
        (datetime(2026, 3, 2, tzinfo=UTC), 22.5),
    ]


def test_rebuild_is_idempotent_and_restores_lost_buckets(make_store: StoreMaker) -> None:
    store = make_store()
    store.write([place("s3", 7 * i, 18.0 + i, 40.0 + i) for i in range(40)])

    def everything() -> object:
        return (
            store.rollups("1h", *SPAN, sensor="s3"),
            store.rollups("1d", *SPAN, sensor="s3"),
            store.rollups("1h", *SPAN, site="site", room="r2"),
            store.rollups("1d", *SPAN, site="site", room="r2"),
        )

    before = everything()
    make_store.wipe_rollups(store)
    assert store.rollups("1h", *SPAN, sensor="s3") == []
    assert store.rebuild_rollups(*SPAN) == 2 * 5  # five hours, for the sensor and its room
    assert everything() == before
    store.rebuild_rollups(*SPAN)
    assert everything() == before


def test_rollups_need_a_sensor_or_a_room(make_store: StoreMaker) -> None:
    store = make_store()
    with pytest.raises(ValueError, match="either"):
        store.rollups("1h", *SPAN)


def test_influxdb_writes_defer_their_rollups_and_reads_bring_them_up_to_date(
    influxdb: InfluxDB, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recomputing rollups on every write made a collector ~100 times slower on InfluxDB: the
    store marks the hours written and brings them up to date every `ROLLUP_EVERY_S`, on
    close, and before it answers a rollup query."""
    maker = StoreMaker("influxdb", tmp_path, influxdb)
    store = maker()
    assert isinstance(store, InfluxStore)
    at = datetime(2026, 11, 3, 10, 15, tzinfo=UTC)
    store.write([Reading("s1", at, 19.0, 50.0, site="a", room="r")])
    database = store.settings.database

    def stored_hours() -> list[dict[str, object]]:
        answer = influxdb.query("SELECT * FROM climate_1h WHERE sensor = 's1'", database)
        series = answer["results"][0].get("series", [])  # type: ignore[index]
        return [dict(zip(s["columns"], v, strict=True)) for s in series for v in s["values"]]

    assert stored_hours() == []  # not on the write path
    (hour,) = store.rollups("1h", at - timedelta(hours=1), at + timedelta(hours=1), sensor="s1")
    assert hour.count == 1 and hour.temperature_mean == 19.0
    assert len(stored_hours()) == 1

    monkeypatch.setattr(influx_module, "ROLLUP_EVERY_S", 0.0)  # the interval has passed
    store.write([Reading("s1", at + timedelta(minutes=5), 21.0, 50.0, site="a", room="r")])
    (row,) = stored_hours()
    assert row["temperature_mean"] == 20.0
    store.close()


_STAT = st.one_of(st.none(), st.floats(-50, 100, allow_nan=False))
_SERIES = st.tuples(_STAT, _STAT, _STAT, st.integers(0, 60))


@given(
    rows=st.lists(
        st.tuples(
            st.integers(-(10**18), 10**18),
            st.lists(_SERIES, min_size=2 + len(DERIVED_FIELDS), max_size=2 + len(DERIVED_FIELDS)),
        ),
        max_size=8,
    )
)
def test_lean_points_equal_the_per_row_points(
    rows: list[tuple[int, list[tuple[float | None, float | None, float | None, int]]]],
) -> None:
    """`rollups.points` (the store's read path) builds the same points as `rollups.point` over
    named values, for every mix of missing values, zero counts and derived series."""
    selected = [
        (time_ns, *(v for series in values for v in series))
        for time_ns, values in rows
        # a derived series with a count and a mean has its min and max (as the SQL writes it)
        if all(s[0] is None or (s[1] is not None and s[2] is not None) for s in values[2:])
    ]
    expected = [
        rollups.point(from_ns(row[0]), dict(zip(rollups.ALL_NAMES, row[1:], strict=True)))
        for row in selected
    ]
    assert rollups.points(selected) == expected
