"""SQLite query results as Arrow tables, read in a process of its own.

The SQLite store's bulk reads (`history.sqlite.SQLiteStore.history_arrays`, ``hourly_rows``)
go through Apache Arrow's ADBC SQLite driver, which brings its own copy of SQLite (statically
linked; Python's ``sqlite3`` links the system's). Two copies of SQLite in one process must never
open the same database: POSIX advisory locks belong to the process, so when one copy closes its
file descriptor the locks the other copy holds on that file go too, and the copy that believes
itself the last connection checkpoints and deletes the write-ahead log the other is still
writing into — readings written afterwards vanish from every other reader ("How To Corrupt An
SQLite Database File", §2.2.1, https://www.sqlite.org/howtocorrupt.html). Seen here: after one
in-process ADBC read, the store's later writes were missing from the next ADBC read and a fresh
``sqlite3`` connection failed with "disk I/O error".

So the ADBC reads run in a child process (this file, run as a script by `read_tables`): a
separate process is an ordinary concurrent reader, which SQLite's locking is built for. The
child opens the database read-only, runs every query in one read transaction (one snapshot),
each query as one Arrow batch (its rows counted first, so the driver types each column from all
its values) and writes each result as a length-prefixed Arrow IPC stream to its standard output.
The cost is the child's start (≈ 0.3 s: Python, pyarrow, the driver) and one copy through a pipe.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

BATCH_ROWS = "adbc.sqlite.query.batch_rows"
"""The ADBC SQLite driver's rows per Arrow batch, which are also the rows it types each column
by (all NULL: int64)."""

_LENGTH = struct.Struct("<Q")
_SAID_CHARS = 600
"""The end of the child's error output kept in `ReadError` (the driver's message and query)."""

Params = Sequence[str | int | float]


class ReadError(Exception):
    """The child could not read: what it or the operating system said."""


def read_tables(
    path: Path, count: str, select: str, params: Sequence[Params], timeout_s: float
) -> list[pa.Table]:
    """For each of ``params``: ``count``'s one number (the rows ``select`` will give), then
    ``select``'s rows as one Arrow table — all in one read transaction on ``path``, in a child
    process (see the module's docstring). Raises `ReadError` (the child's error, a timeout after
    which the child was killed, or an answer that is not what was asked)."""
    if not params:
        return []
    request = json.dumps(
        {"uri": _uri(path), "count": count, "select": select, "params": [list(p) for p in params]}
    )
    try:
        done = subprocess.run(
            [sys.executable, "-I", __file__],
            input=request.encode(),
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise ReadError(f"the reader took longer than {timeout_s:g} s and was stopped") from error
    except OSError as error:
        raise ReadError(f"the reader could not start: {error}") from error
    if done.returncode != 0:
        said = " ".join(done.stderr.decode(errors="replace").split())[-_SAID_CHARS:]
        raise ReadError(f"the reader exited with status {done.returncode}: {said or 'no message'}")
    return _tables(done.stdout, len(params))


def _uri(path: Path) -> str:
    """``path`` as a read-only SQLite URI (percent-encoded, so any file name is safe)."""
    return path.resolve().as_uri() + "?mode=ro"


def _tables(answer: bytes, expected: int) -> list[pa.Table]:
    """The length-prefixed IPC streams of ``answer`` as tables (views of its buffer)."""
    buffer = pa.py_buffer(answer)
    tables: list[pa.Table] = []
    at = 0
    while at < len(answer):
        if at + _LENGTH.size > len(answer):
            raise ReadError("the reader's answer ends inside a length")
        (size,) = _LENGTH.unpack_from(answer, at)
        at += _LENGTH.size
        if at + size > len(answer):
            raise ReadError("the reader's answer ends inside a table")
        tables.append(pa.ipc.open_stream(buffer.slice(at, size)).read_all())
        at += size
    if len(tables) != expected:
        raise ReadError(f"the reader gave {len(tables)} tables for {expected} queries")
    return tables


def _serve() -> int:
    """The child: read the request from standard input, answer on standard output."""
    import adbc_driver_manager
    import adbc_driver_sqlite.dbapi

    request = json.load(sys.stdin)
    out = sys.stdout.buffer
    try:
        with adbc_driver_sqlite.dbapi.connect(request["uri"]) as reader:
            with reader.cursor() as cursor:
                for params in request["params"]:
                    cursor.execute(request["count"], params)
                    count = cursor.fetchone()
                    rows = max(int(count[0]) if count else 0, 1)
                    cursor.adbc_statement.set_options(**{BATCH_ROWS: str(rows)})
                    cursor.execute(request["select"], params)
                    table = cursor.fetch_arrow_table()
                    sink = pa.BufferOutputStream()
                    with pa.ipc.new_stream(sink, table.schema) as writer:
                        writer.write_table(table)
                    data = sink.getvalue()
                    out.write(_LENGTH.pack(data.size))
                    out.write(data)
            reader.rollback()
    except adbc_driver_manager.Error as error:
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        return 2
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_serve())
