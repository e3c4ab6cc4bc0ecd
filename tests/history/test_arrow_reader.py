"""The SQLite store's bulk reads (`history.arrow_reader`: the ADBC driver in a child process)
never lose a write: in the process that writes, reading through the driver and writing again,
in turns, every read sees every reading written before it, and the store's own file stays whole
(a fresh ``sqlite3`` connection reads it). With the driver's own SQLite opened in this process
the second read missed the later writes and a fresh connection failed with "disk I/O error".
Also the reader's failures: a file that is no database, a child that is too slow, an answer
cut short — each a clear error, nothing stored touched."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from repoclimate.history import arrow_reader
from repoclimate.history.sqlite import SQLiteStore
from repoclimate.history.store import StoreUnavailable
from repoclimate.sensors.reading import Reading

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def batch(first: int, n: int) -> list[Reading]:
    return [
        Reading("a", T0 + timedelta(minutes=5 * k), 20.0 + k / 100, 50.0, site="s", room="r")
        for k in range(first, first + n)
    ]


def test_reads_and_writes_in_turns_see_every_write(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "readings.sqlite")
    end = T0 + timedelta(days=2)
    written = 0
    for _ in range(3):
        store.write(batch(written, 100))
        written += 100
        arrays = store.history_arrays(["a"], T0, end)["a"]
        assert arrays.temperature.size == written
        assert arrays.temperature[-1] == pytest.approx(20.0 + (written - 1) / 100)
        hours = store.hourly_rows(["a"], T0, end)[0]
        assert int(hours[:, 1].sum()) == written  # the hour's samples, every one counted
        with sqlite3.connect(tmp_path / "readings.sqlite") as fresh:
            assert fresh.execute("SELECT count(*) FROM readings").fetchone() == (written,)
    assert len(store.history("a", T0, end)) == written
    store.close()


def test_a_file_that_is_no_database_is_a_clear_error(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    other.write_bytes(b"not a database at all" * 100)
    with pytest.raises(arrow_reader.ReadError, match=r"exited with status 2: .*not a database"):
        arrow_reader.read_tables(other, "SELECT 1", "SELECT 1", [("a", 0, 1)], 60.0)
    assert other.read_bytes() == b"not a database at all" * 100


def test_the_store_names_itself_when_its_reader_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteStore(tmp_path / "readings.sqlite")
    store.write(batch(0, 10))

    def fail(*args: object) -> list[pa.Table]:
        raise arrow_reader.ReadError("the reader exited with status 2: boom")

    monkeypatch.setattr(arrow_reader, "read_tables", fail)
    with pytest.raises(StoreUnavailable, match=r"readings\.sqlite: the reader exited .* boom"):
        store.history_arrays(["a"], T0, T0 + timedelta(days=1))
    with pytest.raises(StoreUnavailable, match="boom"):
        store.hourly_rows(["a"], T0, T0 + timedelta(days=1))
    assert len(store.history("a", T0, T0 + timedelta(days=1))) == 10
    store.close()


def test_a_reader_too_slow_is_stopped(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "readings.sqlite")
    store.write(batch(0, 10))
    with pytest.raises(arrow_reader.ReadError, match=r"longer than 0\.001 s"):
        arrow_reader.read_tables(store.path, "SELECT 1", "SELECT 1", [("a", 0, 1)], 0.001)
    assert len(store.history("a", T0, T0 + timedelta(days=1))) == 10
    store.close()


def test_an_answer_cut_short_is_refused() -> None:
    table = pa.table({"x": [1.0, 2.0]})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    data = sink.getvalue().to_pybytes()
    whole = arrow_reader._LENGTH.pack(len(data)) + data
    assert arrow_reader._tables(whole, 1)[0].equals(table)
    with pytest.raises(arrow_reader.ReadError, match="inside a table"):
        arrow_reader._tables(whole[:-3], 1)
    with pytest.raises(arrow_reader.ReadError, match="inside a length"):
        arrow_reader._tables(whole + b"\1", 2)
    with pytest.raises(arrow_reader.ReadError, match="1 tables for 2 queries"):
        arrow_reader._tables(whole, 2)


def test_a_path_with_uri_characters_is_read(tmp_path: Path) -> None:
    folder = tmp_path / "odd ?#% name"
    folder.mkdir()
    store = SQLiteStore(folder / "readings.sqlite")
    store.write(batch(0, 7))
    assert store.history_arrays(["a"], T0, T0 + timedelta(days=1))["a"].temperature.size == 7
    store.close()
