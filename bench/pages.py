"""Pages benchmark: server time of the overview page (`/`) for 100 rooms, beside `/api/sites`.

Setup (not timed): a registry of 10 sites × 10 rooms × 2 sensors (100 rooms, 200 sensors), an
embedded SQLite store (`repoclimate.history.sqlite.SQLiteStore`) holding every sensor's readings
every 5 minutes for the last 6 hours before a fixed time (the overview reads the last hour), a
firing alert in every tenth room, and a viewer logged in through ``/api/login`` (the pages read
the browser session's cookie).

Measured, in one run, one request after another on the same app (`create_app`, served in this
process through Starlette's `TestClient`, so no network and no client parsing: the time is the
server's — routing, auth, store reads, rendering): ``GET /`` (the full page), ``GET /?fragment=1``
(the tiles the page refreshes itself with) and ``GET /api/sites`` (the same data as JSON), in
turns, after a warm-up. Each answer must be 200 and the page must hold 100 tiles.

Run: ``python bench/pages.py`` (``--requests N`` per kind, default 200). Prints one line per kind
and last: ``overview p95 <ms> ms (target < 300 ms)``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402

from repoclimate.alerts.model import Subject  # noqa: E402
from repoclimate.app.api import create_app  # noqa: E402
from repoclimate.app.services import Services  # noqa: E402
from repoclimate.app.users import Role  # noqa: E402
from repoclimate.sensors.reading import Reading  # noqa: E402
from tests.app import seeding  # noqa: E402

SITES, ROOMS, PER_ROOM = 10, 10, 2
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOURS = 6
STEP = timedelta(minutes=5)
TARGET_MS = 300.0
KINDS = {"overview": "/", "tiles": "/?fragment=1", "api_sites": "/api/sites"}
PASSWORD = "bench pages password"


def registry_text() -> str:
    lines = ["sites:"]
    for s in range(SITES):
        lines += [f"  - id: site-{s}", f"    name: Archive {s}", "    timezone: Asia/Shanghai"]
        lines.append("    rooms:")
        for r in range(ROOMS):
            lines += [
                f"      - id: s{s}-room-{r}",
                f"        name: Stack {r}",
                "        profile: iso11799-paper",
                "        holdings: paper",
                "        sensors:",
            ]
            for k in range(PER_ROOM):
                lines.append(
                    f"          - {{id: s{s}-r{r}-{k}, match: {{format: generic}}, "
                    "expected_interval_s: 300}"
                )
    return "\n".join(lines) + "\n"


def readings() -> list[Reading]:
    out: list[Reading] = []
    steps = int(timedelta(hours=HOURS) / STEP)
    for s in range(SITES):
        for r in range(ROOMS):
            for k in range(PER_ROOM):
                for step in range(steps):
                    when = NOW - step * STEP
                    t = 16.0 + 0.02 * r + 0.1 * k
                    rh = 38.0 + (10.0 if r == 9 else 0.0)
                    out.append(
                        Reading(
                            f"s{s}-r{r}-{k}", when, t, rh, site=f"site-{s}", room=f"s{s}-room-{r}"
                        )
                    )
    return out


def build(work: Path) -> tuple[Services, int]:
    rows = readings()
    seeded = seeding.seed(
        work,
        registry_text(),
        rows,
        NOW,
        password=PASSWORD,
        roles=[Role.VIEWER],
        cookie_secure=False,
    )
    services = seeded.services
    subjects = [Subject(f"site-{s}", f"s{s}-room-9", f"s{s}-r9-0") for s in range(SITES)]
    seeding.fire(services.state, [seeding.rh_finding(x, NOW, 48.0, 45.0) for x in subjects], NOW)
    return services, len(rows)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per kind")
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args(argv)
    for name in seeding.settings_variables():
        del os.environ[name]
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as tmp:
        services, count = build(Path(tmp))
        print(f"setup: {SITES * ROOMS} rooms, {SITES * ROOMS * PER_ROOM} sensors, {count} readings")
        try:
            with TestClient(create_app(services), base_url="http://127.0.0.1") as client:
                login = client.post("/api/login", data={"username": "viewer", "password": PASSWORD})
                if login.status_code != 200:
                    raise RuntimeError(f"login failed: {login.status_code} {login.text}")
                page = client.get("/")
                tiles = page.text.count('class="tile ')
                if page.status_code != 200 or tiles != SITES * ROOMS:
                    raise RuntimeError(f"overview: status {page.status_code}, {tiles} tiles")
                times: dict[str, list[float]] = {kind: [] for kind in KINDS}
                for i in range(args.warmup + args.requests):
                    for kind, path in KINDS.items():
                        began = time.perf_counter()
                        answer = client.get(path)
                        took = (time.perf_counter() - began) * 1000
                        if answer.status_code != 200:
                            raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:200]}")
                        if i >= args.warmup:
                            times[kind].append(took)
        finally:
            services.close()
    for kind, values in times.items():
        print(
            f"{kind:10s} {KINDS[kind]:14s} n={len(values)}"
            f"  median {statistics.median(values):.1f} ms"
            f"  p95 {percentile(values, 0.95):.1f} ms  max {max(values):.1f} ms"
        )
    p95 = percentile(times["overview"], 0.95)
    print(f"overview p95 {p95:.1f} ms (target < {TARGET_MS:.0f} ms)")
    return 0 if p95 < TARGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
