"""`repoclimate simulate`'s lines: simulated times in the site's local time, with its zone."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from repoclimate.app.publish import PublishOptions, summary
from repoclimate.sensors.simulate.publisher import SimulationReport

REPORT = SimulationReport(
    sent=3,
    published=Counter({"generic": 2, "ttn": 1}),
    first_time=datetime(2026, 7, 1, 8, 0, tzinfo=UTC),
    last_time=datetime(2026, 7, 1, 9, 30, tzinfo=UTC),
    wall_s=1.5,
)


def test_summary_shows_the_simulated_span_in_the_sites_time() -> None:
    zone = PublishOptions().timezone()  # the built-in demo site: City Archives, London
    assert zone == ZoneInfo("Europe/London")
    line = summary(REPORT, zone)
    assert line == (
        "published 3 messages in 1.5 s (2/s): generic 2, ttn 1; "
        "simulated 2026-07-01 09:00 BST → 2026-07-01 10:30 BST"
    )


def test_the_zone_comes_from_the_registry_simulated(tmp_path: Path) -> None:
    registry = tmp_path / "registry.yaml"
    registry.write_text(
        "sites:\n  - id: a\n    timezone: Asia/Tokyo\n    rooms:\n      - id: r\n"
        "        profile: ashrae-c\n        holdings: paper\n        sensors:\n"
        "          - {id: s, expected_interval_s: 60}\n",
        encoding="utf-8",
    )
    zone = PublishOptions(registry=registry).timezone()
    assert zone == ZoneInfo("Asia/Tokyo")
    assert summary(REPORT, zone).endswith("simulated 2026-07-01 17:00 JST → 2026-07-01 18:30 JST")
    assert summary(REPORT).endswith("2026-07-01 08:00 UTC → 2026-07-01 09:30 UTC")
