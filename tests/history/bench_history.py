"""Throughput of the stores: ``python -m tests.history.bench_history`` (not collected by pytest).

Prints line-protocol encoding, InfluxDB writes on both paths (v2 through the test front, whose
single-process Python HTTP server is part of what is measured) and SQLite writes, in points/s.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from repoclimate.history import StoreSettings
from repoclimate.history.influx import InfluxStore
from repoclimate.history.lineprotocol import LineEncoder, batches
from repoclimate.history.sqlite import SQLiteStore
from repoclimate.sensors.reading import Reading
from tests.history.v2_front import V2Front
from tests.servers import InfluxDB


def make_readings(n: int, sensors: int = 2_000) -> list[Reading]:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        Reading(
            f"sensor-{i % sensors}",
            t0 + timedelta(seconds=i // sensors * 60),
            18.0 + (i % 100) / 10,
            45.0 + (i % 50) / 7,
            site="city-archives",
            room=f"stack {i % 20}",
        )
        for i in range(n)
    ]


def rate(label: str, n: int, seconds: float) -> None:
    print(f"{label:<44} {n / seconds:>12,.0f} points/s  ({n:,} in {seconds:.2f} s)")


def main() -> None:
    readings = make_readings(200_000)
    encoder = LineEncoder()
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        list(batches(encoder.encode_readings(readings), 5_000))
        best = min(best, time.perf_counter() - started)
    rate("encode line protocol (cached tags, best of 5)", len(readings), best)
    cold = LineEncoder()
    started = time.perf_counter()
    cold.encode_readings(readings[:2_000])
    rate("encode line protocol (cold tag cache)", 2_000, time.perf_counter() - started)

    with tempfile.TemporaryDirectory() as workdir:
        server = InfluxDB(Path(workdir) / "influxdb")
        server.start()
        front = V2Front(server.url).start()
        try:
            for api_version, url in (("v1", server.url), ("v2", front.url)):
                settings = StoreSettings(
                    kind="influxdb",
                    url=url,
                    database=f"bench_{api_version}",
                    api_version=api_version,
                )
                with InfluxStore(settings) as store:
                    store.write(readings[:10])
                    started = time.perf_counter()
                    for start in range(0, len(readings), 5_000):
                        store.write(readings[start : start + 5_000])
                    elapsed = time.perf_counter() - started
                    assert store.count() == len(readings)
                label = "InfluxDB 1.6.7 /write, batches of 5 000"
                if api_version == "v2":
                    label = "influxdb-client /api/v2/write via test front"
                rate(label, len(readings), elapsed)
        finally:
            front.stop()
            server.stop()

        with SQLiteStore(Path(workdir) / "bench.sqlite") as sqlite:
            started = time.perf_counter()
            for start in range(0, 100_000, 1_000):
                sqlite.write(readings[start : start + 1_000])
            rate(
                "SQLite (WAL, synchronous=FULL), batches of 1 000",
                100_000,
                time.perf_counter() - started,
            )


if __name__ == "__main__":
    main()
