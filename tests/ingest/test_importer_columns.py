"""The importer hands the SQLite store columns (`SQLiteStore.write_columns`, issue 14): what it
stores, counts and skips is what the `Reading` path (`write` / `holds`) gives for the same files;
a bad file stores nothing, not even rollups or marks; a second import stores nothing new."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from repoclimate.history.columns import WritesColumns
from repoclimate.history.sqlite import SQLiteStore
from repoclimate.ingest.importer import import_files, parse_timezone
from repoclimate.sensors.loggers import LoggerFileError
from repoclimate.sensors.reading import Reading
from tests.history.test_sqlite_columns import dump_tables
from tests.ingest.test_importer import NOW, REGISTRY, SAMPLES


class ReadingsOnly:
    """The SQLite store seen through `Store` and `KnowsHeld` only (no `WritesColumns`)."""

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store

    def write(self, readings: Sequence[Reading]) -> None:
        self._store.write(readings)

    def holds(self, readings: Sequence[Reading]) -> list[bool]:
        return self._store.holds(readings)

    def latest(self) -> list[Reading]:
        return self._store.latest()

    def history(self, sensor: str, start: datetime, end: datetime) -> list[Reading]:
        return self._store.history(sensor, start, end)

    def aggregate(self, *args: Any) -> Any:
        return self._store.aggregate(*args)

    def count(self) -> int:
        return self._store.count()

    def close(self) -> None:
        self._store.close()


CASES: list[tuple[list[str], str, dict[str, Any]]] = [
    (["hobo_hoboware.csv"], "s3-north", {}),
    (["govee_h5075.csv"], "s3-north", {}),  # site zone (BST)
    (["meaco_a.csv"], "s3-south", {}),  # calibrated
    (["trend_temp.csv", "trend_rh.csv"], "s3-north", {}),  # joined on time
    (["dst_fall_back.csv"], "s3-north", {"dst": "earlier"}),
    (["dst_fall_back.csv"], "s3-north", {"dst": "later"}),
    (["clock_reset.csv"], "s3-north", {}),
    (["repoclimate_export.csv"], "s3-north", {"timezone_override": parse_timezone("Asia/Tokyo")}),
    (["tinytag_explorer.csv"], "not-in-registry", {}),  # unassigned
]


@pytest.mark.parametrize(("names", "sensor", "options"), CASES)
def test_columns_and_readings_paths_store_and_summarise_alike(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    names: list[str],
    sensor: str,
    options: dict[str, Any],
) -> None:
    paths = [SAMPLES / name for name in names]
    columns, readings = SQLiteStore(tmp_path / "c.db"), SQLiteStore(tmp_path / "r.db")
    assert isinstance(columns, WritesColumns) and not isinstance(
        ReadingsOnly(readings), WritesColumns
    )

    def no_readings(batch: Sequence[Reading]) -> None:
        raise AssertionError("the importer wrote Reading objects to a store that takes columns")

    monkeypatch.setattr(columns, "write", no_readings)
    summaries = []
    for store in (columns, ReadingsOnly(readings)):
        for _ in range(2):  # the second import finds everything stored
            summary = import_files(
                paths, sensor=sensor, registry=REGISTRY, store=store, now=NOW, **options
            )
            summaries.append(summary.lines())
    columns.close()
    readings.close()
    first, again, first_r, again_r = summaries
    assert (first, again) == (first_r, again_r)
    assert "stored 0," in again[0] and "already stored 0" in first[0]
    stored = dump_tables(tmp_path / "c.db")
    assert stored == dump_tables(tmp_path / "r.db")
    assert stored["readings"] and stored["climate_1h"]


@pytest.mark.parametrize("defer", [False, True])
@pytest.mark.parametrize("zone", [None, "+00:00"])  # the site's zone (row by row), a fixed one
def test_a_bad_row_late_in_a_file_stores_nothing_at_all(
    tmp_path: Path, defer: bool, zone: str | None
) -> None:
    """No reading, rollup, stale day or pending mark of a file whose last row is bad (three days
    of minute rows before it are good)."""
    start = datetime(2025, 1, 1)
    rows = [
        f"{start + timedelta(minutes=i):%Y-%m-%d %H:%M:%S},{18 + i % 50 / 10:.1f},50.0"
        for i in range(3 * 24 * 60)
    ]
    rows.append(f"{start + timedelta(days=3):%Y-%m-%d %H:%M:%S},18.0,101.5")
    bad = tmp_path / "govee.csv"
    header = "Timestamp for sample frequency every 1 min min, Temperature_Celsius,Relative_Humidity"
    bad.write_text("\n".join([header, *rows]) + "\n")
    path = tmp_path / "s.db"
    refused = rf"govee\.csv: row {len(rows) + 1}: humidity 101\.5 outside"
    with (
        SQLiteStore(path, defer_rollups=defer) as store,
        pytest.raises(LoggerFileError, match=refused),
    ):
        import_files(
            [bad],
            sensor="s3-north",
            registry=REGISTRY,
            store=store,
            now=NOW,
            timezone_override=None if zone is None else parse_timezone(zone),
        )
    assert all(not rows for rows in dump_tables(path).values())


def test_a_second_import_leaves_every_table_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with SQLiteStore(path) as store:
        import_files(
            [SAMPLES / "hobo_hoboware.csv"],
            sensor="s3-north",
            registry=REGISTRY,
            store=store,
            now=NOW,
        )
        before = dump_tables(path)
        summary = import_files(
            [SAMPLES / "hobo_hoboware.csv"],
            sensor="s3-north",
            registry=REGISTRY,
            store=store,
            now=NOW,
        )
        assert summary.stored == 0 and summary.unchanged == summary.readings > 0
        assert dump_tables(path) == before


@pytest.mark.parametrize(
    ("name", "sensor", "zone", "fast"),
    [
        ("hobo_hoboware.csv", "s3-north", None, True),  # header offset
        ("govee_h5075.csv", "s3-north", "+02:00", True),  # a fixed --timezone
        ("govee_h5075.csv", "not-in-registry", None, True),  # unassigned: UTC
        ("clock_reset.csv", "not-in-registry", None, False),  # rows back in time
        ("repoclimate_export.csv", "not-in-registry", None, False),  # times with their offset
        ("govee_h5075.csv", "s3-north", None, False),  # the site's zone has daylight saving
        ("meaco_a.csv", "s3-south", "+00:00", False),  # calibrated
    ],
)
def test_the_in_order_fixed_offset_path_equals_the_row_by_row_loop(
    monkeypatch: pytest.MonkeyPatch, name: str, sensor: str, zone: str | None, fast: bool
) -> None:
    """`_in_order_fixed` (whole columns at one offset) gives what the row-by-row loop gives,
    and is taken exactly where it applies."""
    from repoclimate.ingest import importer

    def columns() -> tuple[object, ...]:
        summary = importer.ImportSummary()
        got = importer._file_columns(
            SAMPLES / name,
            "auto",
            importer._placement(REGISTRY, sensor),
            None if zone is None else parse_timezone(zone),
            None,
            NOW,
            None,
            summary,
        )
        return got.rows, got.times_ns, got.temperatures, got.humidities, summary.skipped

    taken: list[bool] = []
    in_order_fixed = importer._in_order_fixed

    def spy(*args: Any) -> Any:
        result = in_order_fixed(*args)
        taken.append(result is not None)
        return result

    monkeypatch.setattr(importer, "_in_order_fixed", spy)
    with_fast = columns()
    assert taken == ([True] if fast else [False]) or (not fast and taken == [])
    monkeypatch.setattr(importer, "_in_order_fixed", lambda *args: None)
    assert columns() == with_fast
