"""``repoclimate export``: the CSV header and cells, rollup exports of a room, and the round trip
through the importer's ``repoclimate`` format (export → import equal)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from repoclimate.app.cli import app
from repoclimate.history.sqlite import SQLiteStore
from repoclimate.preservation.psychrometrics import dew_point
from repoclimate.sensors.reading import Reading

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
"""
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
EVERYTHING = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC))
runner = CliRunner()


def reading(
    sensor: str, seconds: float, temperature: float | None, humidity: float | None
) -> Reading:
    return Reading(
        sensor,
        T0 + timedelta(seconds=seconds),
        temperature,
        humidity,
        None,
        None,
        "city-archives",
        "stack-3",
    )


READINGS = [
    reading("s3-north", 0, 18.5, 48.25),
    reading("s3-north", 60, 0.1 + 0.2, 50.0),  # 0.30000000000000004: must survive exactly
    reading("s3-north", 120, 18.123456789012345, None),
    reading("s3-north", 180, None, 61.03),
    reading("s3-north", 240.125, 19.0, 45.0),  # sub-second times survive too
    reading("s3-north", 3600 * 25 + 1, -3.25, 99.5),
    reading("s3-south", 30, 30.0, 40.0),
]


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.upper().startswith("REPOCLIMATE_"):
            monkeypatch.delenv(name)
    (tmp_path / "registry.yaml").write_text(REGISTRY_YAML)
    path = tmp_path / "config.yaml"
    path.write_text("registry: registry.yaml\nstore: {kind: sqlite, sqlite_path: s.sqlite}\n")
    with SQLiteStore(tmp_path / "s.sqlite") as store:
        store.write(READINGS)
    return path


def export(config: Path, *args: str) -> str:
    result = runner.invoke(app, ["export", "--config", str(config), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_export_header_times_and_empty_cells(config: Path) -> None:
    lines = export(config, "--sensor", "s3-north", "--to", "2026-11-02").splitlines()
    assert lines == [
        "time,temperature,humidity",
        "2026-11-01T09:00:00Z,18.5,48.25",
        "2026-11-01T09:01:00Z,0.30000000000000004,50.0",
        f"2026-11-01T09:02:00Z,{18.123456789012345!r},",
        "2026-11-01T09:03:00Z,,61.03",
        "2026-11-01T09:04:00.125Z,19.0,45.0",
    ]


def test_export_with_derived_series(config: Path) -> None:
    lines = export(
        config,
        "--sensor",
        "s3-north",
        "--from",
        "2026-11-01T09:00:00+00:00",
        "--to",
        "2026-11-01T09:02:00Z",
        "--derived",
        "dew_point",
    ).splitlines()
    assert lines[0] == "time,temperature,humidity,dew_point"
    assert lines[1].split(",")[3] == repr(round(float(dew_point(18.5, 48.25)), 3))
    assert len(lines) == 3


def test_export_to_a_file(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    result = runner.invoke(
        app, ["export", "--config", str(config), "--sensor", "s3-south", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_text() == "time,temperature,humidity\n2026-11-01T09:00:30Z,30.0,40.0\n"


def test_export_of_a_room_reads_its_hourly_and_daily_rollups(config: Path) -> None:
    hourly = export(config, "--room", "stack-3", "--every", "1h").splitlines()
    assert hourly[0] == "time,temperature,humidity"
    when, temperature, humidity = hourly[1].split(",")
    assert when == "2026-11-01T09:00:00Z"
    temperatures = [0.1 + 0.2, 18.5, 18.123456789012345, 19.0, 30.0]  # both sensors of the room
    assert float(temperature) == pytest.approx(sum(temperatures) / 5, rel=1e-12)
    assert float(humidity) == pytest.approx((48.25 + 50.0 + 61.03 + 45.0 + 40.0) / 5, rel=1e-12)
    assert hourly[2] == "2026-11-02T10:00:00Z,-3.25,99.5"
    daily = export(config, "--room", "city-archives/stack-3", "--every", "1d").splitlines()
    assert [line.split(",")[0] for line in daily[1:]] == [
        "2026-11-01T00:00:00Z",
        "2026-11-02T00:00:00Z",
    ]


def test_parquet_export_reads_back_with_the_csv_columns_and_values(
    config: Path, tmp_path: Path
) -> None:
    args = ["--sensor", "s3-north", "--derived", "dew_point", "--derived", "absolute_humidity"]
    csv_lines = export(config, *args).splitlines()
    out = tmp_path / "out.parquet"
    export(config, *args, "--format", "parquet", "--out", str(out))
    table = pq.read_table(out)
    assert table.schema.names == csv_lines[0].split(",")
    assert table.schema.field("time").type == pa.timestamp("us", tz="UTC")
    assert [table.schema.field(n).type for n in table.schema.names[1:]] == [pa.float64()] * 4
    rows = table.to_pylist()
    assert [row["time"] for row in rows] == [r.time for r in READINGS if r.sensor == "s3-north"]
    for row, line in zip(rows, csv_lines[1:], strict=True):
        cells = line.split(",")[1:]
        assert [row[n] for n in table.schema.names[1:]] == [
            None if c == "" else float(c) for c in cells
        ]
    assert rows[1]["temperature"] == 0.1 + 0.2  # exactly, as in the CSV
    assert rows[2]["humidity"] is None


def test_parquet_of_a_room_from_its_daily_rollups(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "room.parquet"
    export(config, "--room", "stack-3", "--every", "1d", "--format", "parquet", "-o", str(out))
    times = pq.read_table(out).column("time").to_pylist()
    assert times == [datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--room", "stack-3"], "give --every 1h or --every 1d"),
        (["--room", "stack-9", "--every", "1h"], "no room 'stack-9'"),
        (["--sensor", "s3-north", "--room", "stack-3"], "exactly one of"),
        (["--sensor", "s3-north", "--from", "yesterday"], "not an ISO 8601 time"),
    ],
)
def test_export_refuses_what_it_cannot_do(config: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["export", "--config", str(config), *args])
    assert result.exit_code == 2
    assert message in result.output


def test_export_then_import_round_trips_exactly(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "export.csv"
    export(config, "--sensor", "s3-north", "--derived", "dew_point", "--out", str(out))
    other = tmp_path / "other.yaml"
    other.write_text("registry: registry.yaml\nstore: {kind: sqlite, sqlite_path: other.sqlite}\n")
    result = runner.invoke(
        app,
        [
            "import",
            str(out),
            "--sensor",
            "s3-north",
            "--format",
            "repoclimate",
            "--config",
            str(other),
        ],
    )
    assert result.exit_code == 0, result.output
    with SQLiteStore(tmp_path / "other.sqlite") as store:
        assert store.history("s3-north", *EVERYTHING) == [
            r for r in READINGS if r.sensor == "s3-north"
        ]
    # Importing the export into the store it came from stores nothing new.
    result = runner.invoke(
        app, ["import", str(out), "--sensor", "s3-north", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    assert "stored 0, already stored 6" in result.output


def test_history_rollup_rebuilds_and_prune_applies_retention(config: Path, tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "s.sqlite") as store:
        before = store.rollups("1d", *EVERYTHING, sensor="s3-north")
        connection = store._connection()
        connection.execute("DELETE FROM climate_1h")
        connection.execute("DELETE FROM climate_1d")
    args = ["history", "rollup", "--from", "2026-11-01", "--to", "2026-11-03", "--config"]
    result = runner.invoke(app, [*args, str(config)])
    assert result.exit_code == 0, result.output
    assert "rebuilt 5 hourly buckets" in result.output  # s3-north 2, s3-south 1, the room 2
    with SQLiteStore(tmp_path / "s.sqlite") as store:
        assert store.rollups("1d", *EVERYTHING, sensor="s3-north") == before
    result = runner.invoke(app, ["history", "prune", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "kept forever" in result.output
    config.write_text(
        config.read_text().replace(
            "sqlite_path: s.sqlite", "sqlite_path: s.sqlite, raw_retention_days: 1"
        )
    )
    result = runner.invoke(app, ["history", "prune", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert (
        "deleted 7 raw readings" in result.output
    )  # all of them are from 2026-11 (past NOW - 1 d)
    with SQLiteStore(tmp_path / "s.sqlite") as store:
        assert store.count() == 0
        assert store.rollups("1d", *EVERYTHING, sensor="s3-north") == before
