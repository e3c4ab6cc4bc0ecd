"""History benchmark: rollups of a day of 10 000 sensors, and the one-year minute-file import.

Run from the repository root::

    python bench/history.py [--sensors 10000] [--interval-min 15] [--rows 525600] [--skip-import]

Times, in CPU seconds of this process (the machine may be shared) and in wall-clock seconds, on
an SQLite store in a temporary directory:

- a day of ``--sensors`` sensors (ten rooms of a site each) reporting every ``--interval-min``
  minutes, written as the collector would, one batch per reporting round: every write upserts
  the readings and recomputes the hourly and daily rollups they touch (sensor and room);
- ``history rollup`` of that day: every bucket rebuilt from the raw readings;
- the import of a one-year minute-interval HOBOware file (``bench/logger_import.py``'s
  generator; issue 14's target: 525 600 rows in under 5 s) into an empty store, and again (the
  idempotent path: nothing new is written).

``--write-path`` (helper H, issue 14 task 5): the same day written twice in the same run, to
fresh stores, with the rollups maintained by every write and deferred (``defer_rollups``: the
writes mark hours, one flush recomputes them), in readings/s, then the flush.

The one-year report of a 50-room site (issue 14's third figure): ``--report-rooms 50`` runs
``bench/report_year.py`` first (its own seeding, not timed, takes a few minutes).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from logger_import import hoboware  # bench/logger_import.py, beside this file

from repoclimate.history.sqlite import SQLiteStore
from repoclimate.history.store import Store
from repoclimate.ingest.importer import import_files
from repoclimate.sensors.reading import Reading
from repoclimate.sensors.registry import Registry

DAY = datetime(2026, 11, 1, tzinfo=UTC)


def timed(label: str, action: Callable[[], object]) -> object:
    cpu, wall = time.process_time(), time.perf_counter()
    result = action()
    print(f"{label:<44} {time.process_time() - cpu:7.2f} s CPU {time.perf_counter() - wall:7.2f} s")
    return result


def day_of_sensors(store: Store, sensors: int, interval: timedelta) -> int:
    """Write a day of readings of ``sensors`` sensors, one batch per reporting round."""
    rounds = int(timedelta(days=1) / interval)
    for n in range(rounds):
        when = DAY + n * interval
        store.write(
            [
                Reading(
                    f"sensor-{i:05d}",
                    when,
                    18 + (i + n) % 40 / 10,
                    45 + (i * n) % 100 / 10,
                    None,
                    None,
                    "site",
                    f"room-{i // 10:04d}",
                )
                for i in range(sensors)
            ]
        )
    return rounds * sensors


def write_path(sensors: int, interval: timedelta) -> None:
    """Readings/s of a day written with rollups on every write and deferred, same run."""
    readings = int(timedelta(days=1) / interval) * sensors
    with tempfile.TemporaryDirectory() as tmp:
        for label, defer in (("rollups on every write", False), ("rollups deferred", True)):
            with SQLiteStore(Path(tmp) / f"{defer}.sqlite", defer_rollups=defer) as store:
                cpu, wall = time.process_time(), time.perf_counter()
                day_of_sensors(store, sensors, interval)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                print(
                    f"{label:<28} {readings / wall:9.0f} readings/s wall"
                    f" {readings / cpu:9.0f} /s CPU ({wall:.1f} s, {cpu:.1f} s CPU)"
                )
                if defer:
                    timed("  flush of the deferred hours", store.flush_rollups)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sensors", type=int, default=10_000)
    parser.add_argument("--interval-min", type=float, default=15.0)
    parser.add_argument("--rows", type=int, default=525_600)
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--report-rooms", type=int, default=0, help="also the year report")
    parser.add_argument("--write-path", action="store_true", help="rollups on/deferred, only")
    options = parser.parse_args()
    if options.write_path:
        write_path(options.sensors, timedelta(minutes=options.interval_min))
        return
    if options.report_rooms:
        from report_year import year_report  # bench/report_year.py, beside this file

        year_report(options.report_rooms)
    interval = timedelta(minutes=options.interval_min)
    with tempfile.TemporaryDirectory() as tmp:
        with SQLiteStore(Path(tmp) / "day.sqlite") as store:
            label = f"day of {options.sensors} sensors, every {options.interval_min:g} min"
            readings = timed(label, lambda: day_of_sensors(store, options.sensors, interval))
            print(f"  {readings} readings")
            hours = timed(
                "history rollup of that day (rebuild)",
                lambda: store.rebuild_rollups(DAY, DAY + timedelta(days=1)),
            )
            print(f"  {hours} hourly buckets")
        if options.skip_import:
            return
        path = Path(tmp) / "year.csv"
        path.write_bytes(hoboware(options.rows))
        now = datetime.now(UTC)
        with SQLiteStore(Path(tmp) / "import.sqlite") as store:

            def run() -> object:
                return import_files(
                    [path], sensor="bench", registry=Registry.empty(), store=store, now=now
                )

            timed(f"import of {options.rows} minute rows", run)
            timed("import again (nothing new)", run)


if __name__ == "__main__":
    main()
