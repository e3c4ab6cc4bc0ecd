"""Logger-file import benchmark: a one-year minute-interval HOBOware export into SQLite.

Run from the repository root::

    python bench/logger_import.py [--rows 525600] [--store sqlite|none] [--rounds 1]

Writes a HOBOware CSV of ``--rows`` minute rows (month-first 12-hour dates, the slowest of the
common grammars), then times, in CPU seconds of this process (the machine may be shared) and in
wall-clock seconds: reading the file (`read_logger_file`, with rows and, as the importer
reads it, ``rows=False``: columns only), the whole import into an empty SQLite
store (`import_files`: read, UTC, place, validate, write), and importing the same file again (the
idempotent path: every reading compared with the stored one, nothing written). Target (issue 14):
the import of 525 600 rows in under 5 s. ``--rounds N`` repeats the two imports N times, each
into a fresh store (the machine is shared: read the best and the spread), and prints the load.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from repoclimate.history.sqlite import SQLiteStore
from repoclimate.ingest.importer import import_files
from repoclimate.sensors.loggers import read_logger_file
from repoclimate.sensors.registry import Registry


def hoboware(rows: int) -> bytes:
    """A HOBOware export of ``rows`` minute readings from 2025-01-01 00:00, GMT+00:00."""
    start = datetime(2025, 1, 1)
    lines = [
        '"Plot Title: bench"',
        '"#","Date Time, GMT+00:00","Temp, °C (LGR S/N: 1)","RH, % (LGR S/N: 1)"',
    ]
    for i in range(rows):
        when = start + timedelta(minutes=i)
        lines.append(
            f"{i + 1},{when:%m/%d/%y %I:%M:%S %p},{18 + i % 100 / 100:.2f},{50 + i % 50 / 10:.1f}"
        )
    return ("\n".join(lines) + "\n").encode()


def timed(label: str, action: Callable[[], object]) -> object:
    cpu, wall = time.process_time(), time.perf_counter()
    result = action()
    print(f"{label:<28} {time.process_time() - cpu:6.2f} s CPU {time.perf_counter() - wall:6.2f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=525_600)
    parser.add_argument("--store", choices=("sqlite", "none"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=1)
    options = parser.parse_args()
    data = hoboware(options.rows)
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.csv"
        path.write_bytes(data)
        print(f"{options.rows} rows, {len(data) / 1e6:.1f} MB")
        for round_ in range(options.rounds):
            print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
            timed("read_logger_file", lambda: read_logger_file(data, str(path)))
            timed(
                "  rows=False (the import's)", lambda: read_logger_file(data, str(path), rows=False)
            )
            store = (
                SQLiteStore(Path(tmp) / f"store{round_}.sqlite")
                if options.store == "sqlite"
                else None
            )

            def run(store: SQLiteStore | None = store) -> object:
                return import_files(
                    [path], sensor="bench", registry=Registry.empty(), store=store, now=now
                )

            timed(f"import ({options.store})", run)
            if store is not None:
                timed("import again (nothing new)", run)
                store.close()


if __name__ == "__main__":
    main()
