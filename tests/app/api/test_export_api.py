"""``GET /api/export`` through the real app: the CLI's CSV and Parquet, for viewers, streamed in
chunks for long ranges."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from repoclimate.app.users import Role
from repoclimate.history import export as export_module
from repoclimate.sensors.reading import Reading
from tests.app.api.conftest import NOW, World

START = NOW - timedelta(hours=1)


def test_a_viewer_exports_a_sensor_as_csv(world: World) -> None:
    answer = world.client(Role.VIEWER).get(
        "/api/export",
        params={"sensor": "s2", "from": START.isoformat(), "to": NOW.isoformat()},
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert 'filename="s2.csv"' in answer.headers["content-disposition"]
    lines = answer.text.splitlines()
    assert lines[0] == "time,temperature,humidity"
    assert len(lines) == 1 + 12  # five-minute readings in the hour before NOW
    assert lines[1] == f"{START.strftime('%Y-%m-%dT%H:%M:%SZ')},19.0,55.0"


def test_parquet_has_the_csv_columns_typed_and_the_same_values(world: World) -> None:
    params = {
        "sensor": "s1",
        "from": START.isoformat(),
        "to": NOW.isoformat(),
        "derived": "dew_point",
    }
    csv_lines = world.client(Role.VIEWER).get("/api/export", params=params).text.splitlines()
    answer = world.client(Role.VIEWER).get("/api/export", params={**params, "format": "parquet"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(answer.content))
    assert table.schema.names == csv_lines[0].split(",")
    assert table.schema.field("time").type == pa.timestamp("us", tz="UTC")
    assert all(table.schema.field(n).type == pa.float64() for n in table.schema.names[1:])
    rows = table.to_pylist()
    assert len(rows) == len(csv_lines) - 1
    for row, line in zip(rows, csv_lines[1:], strict=True):
        when, *cells = line.split(",")
        assert row["time"].strftime("%Y-%m-%dT%H:%M:%SZ") == when
        assert [row[n] for n in table.schema.names[1:]] == [
            None if c == "" else float(c) for c in cells
        ]


def test_a_room_is_exported_from_its_rollups(world: World) -> None:
    answer = world.client(Role.VIEWER).get(
        "/api/export",
        params={"room": "stack-1", "every": "1h", "from": START.isoformat(), "to": NOW.isoformat()},
    )
    assert answer.status_code == 200, answer.text
    (header, hour) = answer.text.splitlines()
    assert header == "time,temperature,humidity"
    assert hour.startswith(START.strftime("%Y-%m-%dT%H:%M:%SZ"))


def test_a_long_range_streams_in_chunks_of_time(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A year of readings goes out as one piece per chunk (a week by default; an hour here)."""
    monkeypatch.setattr(export_module, "RAW_CHUNK", timedelta(hours=1))
    year_ago = NOW - timedelta(days=365)
    world.services.store.write(
        [Reading("s2", year_ago + timedelta(days=d), 10.0 + d / 100, 40.0) for d in range(365)]
    )
    reads: list[tuple[datetime, datetime]] = []
    history = world.services.store.history

    def counted(sensor: str, start: datetime, end: datetime) -> list[Reading]:
        reads.append((start, end))
        return history(sensor, start, end)

    monkeypatch.setattr(world.services.store, "history", counted)
    with world.client(Role.VIEWER).stream(
        "GET",
        "/api/export",
        params={"sensor": "s2", "from": year_ago.isoformat(), "to": NOW.isoformat()},
    ) as answer:
        assert answer.status_code == 200
        pieces = list(answer.iter_text())
    text = "".join(pieces)
    assert len(text.splitlines()) == 1 + 365 + 288 - 1  # daily points and the last day's
    assert all(end - start <= timedelta(hours=1) for start, end in reads)
    assert len(reads) > 365  # never one read of the whole year


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"sensor": "s1", "room": "stack-1"}, 422),
        ({}, 422),
        ({"room": "stack-1"}, 422),  # a room needs every=1h|1d
        ({"room": "nowhere", "every": "1h"}, 404),
        ({"sensor": "s1", "format": "xlsx"}, 422),
    ],
)
def test_what_cannot_be_exported_is_refused(
    world: World, params: dict[str, str], status: int
) -> None:
    assert world.client(Role.VIEWER).get("/api/export", params=params).status_code == status


def test_export_needs_a_login(world: World) -> None:
    assert world.client(None).get("/api/export", params={"sensor": "s1"}).status_code == 401


def test_the_earliest_reading_bounds_a_default_start(world: World) -> None:
    assert world.services.store.earliest("s1") == NOW - timedelta(minutes=5 * 287)  # type: ignore[attr-defined]
    assert world.services.store.earliest("nobody") is None  # type: ignore[attr-defined]
    assert NOW.tzinfo is UTC
