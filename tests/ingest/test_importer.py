"""Importing logger files: UTC conversion, DST, clock resets, validation, joining, idempotency,
against the real SQLite store and the session InfluxDB, and the ``repoclimate import`` command."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from repoclimate.app.cli import app
from repoclimate.history import StoreSettings, open_store
from repoclimate.history.sqlite import SQLiteStore
from repoclimate.history.store import Store
from repoclimate.ingest.importer import ImportSummary, import_files, local_to_utc, parse_timezone
from repoclimate.sensors.loggers import LoggerFileError
from repoclimate.sensors.reading import UNASSIGNED, Reading
from repoclimate.sensors.registry import parse_registry
from tests.app.test_readme import console_examples
from tests.app.test_readme import run as run_readme
from tests.servers import InfluxDB

SAMPLES = Path(__file__).resolve().parents[1] / "sensors" / "loggers" / "samples"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
LONDON = "Europe/London"
REGISTRY_YAML = """\
sites:
  - id: city-archives
    timezone: Europe/London
    rooms:
      - id: stack-3
        profile: iso11799-paper
        holdings: paper
        sensors:
          - id: s3-north
          - id: s3-south
            calibration:
              - {from: 2020-01-01, temperature_offset: -0.2, humidity_offset: 1.5}
"""
REGISTRY = parse_registry(REGISTRY_YAML)
EVERYTHING = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    sqlite = SQLiteStore(tmp_path / "store.sqlite")
    yield sqlite
    sqlite.close()


def run(
    *names: str, store: Store | None = None, sensor: str = "s3-north", **options: Any
) -> ImportSummary:
    """Import sample files (or paths) as ``sensor`` of `REGISTRY` at `NOW`."""
    return import_files(
        [SAMPLES / name for name in names],
        sensor=sensor,
        registry=REGISTRY,
        store=store,
        now=NOW,
        **options,
    )


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def stored(store: SQLiteStore, sensor: str = "s3-north") -> list[Reading]:
    return store.history(sensor, *EVERYTHING)


# ----- times ---------------------------------------------------------------------------------


def test_the_header_offset_wins_over_every_zone(store: SQLiteStore) -> None:
    summary = run("hobo_hoboware.csv", store=store, timezone_override=parse_timezone("Asia/Tokyo"))
    readings = stored(store)
    assert summary.rows_read == 10 and summary.readings == summary.stored == 7
    assert (readings[0].time, readings[0].temperature, readings[0].humidity) == (
        utc(2019, 10, 10, 16, 0), 18.431, 52.3,
    )  # fmt: skip
    assert (readings[-1].time, readings[-1].temperature) == (utc(2019, 10, 10, 17, 30), 18.575)
    assert [(s.reason, s.rows) for s in summary.skipped] == [("event", (5, 11, 12))]
    assert (readings[0].site, readings[0].room) == ("city-archives", "stack-3")


def test_a_zone_abbreviation_is_its_fixed_offset(store: SQLiteStore) -> None:
    run("hoboconnect_mx.csv", store=store)
    assert stored(store)[0].time == utc(2024, 6, 1, 4, 0)  # EDT = UTC-4


def test_without_an_offset_the_sites_zone_applies(store: SQLiteStore) -> None:
    run("govee_h5075.csv", store=store)  # August in London: BST = UTC+1
    readings = stored(store)
    assert [r.time for r in (readings[0], readings[-1])] == [
        utc(2026, 8, 6, 8, 22), utc(2026, 8, 6, 9, 22),
    ]  # fmt: skip
    assert len(readings) == 5


def test_timezone_option_overrides_the_sites_zone(store: SQLiteStore) -> None:
    run("govee_h5075.csv", store=store, timezone_override=parse_timezone("America/New_York"))
    assert stored(store)[0].time == utc(2026, 8, 6, 13, 22)
    run("meaco_a.csv", store=store, timezone_override=parse_timezone("+02:00"))
    assert stored(store)[0].time == utc(2025, 5, 1, 7, 0)


def test_an_unknown_sensor_is_unassigned_and_read_in_utc(store: SQLiteStore) -> None:
    summary = run("govee_h5075.csv", store=store, sensor="attic-govee")
    assert "registry has no sensor 'attic-govee'" in summary.lines()[-1]
    reading = stored(store, "attic-govee")[0]
    assert reading.time == utc(2026, 8, 6, 9, 22)
    assert (reading.site, reading.room) == (UNASSIGNED, UNASSIGNED)


def test_times_with_their_own_offset_keep_it(store: SQLiteStore) -> None:
    run("repoclimate_export.csv", store=store, timezone_override=parse_timezone("Asia/Tokyo"))
    readings = stored(store)
    assert [(r.time, r.temperature, r.humidity) for r in readings] == [
        (utc(2026, 11, 1, 10, 0), 18.25, 47.5),
        (utc(2026, 11, 1, 10, 5), 18.3, None),
        (utc(2026, 11, 1, 10, 10), None, 47.7),
        (datetime(2026, 11, 1, 10, 15, 0, 250000, tzinfo=UTC), 18.35, 47.8),
    ]


def test_fall_back_without_dst_is_an_error_naming_the_row(store: SQLiteStore) -> None:
    with pytest.raises(LoggerFileError, match=r"dst_fall_back\.csv: row 4, column 'time': .*twice"):
        run("dst_fall_back.csv", store=store)
    assert store.count() == 0


def test_fall_back_with_dst_earlier_reads_the_repeated_hour_in_order(store: SQLiteStore) -> None:
    summary = run("dst_fall_back.csv", store=store, dst="earlier")
    assert [r.time for r in stored(store)] == [
        utc(2025, 10, 25, 23, 0), utc(2025, 10, 25, 23, 30), utc(2025, 10, 26, 0, 0),
        utc(2025, 10, 26, 0, 30), utc(2025, 10, 26, 1, 0), utc(2025, 10, 26, 1, 30),
        utc(2025, 10, 26, 2, 0),
    ]  # fmt: skip
    assert summary.skipped == []


def test_fall_back_with_dst_later_skips_what_would_go_back(store: SQLiteStore) -> None:
    summary = run("dst_fall_back.csv", store=store, dst="later")
    assert len(stored(store)) == 5
    # 01:00 again is 01:00 GMT read "later" → 01:00Z, earlier than 01:30Z; 01:30 again is 01:30Z.
    assert [(s.reason, s.rows) for s in summary.skipped] == [
        ("clock_reset", (6,)),
        ("duplicate", (7,)),
    ]


def test_spring_forward_gap_is_an_error_naming_the_row(store: SQLiteStore) -> None:
    for dst in (None, "earlier"):
        with pytest.raises(LoggerFileError, match=r"row 4, column 'time': .*does not exist"):
            run("dst_spring_forward.csv", store=store, dst=dst)
    assert store.count() == 0


def test_local_to_utc_outside_transitions_is_plain() -> None:
    zone = parse_timezone(LONDON)
    assert local_to_utc(datetime(2025, 1, 1, 12), zone, None, "f", 1) == utc(2025, 1, 1, 12)
    assert local_to_utc(datetime(2025, 7, 1, 12), zone, None, "f", 1) == utc(2025, 7, 1, 11)


@pytest.mark.parametrize("text", ["Mars/Olympus", "+25:00x", ""])
def test_bad_timezone(text: str) -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        parse_timezone(text)


# ----- rows ----------------------------------------------------------------------------------


def test_clock_reset_rows_are_reported_and_skipped(store: SQLiteStore) -> None:
    summary = run("clock_reset.csv", store=store)
    assert [r.time for r in stored(store)] == [
        utc(2025, 2, 3, 10, 0), utc(2025, 2, 3, 10, 5), utc(2025, 2, 3, 10, 10),
        utc(2025, 2, 3, 10, 25),
    ]  # fmt: skip
    assert [s.describe() for s in summary.skipped] == [
        f"{SAMPLES / 'clock_reset.csv'}: 2 rows skipped (clock_reset): 5–6"
    ]


def test_an_impossible_value_stores_nothing_and_names_the_row(
    store: SQLiteStore, tmp_path: Path
) -> None:
    bad = tmp_path / "govee.csv"
    bad.write_bytes((SAMPLES / "govee_h5075.csv").read_bytes().replace(b"54.2", b"154.2"))
    with pytest.raises(LoggerFileError, match=r"govee\.csv: row 5: humidity 154\.2 outside"):
        import_files([bad], sensor="s3-north", registry=REGISTRY, store=store, now=NOW)
    assert store.count() == 0


def test_one_bad_file_among_several_stores_nothing(store: SQLiteStore, tmp_path: Path) -> None:
    bad = tmp_path / "trend_rh.csv"
    bad.write_text((SAMPLES / "trend_rh.csv").read_text().replace("46.3", "46,3,1"))
    with pytest.raises(LoggerFileError, match=r"trend_rh\.csv: row 5"):
        import_files(
            [SAMPLES / "trend_temp.csv", bad],
            sensor="s3-north",
            registry=REGISTRY,
            store=store,
            now=NOW,
        )
    assert store.count() == 0


def test_a_time_next_year_is_refused() -> None:
    with pytest.raises(LoggerFileError, match=r"row 2: time .* more than a day ahead"):
        import_files(
            [SAMPLES / "govee_h5075.csv"],
            sensor="s3-north",
            registry=REGISTRY,
            store=None,
            now=utc(2026, 1, 1),
        )


def test_calibration_of_the_sensor_applies(store: SQLiteStore) -> None:
    run("meaco_a.csv", store=store, sensor="s3-south")
    first = stored(store, "s3-south")[0]
    assert (first.temperature, first.humidity) == (17.6, 52.7)


def test_one_quantity_per_file_is_joined_on_time(store: SQLiteStore) -> None:
    summary = run("trend_temp.csv", "trend_rh.csv", store=store)
    readings = stored(store)
    assert summary.readings == summary.stored == 6
    assert [(r.time, r.temperature, r.humidity) for r in readings] == [
        (utc(2026, 1, 1, 9, 0), 17.2, 46.0),
        (utc(2026, 1, 1, 9, 15), 17.3, 46.2),
        (utc(2026, 1, 1, 9, 30), 17.3, 46.1),
        (utc(2026, 1, 1, 9, 45), 17.4, 46.3),
        (utc(2026, 1, 1, 10, 0), 17.4, None),
        (utc(2026, 1, 1, 10, 15), None, 46.4),
    ]


# ----- idempotency and the stores ------------------------------------------------------------


def test_importing_twice_stores_nothing_new(store: SQLiteStore) -> None:
    first = run("hanwell_logger.csv", store=store)
    before = stored(store)
    second = run("hanwell_logger.csv", store=store)
    assert (first.stored, first.unchanged) == (8, 0)
    assert (second.stored, second.unchanged) == (0, 8)
    assert stored(store) == before and store.count() == 8


def test_overlapping_files_merge(store: SQLiteStore, tmp_path: Path) -> None:
    part = tmp_path / "part.csv"
    lines = (SAMPLES / "hanwell_logger.csv").read_text().splitlines(keepends=True)
    part.write_text("".join(lines[:12]))  # header and the first four rows
    assert run(str(part), store=store).stored == 4
    summary = run("hanwell_logger.csv", store=store)
    assert (summary.stored, summary.unchanged) == (4, 4)
    assert store.count() == 8


def test_dry_run_stores_nothing(store: SQLiteStore) -> None:
    summary = run("tinytag_explorer.csv", store=store, dry_run=True)
    assert summary.stored == 6 and store.count() == 0
    assert "would store 6" in summary.lines()[0]


def test_import_into_influxdb_is_idempotent(influxdb: InfluxDB, influx_db_name: str) -> None:
    settings = StoreSettings(
        kind="influxdb", url=influxdb.url, database=influx_db_name, api_version="v1"
    )
    influx = open_store(settings)
    try:
        first = run("rotronic_hw4.xls", store=influx)
        second = run("rotronic_hw4.xls", store=influx)
        readings = influx.history("s3-north", *EVERYTHING)
    finally:
        influx.close()
    assert (first.stored, second.stored, second.unchanged) == (5, 0, 5)
    assert [(r.time, r.temperature, r.humidity) for r in (readings[0], readings[-1])] == [
        (utc(2024, 12, 4, 9, 0), 19.3, 44.1),
        (utc(2024, 12, 4, 10, 0), 19.5, 44.2),
    ]
    assert (readings[0].site, readings[0].room) == ("city-archives", "stack-3")


def test_the_projects_export_reads_back_unchanged(store: SQLiteStore, tmp_path: Path) -> None:
    run("tinytag_explorer.csv", store=store)
    original = stored(store)
    lines = ["time,temperature,humidity"]
    for r in original:
        cells = ["" if v is None else repr(v) for v in (r.temperature, r.humidity)]
        lines.append(",".join([r.time.isoformat().replace("+00:00", "Z"), *cells]))
    exported = tmp_path / "export.csv"
    exported.write_text("\n".join(lines) + "\n")
    other = SQLiteStore(tmp_path / "other.sqlite")
    try:
        import_files([exported], sensor="s3-north", registry=REGISTRY, store=other, now=NOW)
        assert stored(other) == original
    finally:
        other.close()


# ----- the command ---------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.upper().startswith("REPOCLIMATE_"):
            monkeypatch.delenv(name)
    (tmp_path / "registry.yaml").write_text(REGISTRY_YAML)
    path = tmp_path / "config.yaml"
    path.write_text("registry: registry.yaml\nstore: {kind: sqlite, sqlite_path: s.sqlite}\n")
    return path


def test_command_imports_and_summarises(config: Path) -> None:
    args = ["import", str(SAMPLES / "clock_reset.csv"), "--sensor", "s3-north", "-c", str(config)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "6 rows read, 4 readings, stored 4, already stored 0" in result.output
    assert "2 rows skipped (clock_reset): 5–6" in result.output
    again = runner.invoke(app, args)
    assert "stored 0, already stored 4" in again.output
    with SQLiteStore(config.parent / "s.sqlite") as sqlite:
        assert sqlite.count() == 4


def test_command_bad_file_exits_2_naming_file_and_row(config: Path) -> None:
    result = runner.invoke(
        app,
        ["import", str(SAMPLES / "dst_fall_back.csv"), "-s", "s3-north", "-c", str(config)],
    )
    assert result.exit_code == 2
    assert "nothing stored" in result.output and "dst_fall_back.csv: row 4" in result.output
    assert (
        not (config.parent / "s.sqlite").exists()
        or SQLiteStore(config.parent / "s.sqlite").count() == 0
    )


def test_command_options(config: Path) -> None:
    base = ["import", "-s", "s3-north", "-c", str(config)]
    result = runner.invoke(
        app,
        [*base, str(SAMPLES / "dst_fall_back.csv"), "--dst", "earlier", "--dry-run"],
    )
    assert result.exit_code == 0, result.output
    assert "would store 7" in result.output
    result = runner.invoke(
        app,
        [
            *base,
            str(SAMPLES / "generic_mapped.csv"),
            "--format",
            "csv",
            "--column",
            "time=Zeitstempel",
            "--column",
            "temperature=T1",
            "--column",
            "humidity=F1",
            "--timezone",
            "UTC",
        ],
    )
    assert result.exit_code == 0, result.output
    with SQLiteStore(config.parent / "s.sqlite") as sqlite:
        first = sqlite.history("s3-north", *EVERYTHING)[0]
    assert (first.time, first.temperature, first.humidity) == (utc(2026, 2, 1, 8), 17.9, 44.0)
    result = runner.invoke(app, [*base, str(SAMPLES / "meaco_a.csv"), "--timezone", "Mars/X"])
    assert result.exit_code == 2 and "unknown time zone" in result.output


def test_timedelta_is_not_a_zone() -> None:
    assert parse_timezone("UTC-05:30").utcoffset(None) == -timedelta(hours=5, minutes=30)


README_EXAMPLES = console_examples("Importing logger files")


def test_the_readme_shows_import_examples() -> None:
    assert len(README_EXAMPLES) == 3


@pytest.mark.parametrize(("command", "expected"), README_EXAMPLES)
def test_readme_import_example(command: str, expected: str) -> None:
    result = run_readme(command)
    assert (result.stdout + result.stderr).strip() == expected.strip()
    assert result.returncode == (2 if "not imported" in expected else 0)


def test_files_that_disagree_keep_the_first_and_report_the_rest(
    store: SQLiteStore, tmp_path: Path
) -> None:
    other = tmp_path / "trend_temp_copy.csv"
    other.write_text((SAMPLES / "trend_temp.csv").read_text().replace("17.3\n", "17.9\n", 1))
    summary = run("trend_temp.csv", str(other), store=store)
    assert stored(store)[1].temperature == 17.3
    assert [(s.file, s.reason, s.rows) for s in summary.skipped] == [
        (str(other), "conflicts_with_earlier_file", (3,))
    ]
