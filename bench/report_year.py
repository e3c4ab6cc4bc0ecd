"""Report benchmark: the one-year report of a 50-room site from rollups (issue 14's target:
under 10 s). Run from the repository root (``bench/history.py --report-rooms 50`` runs it too)::

    python bench/report_year.py [--rooms 50] [--lang en] [--store FILE]
        [--engines chromium,weasyprint] [--pdf-dir DIR]

Seeds (not timed) an SQLite store with one reading an hour of one sensor per room over 2025
and 2026 (the rollups are written with them), then times, in CPU and wall-clock seconds:

- the baseline: every room's hourly rollups of both years read back (`HistoryStore.rollups`),
  the store alone, and the same rows in the report's one query (`SQLiteStore.hourly_rows`);
- ``gather``: the report's numbers (rollups read, `preservation.metrics` per room for 2026 and
  2025, the standards' compliance);
- the HTML rendering (charts included) and the PDF by each engine (`reports.pdf`: headless
  Chromium, WeasyPrint) in the same run, and the page count; the PDF's CPU is this process's
  and its children's (``RUSAGE_CHILDREN``; the process is made a child subreaper, so the
  browser's own children are reaped here and counted too), and the whole report (gather +
  HTML + PDF) per engine.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
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
from repoclimate.reports.settings import ReportSettings
from repoclimate.sensors.registry import Registry, parse_registry
from tests.reports.seeding import readings, registry_yaml

NOW = datetime(2027, 1, 2, tzinfo=UTC)
PR_SET_CHILD_SUBREAPER = 36
ENGINES = ("chromium", "weasyprint")


def timed(label: str, action: Callable[[], object]) -> object:
    result, _, _ = timed_with_children(label, action, children=False)
    return result


def timed_with_children(
    label: str, action: Callable[[], object], children: bool = True
) -> tuple[object, float, float]:
    """Run ``action``; print and return its CPU (this process's, and its reaped children's
    when ``children``) and wall-clock seconds."""
    cpu, wall = time.process_time(), time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = action()
    elapsed = time.perf_counter() - wall
    own = time.process_time() - cpu
    if not children:
        print(f"{label:<44} {own:7.2f} s CPU {elapsed:7.2f} s")
        return result, own, elapsed
    _reap_orphans()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    theirs = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(
        f"{label:<44} {own + theirs:7.2f} s CPU {elapsed:7.2f} s"
        f"   ({own:.2f} s here + {theirs:.2f} s children)"
    )
    return result, own + theirs, elapsed


def _become_subreaper() -> bool:
    """Make this process the reaper of its descendants (Linux), so a browser's children that
    outlive it are waited for here and their CPU counted in ``RUSAGE_CHILDREN``."""
    try:
        done: int = ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        return done == 0
    except (OSError, AttributeError):
        return False


def _reap_orphans() -> None:
    """Wait for every descendant left to this process (the bench starts no others)."""
    while True:
        try:
            os.wait()
        except ChildProcessError:
            return


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


def year_report(
    rooms: int,
    lang: str = "en",
    keep: Path | None = None,
    engines: tuple[str, ...] = ENGINES,
    pdf_dir: Path | None = None,
) -> None:
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
            _time_report(store, registry, rooms, lang, pdf_dir or Path(tmp), engines)


def _time_report(
    store: SQLiteStore,
    registry: Registry,
    rooms: int,
    lang: str,
    out: Path,
    engines: tuple[str, ...],
) -> None:
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
    report, gather_cpu, gather_wall = timed_with_children(
        f"gather: {rooms}-room year report",
        lambda: gather(sources, parse_period("2026"), NOW, site_id="big"),
        children=False,
    )
    html, html_cpu, html_wall = timed_with_children(
        "render HTML",
        lambda: render_html(report, lang),  # type: ignore[arg-type]
        children=False,
    )
    whole: list[tuple[str, float, float]] = []
    subreaper = _become_subreaper()
    for engine in engines:
        settings = ReportSettings(pdf_engine=engine)  # type: ignore[arg-type]
        pdf, cpu, wall = timed_with_children(
            f"render PDF ({engine})",
            lambda settings=settings: render_pdf(html, settings),  # type: ignore[arg-type, misc]
        )
        path = out / f"year-{lang}-{engine}.pdf"
        path.write_bytes(pdf)  # type: ignore[arg-type]
        info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True).stdout
        pages = next((ln.split()[-1] for ln in info.splitlines() if ln.startswith("Pages")), "?")
        print(f"  {len(pdf)} bytes, {pages} pages")  # type: ignore[arg-type]
        whole.append((engine, gather_cpu + html_cpu + cpu, gather_wall + html_wall + wall))
    for engine, cpu, wall in whole:
        label = f"whole report, PDF by {engine}"
        print(f"{label:<44} {cpu:7.2f} s CPU {wall:7.2f} s")
    if not subreaper:
        print("  (not a child subreaper here: the browser's children's CPU may be missing)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=50)
    parser.add_argument("--lang", default="en")
    parser.add_argument(
        "--store", type=Path, help="keep the seeded SQLite store in this file and reuse it"
    )
    parser.add_argument(
        "--engines",
        default=",".join(ENGINES),
        help="PDF engines to time, in this order (default: chromium,weasyprint)",
    )
    parser.add_argument("--pdf-dir", type=Path, help="write the PDFs here (default: a temp dir)")
    options = parser.parse_args()
    engines = tuple(name.strip() for name in options.engines.split(",") if name.strip())
    unknown = set(engines) - set(ENGINES)
    if unknown:
        parser.error(f"unknown engine(s) {', '.join(sorted(unknown))}; known: {', '.join(ENGINES)}")
    year_report(options.rooms, options.lang, options.store, engines, options.pdf_dir)


if __name__ == "__main__":
    main()
