"""What `repoclimate demo` shows while it runs: a live terminal table, or plain summaries.

Every room of the registry with the latest temperature and RH of each of its sensors, coloured
against the room's climate profile (green inside the band, amber near a limit, red outside,
grey when the sensor has gone silent), the collector's counts and the open alerts. Times are
shown in the site's time zone; "ago" is measured on the simulated clock.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from repoclimate.app.demo import SILENT_AFTER, DemoState
from repoclimate.preservation.profiles import PROFILES, Profile
from repoclimate.sensors.reading import UNASSIGNED, Reading

NEAR_T_K = 0.5
"""Within this of a temperature limit (inside the band) a value shows amber [K]."""
NEAR_RH_PCT = 2.0
"""Within this of an RH limit (inside the band) a value shows amber [%RH]."""
RECENT_NOTIFICATIONS = 5
"""How many of the latest notification subjects the live view shows."""

View = Callable[[DemoState, threading.Event], None]
"""Runs in the main thread for the whole demo; returns soon after the event is set."""

_STYLE = {"ok": "green", "near": "yellow", "out": "bold red", "silent": "dim", "none": ""}


@dataclass
class SensorView:
    """The last known values of one sensor (quantities may arrive in separate messages)."""

    time: datetime
    temperature: float | None = None
    humidity: float | None = None


class LatestValues:
    """Latest temperature and humidity per sensor, merged across readings."""

    def __init__(self) -> None:
        self.sensors: dict[str, SensorView] = {}
        self.placement: dict[str, tuple[str | None, str | None]] = {}

    def update(self, readings: list[Reading]) -> None:
        for reading in readings:
            view = self.sensors.setdefault(reading.sensor, SensorView(reading.time))
            if reading.time >= view.time:
                view.time = reading.time
                if reading.temperature is not None:
                    view.temperature = reading.temperature
                if reading.humidity is not None:
                    view.humidity = reading.humidity
            self.placement[reading.sensor] = (reading.site, reading.room)


def classify(value: float | None, low: float, high: float, near: float) -> str:
    """``ok``, ``near`` (within ``near`` of a limit), ``out`` of [low, high], or ``none``."""
    if value is None:
        return "none"
    if value < low or value > high:
        return "out"
    if (math.isfinite(low) and value - low < near) or (math.isfinite(high) and high - value < near):
        return "near"
    return "ok"


def _band(profile: Profile | None, quantity: str) -> tuple[float, float]:
    if profile is None:
        return -math.inf, math.inf
    if quantity == "t":
        return profile.t_min_c, profile.t_max_c
    return profile.rh_min_pct, profile.rh_max_pct


def _ago(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def rooms_table(state: DemoState, latest: LatestValues) -> Table:
    """Rooms → sensors → latest T and RH, coloured against each room's profile band."""
    now = state.clock.now()
    settled = state.clock.settled()
    table = Table(header_style="bold")
    for column in ("room", "profile", "sensor", "°C", "%RH", "last reading"):
        table.add_column(column, justify="right" if column in ("°C", "%RH") else "left")
    for _site, room in state.registry.rooms():
        profile = PROFILES.get(room.profile)
        t_low, t_high = _band(profile, "t")
        rh_low, rh_high = _band(profile, "rh")
        profile_text = room.profile
        if profile is not None:
            profile_text += (
                f"\n{_fmt_band(t_low, t_high, '°C')} · {_fmt_band(rh_low, rh_high, '%')}"
            )
        for index, sensor in enumerate(room.sensors):
            first = index == 0
            view = latest.sensors.get(sensor.id)
            if view is None:
                table.add_row(
                    room.id if first else "",
                    profile_text if first else "",
                    sensor.id,
                    "–",
                    "–",
                    Text("waiting", "dim"),
                )
                continue
            silent_after = timedelta(seconds=SILENT_AFTER * sensor.expected_interval_s)
            silent = settled - view.time > silent_after
            t_class = "silent" if silent else classify(view.temperature, t_low, t_high, NEAR_T_K)
            rh_class = "silent" if silent else classify(view.humidity, rh_low, rh_high, NEAR_RH_PCT)
            table.add_row(
                room.id if first else "",
                profile_text if first else "",
                sensor.id,
                Text(_fmt(view.temperature, 1), _STYLE[t_class]),
                Text(_fmt(view.humidity, 1), _STYLE[rh_class]),
                Text(_ago(now - view.time) + (" (silent)" if silent else ""), _STYLE[t_class]),
            )
    for sensor_id, (site_id, _room) in sorted(latest.placement.items()):
        if site_id == UNASSIGNED:
            view = latest.sensors[sensor_id]
            table.add_row(
                Text("unassigned", "yellow"),
                "",
                sensor_id,
                _fmt(view.temperature, 1),
                _fmt(view.humidity, 1),
                _ago(now - view.time),
            )
    return table


def _fmt(value: float | None, decimals: int) -> str:
    return "–" if value is None else f"{value:.{decimals}f}"


def _fmt_band(low: float, high: float, unit: str) -> str:
    if math.isfinite(low) and math.isfinite(high):
        return f"{low:g}–{high:g}{unit}"
    if math.isfinite(high):
        return f"≤{high:g}{unit}"
    if math.isfinite(low) and low > 0:
        return f"≥{low:g}{unit}"
    return f"any{unit}"


def clock_line(state: DemoState) -> str:
    """Simulated time in the (first) site's zone, and how fast it runs."""
    zone = state.registry.default_timezone
    now = state.clock.now().astimezone(zone)
    pace = "real time" if state.clock.caught_up else f"×{state.clock.speed:g}, catching up with now"
    return f"simulated time {now:%Y-%m-%d %H:%M} {zone.key} ({pace})"


def start_line(state: DemoState) -> str:
    """When the simulation began, to the second in the site's zone: with the options and the
    seed it reproduces every reading (`app.demo.demo_layout`)."""
    zone = state.registry.default_timezone
    return f"simulated from {state.clock.start.astimezone(zone).isoformat()}"


def counts_line(state: DemoState) -> str:
    """The collector's counts on one line."""
    stats = state.collector
    rejected = ", ".join(f"{reason} {n}" for reason, n in sorted(stats.rejected.items()))
    text = f"received {stats.received} · stored {stats.stored} · rejected {stats.rejected_total}"
    if rejected:
        text += f" ({rejected})"
    if stats.spool_pending:
        text += f" · spooled {stats.spool_pending}"
    return text


def alerts_lines(state: DemoState) -> list[str]:
    """One line per open alert, worst first (empty when there are none)."""
    zone = state.registry.default_timezone
    alerts = sorted(state.open_alerts, key=lambda a: (-a.severity, a.subject.id, a.rule))
    return [
        f"{alert.severity.label:<8} {alert.subject.id}: {alert.summary} "
        f"(since {alert.since.astimezone(zone):%d %b %H:%M}, {alert.state.value})"
        for alert in alerts
    ]


def render(state: DemoState, latest: LatestValues) -> Group:
    """Everything the live view shows."""
    header = Text.assemble(
        ("repoclimate demo", "bold"),
        f" · broker {state.broker_url} (embedded, MQTT 3.1.1) · store {state.store_path}\n",
        f"{start_line(state)} · {clock_line(state)}",
    )
    alerts = alerts_lines(state)
    alert_text = Text("open alerts: none", "green")
    if alerts:
        alert_text = Text("open alerts:\n" + "\n".join(f"  {line}" for line in alerts), "red")
    feed = state.notifications
    recent = list(feed.subjects)[-RECENT_NOTIFICATIONS:]
    notified = Text(
        f"notifications sent: {feed.sent}" + "".join(f"\n  {subject}" for subject in recent),
        "yellow" if recent else "",
    )
    footer = Text(counts_line(state) + "\nCtrl-C stops the demo.", "dim")
    parts: list[Text | Table] = [
        header,
        rooms_table(state, latest),
        alert_text,
        notified,
        footer,
    ]
    if state.error:
        parts.append(Text(state.error, "bold red"))
    return Group(*parts)


def refresh_latest(state: DemoState, latest: LatestValues) -> None:
    """Read the newest readings from the demo's store into ``latest``."""
    latest.update(state.store.latest())


def show_live(console: Console, refresh_s: float = 0.5) -> View:
    """The live view for an interactive terminal."""

    def show(state: DemoState, stop: threading.Event) -> None:
        latest = LatestValues()
        refresh_latest(state, latest)
        with Live(render(state, latest), console=console, auto_refresh=False) as live:
            while not stop.wait(refresh_s):
                refresh_latest(state, latest)
                live.update(render(state, latest), refresh=True)
            refresh_latest(state, latest)
            live.update(render(state, latest), refresh=True)

    return show


def show_plain(console: Console, every_s: float = 5.0) -> View:
    """Plain summaries every ``every_s`` seconds, for logs and terminals without a TTY."""

    def show(state: DemoState, stop: threading.Event) -> None:
        latest = LatestValues()
        printed = 0

        def say(line: str) -> None:  # one log line each: no wrapping, no markup
            console.print(line, markup=False, highlight=False, soft_wrap=True)

        say(
            f"repoclimate demo: broker {state.broker_url} (embedded, MQTT 3.1.1), "
            f"store {state.store_path}, {start_line(state)}"
        )

        def tick() -> None:
            nonlocal printed
            refresh_latest(state, latest)
            feed = state.notifications
            sent, subjects = feed.sent, list(feed.subjects)
            for subject in subjects[len(subjects) - min(sent - printed, len(subjects)) :]:
                say(f"notification: {subject}")
            printed = sent
            say(_summary(state, latest))

        while not stop.wait(every_s):
            tick()
        tick()
        console.print(rooms_table(state, latest))
        for line in alerts_lines(state):
            say(f"open alert: {line}")

    return show


def _summary(state: DemoState, latest: LatestValues) -> str:
    reporting = len(latest.sensors)
    alerts = len(state.open_alerts)
    return (
        f"{clock_line(state)}: {counts_line(state)}; {reporting} sensors reporting; "
        f"{alerts} open alert{'s' if alerts != 1 else ''}"
    )
