"""Report benchmark: the one-year report of a 50-room site from rollups (issue 14's target:
under 10 s). Run from the repository root (``bench/history.py --report-rooms 50`` runs it too)::

    python bench/report_year.py [--rooms 50] [--lang en]

Seeds (not timed) an SQLite store with one reading an hour of one sensor per room over 2025
and 2026 (the rollups are written with them), then times, in CPU and wall-clock seconds:

- the baseline: every room's hourly rollups of both years read back (`HistoryStore.rollups`),
  the store alone, and the same rows in the report's one query (`SQLiteStore.hourly_rows`);
- ``gather``: the report's numbers (rollups read, `preservation.metrics` per room for 2026 and
  2025, the standards' compliance);
- the HTML rendering (charts included) and the PDF (WeasyPrint), and the page count.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.reports.seeding

from repoclimate.history.sqlite import SQLiteStore
from repoclimate.reports.gather import Sources, gather
from repoclimate.reports.periods import parse_period
from repoclimate.reports.render import render_html, render_pdf
from repoclimate.sensors.registry import Registry, parse_registry
from tests.reports.seeding import readings, registry_yaml

NOW = datetime(2027, 1, 2, tzinfo=UTC)


def timed(label: str, action: Callable[[], object]) -> object:
    cpu, wall = time.process_time(), time.perf_counter()
    result = action()
    print(f"{label:<44} {time.process_time() - cpu:7.2f} s CPU {time.perf_counter() - wall:7.2f} s")
    return result


def seed(store: SQLiteStore, rooms: int) -> int:
    sensors = {f"r{i:02d}": ("big", f"room-{i:02d}") for i in range(rooms)}
    batch = []
    written = 0
    start, end = datetime(2024, 12, 31, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    for reading in readings(sensors, start, end, 3600):
        batch.append(reading)
        if len(batch) >= 50_000:
            store.write(batch)
            written += len(batch)
            batch = []
    store.write(batch)
    return written + len(batch)


def year_report(rooms: int, lang: str = "en", keep: Path | None = None) -> None:
    """Seed, then time the one-year report of a ``rooms``-room site (see the module doc).

    ``keep``: the store's file, seeded only if it does not exist yet (repeated runs skip the
    seeding; the file must have been seeded with the same number of rooms)."""
    registry = parse_registry(registry_yaml(rooms))
    with tempfile.TemporaryDirectory() as tmp:
        path = keep or Path(tmp) / "year.sqlite"
        fresh = not path.exists()
        with SQLiteStore(path) as store:
            if fresh:
                count = seed(store, rooms)
                print(f"  seeded {count} hourly readings of {rooms} rooms (2025–2026)")
            else:
                print(f"  reusing the seeded store {path}")
            _time_report(store, registry, rooms, lang, Path(tmp))


def _time_report(store: SQLiteStore, registry: Registry, rooms: int, lang: str, tmp: Path) -> None:
    start, end = datetime(2024, 12, 31, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)

    def baseline() -> int:
        return sum(len(store.rollups("1h", start, end, sensor=f"r{i:02d}")) for i in range(rooms))

    timed(f"baseline: rollups of {rooms} rooms × 2 years", baseline)
    sensors = [f"r{i:02d}" for i in range(rooms)]
    timed(
        f"store: one query, {rooms} rooms × 2 years",
        lambda: len(store.hourly_rows(sensors, start, end)),
    )
    sources = Sources(store, registry, None)
    report = timed(
        f"gather: {rooms}-room year report",
        lambda: gather(sources, parse_period("2026"), NOW, site_id="big"),
    )
    html = timed("render HTML", lambda: render_html(report, lang))  # type: ignore[arg-type]
    pdf = timed("render PDF (WeasyPrint)", lambda: render_pdf(html))  # type: ignore[arg-type]
    path = Path(tmp) / "year.pdf"
    path.write_bytes(pdf)  # type: ignore[arg-type]
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True).stdout
    pages = next((line.split()[-1] for line in info.splitlines() if line.startswith("Pages")), "?")
    print(f"  {len(pdf)} bytes, {pages} pages")  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=50)
    parser.add_argument("--lang", default="en")
    parser.add_argument(
        "--store", type=Path, help="keep the seeded SQLite store in this file and reuse it"
    )
    options = parser.parse_args()
    year_report(options.rooms, options.lang, options.store)


if __name__ == "__main__":
    main()
