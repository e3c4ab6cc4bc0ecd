"""The `Store` contract, checked against every store: SQLite, InfluxDB via /write, InfluxDB via
influxdb-client's /api/v2/write. Same inputs, same answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from repoclimate.history import DerivedRow, HistoryStore, InvalidPoint
from repoclimate.sensors.reading import Reading

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOSTILE_NAMES = [
    "comma,sensor",
    "space sensor",
    "equals=sensor",
    "all , = three",
    "quote'sensor",
    'double"quote',
    r"back\slash",
    r"back\\double",
    "ünïcødé-☃-传感器",
    "x' OR '1'='1",
    "x\\' OR \\'1\\'=\\'1",
]


def reading(sensor: str = "s1", minutes: float = 0, **fields: float | str | None) -> Reading:
    values: dict[str, float | str | None] = {
        "temperature": 18.5,
        "humidity": 48.25,
        "site": "city-archives",
        "room": "stack-3",
    }
    values.update(fields)
    return Reading(sensor=sensor, time=T0 + timedelta(minutes=minutes), **values)  # type: ignore[arg-type]


def test_round_trip_with_every_field(store: HistoryStore) -> None:
    written = [
        reading("s1", 0, battery=87.0, linkquality=120.0),
        reading("s1", 1, temperature=-3.25, humidity=99.5, battery=86.0, linkquality=0.0),
    ]
    store.write(written)
    assert store.history("s1", T0, T0 + timedelta(hours=1)) == written
    assert store.count() == 2


def test_round_trip_with_partial_fields(store: HistoryStore) -> None:
    written = [
        Reading("esp/stack", T0, humidity=51.0),
        Reading("esp/stack", T0 + timedelta(seconds=30), temperature=17.0),
        Reading("battery-only", T0, battery=12.0),
    ]
    store.write(written)
    assert store.history("esp/stack", T0, T0 + timedelta(minutes=1)) == written[:2]
    assert store.history("battery-only", T0, T0 + timedelta(minutes=1)) == written[2:]


def test_integer_values_are_stored_as_floats(store: HistoryStore) -> None:
    store.write([reading("s1", 0, temperature=19, humidity=50)])
    (back,) = store.history("s1", T0, T0 + timedelta(minutes=1))
    assert isinstance(back.temperature, float)
    assert back.temperature == 19.0
    # A later float in the same field is accepted (an integer field would refuse it).
    store.write([reading("s1", 1, temperature=19.5)])
    assert store.count() == 2


def test_rewriting_the_same_points_changes_nothing(store: HistoryStore) -> None:
    batch = [reading(f"s{i % 3}", i) for i in range(30)]
    store.write(batch)
    store.write(batch)
    store.write(batch[5:10])
    assert store.count() == 30
    assert store.history("s0", T0, T0 + timedelta(hours=1)) == batch[0::3]


def test_a_later_partial_reading_merges_fields(store: HistoryStore) -> None:
    store.write([Reading("s1", T0, temperature=20.0, site="a", room="r")])
    store.write([Reading("s1", T0, humidity=55.0, site="a", room="r")])
    store.write([Reading("s1", T0, battery=90.0, site="a", room="r")])
    assert store.history("s1", T0, T0 + timedelta(seconds=1)) == [
        Reading("s1", T0, temperature=20.0, humidity=55.0, battery=90.0, site="a", room="r")
    ]
    assert store.count() == 1


def test_a_rewrite_replaces_a_field_value(store: HistoryStore) -> None:
    store.write([reading("s1", 0, temperature=20.0)])
    store.write([reading("s1", 0, temperature=21.0)])
    (back,) = store.history("s1", T0, T0 + timedelta(seconds=1))
    assert back.temperature == 21.0
    assert back.humidity == 48.25


def test_latest_is_the_newest_reading_of_each_sensor(store: HistoryStore) -> None:
    assert store.latest() == []
    store.write([reading("b", 5, temperature=25.0), reading("a", 3), reading("b", 1)])
    store.write([reading("a", 7, temperature=21.5, room="stack-4"), reading("a", 2)])
    assert store.latest() == [
        reading("a", 7, temperature=21.5, room="stack-4"),
        reading("b", 5, temperature=25.0),
    ]


def test_history_includes_start_and_excludes_end(store: HistoryStore) -> None:
    store.write([reading("s1", m) for m in range(10)] + [reading("s2", m) for m in range(10)])
    got = store.history("s1", T0 + timedelta(minutes=2), T0 + timedelta(minutes=5))
    assert [r.time for r in got] == [T0 + timedelta(minutes=m) for m in (2, 3, 4)]
    assert all(r.sensor == "s1" for r in got)
    assert store.history("s1", T0 + timedelta(minutes=20), T0 + timedelta(minutes=30)) == []
    assert store.history("nobody", T0, T0 + timedelta(hours=1)) == []


def test_aggregate_per_interval_aligned_to_the_epoch(store: HistoryStore) -> None:
    # 00:00–02:59 every 10 minutes; temperature 10 + minute/10, humidity only on the hour mark.
    start = datetime(2026, 3, 2, tzinfo=UTC)
    written = []
    for minute in range(0, 180, 10):
        humidity = 40.0 + minute / 60 if minute % 60 == 0 else None
        written.append(Reading("s1", start + timedelta(minutes=minute), 10 + minute / 10, humidity))
    written.append(Reading("s1", start + timedelta(minutes=185), humidity=70.0))
    store.write(written)
    points = store.aggregate(
        "s1", start + timedelta(minutes=30), start + timedelta(hours=5), timedelta(hours=1)
    )
    assert [p.time for p in points] == [start + timedelta(hours=h) for h in range(4)]
    first, second, third, fourth = points
    # 00:30–00:59 only (the bucket starts on the hour but the window at 00:30).
    assert (first.temperature_min, first.temperature_max, first.count) == (13.0, 15.0, 3)
    assert first.temperature_mean == pytest.approx(14.0)
    assert first.humidity_mean is None
    assert second.temperature_mean == pytest.approx(18.5)
    assert second.humidity_mean == 41.0
    assert (second.humidity_min, second.humidity_max, second.count) == (41.0, 41.0, 6)
    assert third.temperature_max == 27.0
    assert (fourth.temperature_mean, fourth.humidity_max, fourth.count) == (None, 70.0, 1)


def test_aggregate_omits_empty_intervals(store: HistoryStore) -> None:
    store.write([reading("s1", 0), reading("s1", 150)])
    points = store.aggregate("s1", T0, T0 + timedelta(hours=3), timedelta(minutes=30))
    assert [p.time for p in points] == [T0, T0 + timedelta(minutes=150)]
    assert store.aggregate("s2", T0, T0 + timedelta(hours=3), timedelta(minutes=30)) == []


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_sensor_names_round_trip_exactly(store: HistoryStore, name: str) -> None:
    store.write([reading("innocent", 0), reading(name, 1, site=f"site {name}", room=name)])
    back = store.history(name, T0, T0 + timedelta(hours=1))
    assert back == [reading(name, 1, site=f"site {name}", room=name)]
    assert {r.sensor for r in store.latest()} == {"innocent", name}
    assert len(store.aggregate(name, T0, T0 + timedelta(hours=1), timedelta(hours=1))) == 1


def test_a_quote_in_a_name_does_not_widen_a_query(store: HistoryStore) -> None:
    store.write([reading("a", 0), reading("b", 1)])
    for name in ("x' OR '1'='1", "x\\' OR \\'1\\'=\\'1", "' OR sensor =~ /.*/ OR '"):
        assert store.history(name, T0, T0 + timedelta(hours=1)) == []
        assert store.aggregate(name, T0, T0 + timedelta(hours=1), timedelta(hours=1)) == []


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (Reading("evil\nclimate,sensor=x temperature=99.0", T0, 20.0), "control character"),
        (Reading("carriage\rreturn", T0, 20.0), "control character"),
        (Reading("ok", T0, 20.0, room="line\nbreak"), "room"),
        (Reading("trailing\\", T0, 20.0), "backslash"),
        (Reading("before\\,comma", T0, 20.0), "backslash"),
        (Reading("", T0, 20.0), "must not be empty"),
        (Reading("nan", T0, float("nan")), "finite"),
        (Reading("inf", T0, 20.0, humidity=float("inf")), "finite"),
        (Reading("empty", T0), "no values"),
    ],
)
def test_unstorable_readings_are_refused_before_anything_is_written(
    store: HistoryStore, bad: Reading, words: str
) -> None:
    with pytest.raises(InvalidPoint, match=words) as caught:
        store.write([reading("good", 0), bad])
    assert caught.value.index == 1
    assert store.count() == 0
    assert store.latest() == []


def test_write_nothing_is_a_no_op(store: HistoryStore) -> None:
    store.write([])
    store.write_derived([])
    assert store.count() == 0
    assert store.healthy()


def test_derived_rows_are_accepted_and_validated(store: HistoryStore) -> None:
    store.write_derived(
        [
            DerivedRow("preservation", {"site": "a", "room": "r 1"}, {"dew_point": 7.5}, T0),
            DerivedRow("preservation", {"site": "a", "room": "r 1"}, {"pi_years": 40}, T0),
        ]
    )
    with pytest.raises(InvalidPoint, match="finite"):
        store.write_derived([DerivedRow("preservation", {}, {"x": float("nan")}, T0)])
    with pytest.raises(InvalidPoint, match="control character"):
        store.write_derived([DerivedRow("preservation", {"room": "a\nb"}, {"x": 1.0}, T0)])
