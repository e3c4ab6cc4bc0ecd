"""What `repoclimate demo` shows while it runs: a live terminal table, or plain summaries.

Every room of the registry, by name, with the latest temperature and RH of each of its sensors,
judged against the room's climate profile (`preservation.status`): green and "ok" inside the
band, amber and "near" within the rules' margin of a limit, red and "OUT" outside, grey and
"silent" when the sensor has gone silent — a word beside every colour, for monochrome terminals
and colour-blind staff. A surface sensor (a wall's temperature) is not held to the air's band,
as the rules do not hold it: its status is "surface". Then the open alerts (one line each,
with how many reminders it has sent), the collector's counts and the notifications other than
reminders.

Freshness ("2 min ago", silent) is judged on the simulated clock at the time the alert rules
have judged up to (`DemoState.horizon`): while the simulated past streams in, that is the newest
stored reading, not the wall clock, so sensors do not look stale because the clock runs fast.

A terminal too small for the whole table (80×24) gets the compact layout: one line per sensor,
the open alerts above the table, and the rows that fit — those with something to see first.
Times are shown in the site's time zone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from rich.console import Console, ConsoleDimensions, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from repoclimate.alerts.model import Alert, Subject
from repoclimate.app.demo import SILENT_AFTER, DemoState
from repoclimate.preservation.profiles import PROFILES
from repoclimate.preservation.status import Band, Status, profile_band, worst
from repoclimate.sensors.reading import UNASSIGNED, Reading

RECENT_NOTIFICATIONS = 5
"""How many of the latest notification subjects the full live view shows."""

View = Callable[[DemoState, threading.Event], None]
"""Runs in the main thread for the whole demo; returns soon after the event is set."""

_STYLE = {
    Status.OK: "green",
    Status.NEAR: "yellow",
    Status.OUT: "bold red",
    Status.MISSING: "",
    "silent": "dim",
    "waiting": "dim",
    "unassigned": "yellow",
}
_WORD = {Status.OK: "ok", Status.NEAR: "near", Status.OUT: "OUT", Status.MISSING: "–"}


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

    def newest(self) -> datetime | None:
        """The time of the newest reading of any sensor."""
        return max((view.time for view in self.sensors.values()), default=None)


def as_of(state: DemoState, latest: LatestValues) -> datetime:
    """The simulated time freshness is judged at: the time the alert rules have judged up to;
    before their first evaluation, the settled clock but no later than the newest reading (the
    simulator publishes in time order, so a reading not in yet is not overdue)."""
    if state.horizon is not None:
        return state.horizon
    settled = state.clock.settled()
    newest = latest.newest()
    return settled if newest is None else min(settled, newest)


def _ago(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


@dataclass(frozen=True)
class _Row:
    """One sensor's line of the table, with how much it asks for attention (0: nothing)."""

    room: str
    room_short: str
    profile: str
    sensor: str
    temperature: Text
    humidity: Text
    status: Text
    last: Text
    attention: int


def _short_name(name: str) -> str:
    """``Stack 1 (basement, bound volumes)`` → ``Stack 1``."""
    return name.split(" (", 1)[0]


def _status_text(t: Status, rh: Status) -> Text:
    """The status word (with the quantities it is about when not ok), styled like the values."""
    overall = worst(t, rh)
    word = _WORD[overall]
    if overall in (Status.NEAR, Status.OUT):
        which = [name for name, s in (("T", t), ("RH", rh)) if s is overall]
        word += " " + "+".join(which)
    return Text(word, _STYLE[overall])


def _rows(state: DemoState, latest: LatestValues) -> list[_Row]:
    at = as_of(state, latest)
    rows: list[_Row] = []
    for _site, room in state.registry.rooms():
        profile = PROFILES.get(room.profile)
        t_band, rh_band = profile_band(profile, "t"), profile_band(profile, "rh")
        name = room.name or room.id
        profile_text = room.profile
        if profile is not None:
            profile_text += f"\n{_fmt_band(t_band, '°C')} · {_fmt_band(rh_band, '%')}"
        for index, sensor in enumerate(room.sensors):
            first = index == 0
            room_cells = (
                name if first else "",
                _short_name(name) if first else "",
                profile_text if first else "",
                sensor.id,
            )
            view = latest.sensors.get(sensor.id)
            if view is None:
                waiting = Text("waiting", _STYLE["waiting"])
                rows.append(_Row(*room_cells, Text("–"), Text("–"), waiting, Text("–", "dim"), 1))
                continue
            silent_after = timedelta(seconds=SILENT_AFTER * sensor.expected_interval_s)
            silent = at - view.time > silent_after
            t_status = t_band.status(view.temperature)
            rh_status = rh_band.status(view.humidity)
            if silent:
                styles = (_STYLE["silent"],) * 2
                status = Text("silent", _STYLE["silent"])
                attention = 3
            elif sensor.surface:  # a wall's temperature: the rules judge it for condensation
                styles = ("", "")
                status = Text("surface")
                attention = 0
            else:
                styles = (_STYLE[t_status], _STYLE[rh_status])
                status = _status_text(t_status, rh_status)
                attention = worst(t_status, rh_status).rank - 1
            rows.append(
                _Row(
                    *room_cells,
                    Text(_fmt(view.temperature, 1), styles[0]),
                    Text(_fmt(view.humidity, 1), styles[1]),
                    status,
                    Text(_ago(at - view.time), styles[0] if silent else ""),
                    max(attention, 0),
                )
            )
    for sensor_id, (site_id, _room) in sorted(latest.placement.items()):
        if site_id == UNASSIGNED:
            view = latest.sensors[sensor_id]
            label = Text("unassigned", _STYLE["unassigned"])
            rows.append(
                _Row(
                    "unassigned",
                    "unassigned",
                    "",
                    sensor_id,
                    Text(_fmt(view.temperature, 1)),
                    Text(_fmt(view.humidity, 1)),
                    label,
                    Text(_ago(at - view.time)),
                    2,
                )
            )
    return rows


def rooms_table(state: DemoState, latest: LatestValues) -> Table:
    """Rooms (by name) → sensors → latest T and RH, coloured against each room's profile band,
    a status word beside the colour."""
    table = Table(header_style="bold")
    for column in ("room", "profile", "sensor", "°C", "%RH", "status", "last reading"):
        table.add_column(column, justify="right" if column in ("°C", "%RH") else "left")
    for row in _rows(state, latest):
        room = Text(row.room, _STYLE["unassigned"]) if row.room == UNASSIGNED else row.room
        table.add_row(
            room, row.profile, row.sensor, row.temperature, row.humidity, row.status, row.last
        )
    return table


def compact_table(state: DemoState, latest: LatestValues, max_rows: int | None = None) -> Table:
    """One line per sensor (short room names, no profile column), for small terminals: at most
    ``max_rows`` lines under the header. When rows must go, those with something to see (out,
    near, silent, waiting, unassigned) stay, in the registry's order; the last line says how
    many are left out."""
    rows = _rows(state, latest)
    kept = rows
    if max_rows is not None and len(rows) > max_rows:
        room_of: dict[int, str] = {}
        current = ""
        for index, row in enumerate(rows):
            current = row.room_short or current
            room_of[index] = current
        by_attention = sorted(range(len(rows)), key=lambda i: (-rows[i].attention, i))
        chosen = sorted(by_attention[: max(max_rows - 1, 0)])
        left_out = len(rows) - len(chosen)
        kept = []
        shown_room = ""
        for index in chosen:
            row = rows[index]
            room = room_of[index] if room_of[index] != shown_room else ""
            shown_room = room_of[index]
            kept.append(replace(row, room_short=room))
        kept.append(
            _Row("", f"… {left_out} more sensor{'s' if left_out != 1 else ''}", "", "",
                 Text(""), Text(""), Text(""), Text(""), 0)
        )  # fmt: skip
    table = Table(box=None, header_style="bold", pad_edge=False, show_edge=False)
    table.add_column("room", no_wrap=True, overflow="ellipsis", max_width=18)
    table.add_column("sensor", no_wrap=True, overflow="ellipsis", max_width=16)
    table.add_column("°C", justify="right", no_wrap=True)
    table.add_column("%RH", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("last", no_wrap=True)
    for row in kept:
        table.add_row(
            row.room_short, row.sensor, row.temperature, row.humidity, row.status, row.last
        )
    return table


def _fmt(value: float | None, decimals: int) -> str:
    return "–" if value is None else f"{value:.{decimals}f}"


def _fmt_band(band: Band, unit: str) -> str:
    low = band.low if band.low > -float("inf") else None
    high = band.high if band.high < float("inf") else None
    if low is not None and high is not None:
        return f"{low:g}–{high:g}{unit}"
    if high is not None:
        return f"≤{high:g}{unit}"
    if low is not None:
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


def _room_names(state: DemoState, short: bool) -> dict[tuple[str, str], str]:
    names = {}
    for site, room in state.registry.rooms():
        name = room.name or room.id
        names[site.id, room.id] = _short_name(name) if short else name
    return names


def _place(subject: Subject, rooms: dict[tuple[str, str], str]) -> str:
    """Where an alert is, for people: the room's name and the sensor id."""
    if subject.site is None or subject.room is None:
        return subject.id
    where = rooms.get((subject.site, subject.room), subject.room)
    return f"{where} · {subject.sensor}" if subject.sensor else where


def alerts_lines(state: DemoState, short_names: bool = False) -> list[str]:
    """One line per open alert, worst first (empty when there are none): severity, room name
    and sensor, what, since when (site time), its state and the reminders it has sent — one
    line however many reminders the compressed clock brings."""
    zone = state.registry.default_timezone
    rooms = _room_names(state, short_names)
    reminders = state.notifications.reminders
    lines = []
    for alert in _ordered(state.open_alerts):
        sent = reminders.get(alert.id, 0)
        told = f", {sent} reminder{'s' if sent != 1 else ''}" if sent else ""
        lines.append(
            f"{alert.severity.label:<8} {_place(alert.subject, rooms)}: {alert.summary} "
            f"(since {alert.since.astimezone(zone):%d %b %H:%M}, {alert.state.value}{told})"
        )
    return lines


def _ordered(alerts: Sequence[Alert]) -> list[Alert]:
    return sorted(alerts, key=lambda a: (-a.severity, a.subject.id, a.rule))


def _alerts_text(lines: list[str]) -> Text:
    if not lines:
        return Text("open alerts: none", "green")
    return Text("open alerts:\n" + "\n".join(f"  {line}" for line in lines), "red")


def _notified_text(state: DemoState, recent: int) -> Text:
    feed = state.notifications
    subjects = list(feed.subjects)[-recent:] if recent else []
    reminders = sum(feed.reminders.values())
    head = f"notifications sent: {feed.sent}"
    if reminders:
        head += f" ({reminders} reminders, counted per alert above)"
    return Text(
        head + "".join(f"\n  {subject}" for subject in subjects),
        "yellow" if subjects else "",
    )


def render(
    state: DemoState,
    latest: LatestValues,
    console: Console | None = None,
    size: ConsoleDimensions | None = None,
) -> Group:
    """Everything the live view shows, fitted to ``size`` (default: ``console``'s): the full
    layout when it fits, else the compact one, which keeps the open alerts on screen."""
    full = _full_layout(state, latest)
    if console is None:
        return full
    width, height = size or console.size
    if _height(console, full, width) <= height:
        return full
    return _compact_layout(state, latest, console, width, height)


def _full_layout(state: DemoState, latest: LatestValues) -> Group:
    at = as_of(state, latest).astimezone(state.registry.default_timezone)
    judged = "" if state.clock.caught_up else f" · readings in up to {at:%H:%M}"
    header = Text.assemble(
        ("repoclimate demo", "bold"),
        f" · broker {state.broker_url} (embedded, MQTT 3.1.1) · store {state.store_path}\n",
        f"{start_line(state)} · {clock_line(state)}{judged}",
    )
    footer = Text(counts_line(state) + "\nCtrl-C stops the demo.", "dim")
    parts: list[RenderableType] = [
        header,
        rooms_table(state, latest),
        _alerts_text(alerts_lines(state)),
        _notified_text(state, RECENT_NOTIFICATIONS),
        footer,
    ]
    if state.error:
        parts.append(Text(state.error, "bold red"))
    return Group(*parts)


def _compact_layout(
    state: DemoState, latest: LatestValues, console: Console, width: int, height: int
) -> Group:
    header = Text.assemble(("repoclimate demo", "bold"), " · ", clock_line(state))
    header.no_wrap, header.overflow = True, "ellipsis"
    footer = Text(counts_line(state) + " · Ctrl-C stops", "dim", no_wrap=True, overflow="ellipsis")
    notified = _notified_text(state, 1)
    notified.no_wrap, notified.overflow = True, "ellipsis"
    top: list[RenderableType] = [header]
    if state.error:
        top.append(Text(state.error, "bold red"))
    bottom: list[RenderableType] = [notified, footer]
    fixed = sum(_height(console, part, width) for part in (*top, *bottom))

    # the alerts first: at most half the screen, worst first, then the table gets the rest
    lines = alerts_lines(state, short_names=True)
    alerts = _alerts_text(lines)
    budget = max(height - fixed, 2)
    shown = len(lines)
    while shown > 0 and _height(console, alerts, width) > max(budget // 2, 2):
        shown -= 1
        more = len(lines) - shown
        alerts = _alerts_text([*lines[:shown], f"… {more} more (repoclimate alerts list)"])
    table_rows = budget - _height(console, alerts, width) - 1  # the table's header line
    table = compact_table(state, latest, max_rows=max(table_rows, 1))
    return Group(*top, alerts, table, *bottom)


def _height(console: Console, renderable: RenderableType, width: int) -> int:
    options = console.options.update(width=width, height=None)
    return len(console.render_lines(renderable, options, pad=False))


def refresh_latest(state: DemoState, latest: LatestValues) -> None:
    """Read the newest readings from the demo's store into ``latest``."""
    latest.update(state.store.latest())


def show_live(console: Console, refresh_s: float = 0.5) -> View:
    """The live view for an interactive terminal, fitted to its size at every refresh."""

    def show(state: DemoState, stop: threading.Event) -> None:
        latest = LatestValues()
        refresh_latest(state, latest)
        with Live(render(state, latest, console), console=console, auto_refresh=False) as live:
            while not stop.wait(refresh_s):
                refresh_latest(state, latest)
                live.update(render(state, latest, console), refresh=True)
            refresh_latest(state, latest)
            live.update(render(state, latest, console), refresh=True)

    return show


def show_plain(console: Console, every_s: float = 5.0) -> View:
    """Plain summaries every ``every_s`` seconds, for logs and terminals without a TTY.

    Each notification is a line, except reminders: the summary counts them (under the demo's
    compressed clock a firing alert reminds every few wall seconds)."""

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
            told, subjects = feed.told, list(feed.subjects)
            for subject in subjects[len(subjects) - min(told - printed, len(subjects)) :]:
                say(f"notification: {subject}")
            printed = told
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
    reminders = sum(state.notifications.reminders.values())
    return (
        f"{clock_line(state)}: {counts_line(state)}; {reporting} sensors reporting; "
        f"{alerts} open alert{'s' if alerts != 1 else ''}"
        + (f" ({reminders} reminder{'s' if reminders != 1 else ''} sent)" if reminders else "")
    )
