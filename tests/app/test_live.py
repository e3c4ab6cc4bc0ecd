"""The demo's live view without a running demo: what a person sees at 80×24, how reminders are
shown, and freshness judged on the simulated clock."""

from __future__ import annotations

import io
import math
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console

from repoclimate.alerts.model import Alert, AlertState, Severity, Subject
from repoclimate.alerts.notify import Message
from repoclimate.app.demo import DemoState, NotificationFeed, SimClock
from repoclimate.app.live import (
    LatestValues,
    alerts_lines,
    compact_table,
    render,
    rooms_table,
    show_plain,
)
from repoclimate.preservation.profiles import PROFILES
from repoclimate.preservation.status import Band, profile_band
from repoclimate.sensors.reading import Reading
from repoclimate.sensors.registry import load_registry

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = load_registry(ROOT / "examples" / "registry.yaml")
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


class FixedClock(SimClock):
    """A simulated clock stopped at ``at``: catching up with now at ``speed``, or caught up."""

    def __init__(self, at: datetime, speed: float, caught_up: bool) -> None:
        super().__init__(at - timedelta(days=2), speed)
        self.at = at
        self._caught_up = caught_up

    def now(self) -> datetime:
        return self.at

    @property
    def caught_up(self) -> bool:
        return self._caught_up


def demo_state(clock: SimClock | None = None) -> DemoState:
    return DemoState(
        broker_url="mqtt://127.0.0.1:1883",
        data_dir=Path("/tmp/repoclimate-demo-x"),
        store_path=Path("/tmp/repoclimate-demo-x/readings.sqlite"),
        store=None,  # type: ignore[arg-type]  # the view's rendering does not read the store
        registry=REGISTRY,
        clock=clock or FixedClock(NOW, 1.0, caught_up=True),
    )


def every_sensor(at: datetime, **overrides: tuple[float, float]) -> list[Reading]:
    """One reading of every sensor of the example site at ``at``: inside its band unless
    ``overrides`` gives (T, RH)."""
    readings = []
    for site, room, sensor in REGISTRY.sensors():
        profile = PROFILES[room.profile]
        inside = (
            middle(profile_band(profile, "t"), 15.0),
            middle(profile_band(profile, "rh"), 45.0),
        )
        t, rh = overrides.get(sensor.id.replace("-", "_"), inside)
        readings.append(Reading(sensor.id, at, t, rh, site=site.id, room=room.id))
    return readings


def middle(band: Band, default: float) -> float:
    """A value well inside ``band``."""
    if math.isfinite(band.low) and math.isfinite(band.high):
        return (band.low + band.high) / 2
    if math.isfinite(band.low):
        return band.low + 5.0
    if math.isfinite(band.high):
        return min(band.high - 5.0, default)
    return default


def alert(alert_id: int, severity: Severity, room: str, sensor: str, summary: str) -> Alert:
    return Alert(
        id=alert_id,
        rule="sensor.silent" if "No reading" in summary else "excursion.humidity_high",
        subject=Subject("city-archives", room, sensor),
        state=AlertState.FIRING,
        severity=severity,
        since=NOW - timedelta(hours=5),
        value=60.0,
        threshold=45.0,
        unit="%RH",
        summary=summary,
        advice="",
        page=True,
        created_at=NOW - timedelta(hours=5),
        fired_at=NOW - timedelta(hours=4),
        acknowledged_at=None,
        acknowledged_by=None,
        resolved_at=None,
        ack_token="t",
    )


FAULT_ALERTS = [
    alert(7, Severity.WARNING, "stack-3", "s3-north", "No reading for 300 min (last 07:00)"),
    alert(8, Severity.CRITICAL, "stack-1", "stack1", "RH 60.0 %RH above the band limit 45 %RH"),
]


def screen(state: DemoState, latest: LatestValues, width: int, height: int) -> list[str]:
    """The lines a terminal of ``width``×``height`` shows of the live view."""
    console = Console(width=width, height=height, record=True, file=io.StringIO())
    console.print(render(state, latest, console))
    return console.export_text().splitlines()


def test_at_80x24_the_alerts_stay_visible() -> None:
    state = demo_state()
    state.open_alerts = list(FAULT_ALERTS)
    latest = LatestValues()
    latest.update(every_sensor(NOW, s3_south=(22.0, 60.0)))
    lines = screen(state, latest, 80, 24)
    text = "\n".join(lines)
    assert len(lines) <= 24, text  # nothing scrolls out of (or is cropped off) the screen
    assert max(len(line) for line in lines) <= 80
    assert "critical Stack 1 · stack1: RH 60.0 %RH above the band limit 45 %RH" in text
    assert "warning  Stack 3 · s3-north: No reading" in text
    assert "OUT T+RH" in text
    assert "Stack 7 " in text and "Stack 7 (outstore" not in text  # short room names
    assert "Ctrl-C" in text

    # many alerts: at most half the screen, worst first; the table keeps the rows to see
    state.open_alerts += [
        alert(20 + n, Severity.WARNING, "map-room", "ers-map-room", f"RH {50 + n} %RH high")
        for n in range(8)
    ]
    lines = screen(state, latest, 80, 24)
    text = "\n".join(lines)
    assert len(lines) <= 24, text
    assert "critical Stack 1 · stack1" in text
    assert re.search(r"… \d+ more \(repoclimate alerts list\)", text)
    assert "OUT T+RH" in text  # the sensor out of its band is among the rows shown
    assert re.search(r"… \d+ more sensors", text)  # and the rows left out are said
    # the same state on a big terminal: the full table, every sensor and profile band
    big = "\n".join(screen(state, latest, 160, 60))
    assert "iso11799-paper" in big and "Stack 7 (outstore, LoRaWAN)" in big
    assert "… " not in big and big.count(" ok ") + big.count(" ok\n") >= 1


def test_compact_table_keeps_rows_that_need_attention() -> None:
    state = demo_state()
    latest = LatestValues()
    latest.update(every_sensor(NOW, photo_store_g3=(16.0, 70.0)))  # the last room's sensor
    table = compact_table(state, latest, max_rows=4)
    sensors = [str(cell) for cell in table.columns[1].cells]
    statuses = [str(cell) for cell in table.columns[4].cells]
    assert len(sensors) == 4
    assert "photo-store-g3" in sensors  # kept although it comes late in the registry
    assert statuses[sensors.index("photo-store-g3")] == "OUT RH"
    assert [str(cell) for cell in table.columns[0].cells][-1] == "… 10 more sensors"


def test_sensors_are_not_stale_while_the_clock_catches_up() -> None:
    """At ×100000 the simulator (rate-limited) is 60 simulated hours behind the clock: every
    sensor's last reading is that old on the clock, but not overdue — the rules have judged
    only up to the newest stored reading. A sensor that really stopped still shows silent."""
    clock = FixedClock(NOW, 100_000.0, caught_up=False)
    state = demo_state(clock)
    frontier = NOW - timedelta(hours=60)
    latest = LatestValues()
    latest.update([r for r in every_sensor(frontier) if r.sensor != "s3-north"])
    latest.update([Reading("s3-north", frontier - timedelta(hours=2), 15.0, 40.0,
                           site="city-archives", room="stack-3")])  # fmt: skip

    def statuses() -> dict[str, str]:
        table = rooms_table(state, latest)
        cells = {column.header: [str(c) for c in column.cells] for column in table.columns}
        return dict(zip(cells["sensor"], cells["status"], strict=True))

    for horizon in (None, frontier):  # before the rules' first evaluation, and after it
        state.horizon = horizon
        shown = statuses()
        assert shown.pop("s3-north") == "silent"
        assert set(shown.values()) == {"ok", "surface"}, shown
        last = {str(c) for c in rooms_table(state, latest).columns[-1].cells}
        assert "0 s ago" in last

    # once the clock has caught up and the rules judge at now, the same readings are silent
    state.clock = FixedClock(NOW, 100_000.0, caught_up=True)
    state.horizon = NOW
    assert set(statuses().values()) == {"silent"}


def reminder(alert_id: int) -> Message:
    payload = {"kind": "reminder", "alerts": [{"id": alert_id}]}
    return Message("[REMINDER] [WARNING] Sensor silent — Stack 3", "", "", payload)


def test_reminders_are_counted_on_the_alert_line_not_listed() -> None:
    feed = NotificationFeed()
    feed.send("console", Message("[ALERT] [WARNING] Sensor silent — Stack 3", "", "",
                                 {"kind": "firing", "alerts": [{"id": 7}]}))  # fmt: skip
    for _ in range(40):  # ten simulated days of 4-hourly reminders: 40 s of the demo
        feed.send("console", reminder(7))
    feed.send("console", reminder(8))
    assert feed.sent == 42 and feed.told == 1
    assert list(feed.subjects) == ["[ALERT] [WARNING] Sensor silent — Stack 3"]
    assert feed.reminders == {7: 40, 8: 1}

    state = demo_state()
    state.notifications = feed
    state.open_alerts = list(FAULT_ALERTS)
    lines = alerts_lines(state)
    assert len(lines) == 2  # one line per open alert, however many reminders
    assert lines[0].endswith("(since 30 Nov 07:00, firing, 1 reminder)")
    assert lines[1].endswith("(since 30 Nov 07:00, firing, 40 reminders)")
    text = "\n".join(screen(state, LatestValues(), 160, 60))
    assert "[REMINDER]" not in text
    assert "notifications sent: 42 (41 reminders, counted per alert above)" in text


def test_plain_view_prints_each_notification_but_not_reminders() -> None:
    out = io.StringIO()
    state = demo_state()
    state.store = type("Store", (), {"latest": lambda self: []})()  # type: ignore[assignment]
    feed = state.notifications
    feed.send("console", Message("[ALERT] [WARNING] Sensor silent — Stack 3", "", "", {}))
    for _ in range(5):
        feed.send("console", reminder(7))
    stop = threading.Event()
    stop.set()
    show_plain(Console(file=out, width=200), every_s=0.01)(state, stop)
    printed = out.getvalue()
    assert printed.count("notification:") == 1
    assert "[REMINDER]" not in printed
    assert "(5 reminders sent)" in printed


def test_a_surface_sensor_is_not_held_to_the_air_band() -> None:
    """The rules judge a wall probe for condensation only, never against the room's band: the
    view must not show red (and "OUT") where no alert can follow."""
    latest = LatestValues()
    latest.update(every_sensor(NOW, stack_5_wall=(14.2, 46.1), stack_5=(16.0, 46.1)))
    table = rooms_table(demo_state(), latest)
    cells = {column.header: list(column.cells) for column in table.columns}
    sensors = [str(cell) for cell in cells["sensor"]]
    wall = cells["status"][sensors.index("stack-5-wall")]
    assert (str(wall), str(wall.style)) == ("surface", "")
    assert str(cells["%RH"][sensors.index("stack-5-wall")].style) == ""
    assert str(cells["status"][sensors.index("stack-5")]) == "OUT RH"  # the air probe is
