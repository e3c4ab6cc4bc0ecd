"""What the derived rollups cost on the InfluxDB write path (issue 14): a day of 10 000 sensors and
the one-year minute-file import, with the rollups and with them switched off, same run.

Run from the repository root (starts its own Debian InfluxDB 1.6 on loopback ports, in a
temporary directory, the way the tests do)::

    python bench/influx_rollups.py [--sensors 10000] [--interval-min 15] [--rows 525600]

For each workload and each mode, in a fresh database: the writes (`InfluxStore.write`, one batch
per reporting round; the import through `import_files`), then `flush_rollups` (the hourly
buckets recomputed by InfluxQL queries and written back, then their days). CPU seconds of this
process and of the ``influxd`` process, and wall-clock seconds. "off": `_mark_touched` patched to
do nothing, so no bucket is marked and the flush has nothing to do (the writes alone).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.servers

from logger_import import hoboware  # bench/logger_import.py, beside this file

from bench.history import day_of_sensors
from repoclimate.history import StoreSettings
from repoclimate.history.influx import InfluxStore
from repoclimate.ingest.importer import import_files
from repoclimate.sensors.registry import Registry
from tests.servers import InfluxDB


def _server_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def measured(label: str, server: int) -> Iterator[None]:
    cpu, wall, served = time.process_time(), time.perf_counter(), _server_cpu(server)
    yield
    print(
        f"  {label:<34} {time.process_time() - cpu:7.2f} s CPU, influxd"
        f" {_server_cpu(server) - served:7.2f} s CPU, {time.perf_counter() - wall:7.2f} s wall",
        flush=True,
    )


def run_case(
    influx: InfluxDB, server: int, name: str, rollups: bool, write: Callable[[InfluxStore], None]
) -> None:
    database = f"bench_{name}_{'on' if rollups else 'off'}"
    settings = StoreSettings.model_validate(
        {"kind": "influxdb", "url": influx.url, "database": database, "api_version": "v1"}
    )
    store = InfluxStore(settings)
    store.ensure_database()
    if not rollups:
        store._mark_touched = lambda readings: None  # type: ignore[method-assign]
    print(f"{name}, rollups {'on' if rollups else 'off'}:", flush=True)
    with measured("writes", server):
        write(store)
    with measured("flush_rollups", server):
        store.flush_rollups()
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sensors", type=int, default=10_000)
    parser.add_argument("--interval-min", type=float, default=15.0)
    parser.add_argument("--rows", type=int, default=525_600)
    options = parser.parse_args()
    interval = timedelta(minutes=options.interval_min)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "year.csv"
        path.write_bytes(hoboware(options.rows))
        now = datetime.now(UTC)
        influx = InfluxDB(Path(tmp) / "influx")
        influx.start()
        assert influx.proc is not None
        server = influx.proc.pid
        try:
            for rollups in (False, True):
                run_case(
                    influx,
                    server,
                    "day",
                    rollups,
                    lambda store: day_of_sensors(store, options.sensors, interval),
                )
            for rollups in (False, True):
                run_case(
                    influx,
                    server,
                    "import",
                    rollups,
                    lambda store: print(
                        "  ",
                        import_files(
                            [path], sensor="bench", registry=Registry.empty(), store=store, now=now
                        ).lines()[0],
                    ),
                )
        finally:
            influx.stop()


if __name__ == "__main__":
    main()
