"""``repoclimate alerts …``: list, acknowledge and silence alerts, run one evaluation, backtest.

A typer sub-app (`alerts_app`) that `repoclimate.app.cli` mounts. The alert engine's pieces come
from `repoclimate.alerts`; this module only finds the files, checks what a person typed and
presents the answers.

Where the files are: the service's config file (``--config``: its ``store``, ``registry`` and
``alerts`` sections), or a demo's data directory (``--data-dir DIR``: ``DIR/alerts.sqlite``,
``DIR/registry.yaml``, ``DIR/readings.sqlite``); ``--state`` and ``--registry`` name one file
directly and win over both. Commands that read alert state refuse a state file that does not
exist (a mistyped path must not look like a quiet site), and create nothing.

Times: what is shown is in the site's local time with its zone (UTC only when no registry is at
hand to say where the site is); a time typed without an offset is the site's local time too.
"""

from __future__ import annotations

import difflib
import getpass
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, NoReturn
from zoneinfo import ZoneInfo

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from repoclimate.alerts import actions
from repoclimate.alerts.backtest import backtest, format_report
from repoclimate.alerts.clock import SystemClock
from repoclimate.alerts.config import RULE_CLASSES, RulesConfig
from repoclimate.alerts.model import Alert, Silence
from repoclimate.alerts.render import RULE_TITLES, local, rule_title
from repoclimate.alerts.state import AlertNotFoundError, AlertStore, StateError, TransitionError
from repoclimate.alerts.topology import Topology
from repoclimate.app.options import ConfigOption
from repoclimate.app.settings import CONFIG_ENV_VAR, Settings, SettingsError, load_settings
from repoclimate.history import StoreSettings, open_store
from repoclimate.sensors.durations import DurationError, parse_duration
from repoclimate.sensors.registry import RegistryError, load_registry
from repoclimate.sensors.yamlfile import ConfigError

alerts_app = typer.Typer(
    name="alerts", help="Alerts: list, acknowledge, silence, backtest.", no_args_is_help=True
)

__all__ = ["CONFIG_ENV_VAR", "alerts_app"]

DEMO_STATE = "alerts.sqlite"
DEMO_REGISTRY = "registry.yaml"
DEMO_STORE = "readings.sqlite"
"""The files a demo keeps in its ``--data-dir`` (`repoclimate.app.demo`)."""

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help=f"a demo's data directory (its {DEMO_STATE}, {DEMO_REGISTRY}, {DEMO_STORE})",
        show_default=False,
    ),
]
RegistryOption = Annotated[
    Path | None,
    typer.Option(
        "--registry",
        "-r",
        help="registry whose sites' time zones and places are used (default: the config's)",
        show_default=False,
    ),
]
StateOption = Annotated[
    Path | None,
    typer.Option("--state", help="alert state database (overrides the config)", show_default=False),
]


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


@dataclass(frozen=True)
class _Files:
    """Where one command's files are, and where each path came from (for error messages)."""

    settings: Settings
    state: Path | str
    state_from: str
    registry: Path | None
    store: StoreSettings


def _files(
    config: Path | None,
    data_dir: Path | None = None,
    state: Path | None = None,
    registry: Path | None = None,
) -> _Files:
    try:
        settings = load_settings(config)
    except SettingsError as exc:
        _fail(str(exc))
    key = "alerts.state_path" if settings.alerts.state_is_file() else "alerts.state_url"
    state_path: Path | str = settings.alerts.state_target()
    state_from = f"{key} of {config}" if config else f"the default {key}"
    registry_path = settings.registry
    store = settings.store
    if data_dir is not None:
        if not data_dir.is_dir():
            _fail(f"--data-dir {data_dir}: no such directory")
        state_path, state_from = data_dir / DEMO_STATE, f"--data-dir {data_dir}"
        registry_path = data_dir / DEMO_REGISTRY
        store = StoreSettings(kind="sqlite", sqlite_path=data_dir / DEMO_STORE)
    if state is not None:
        state_path, state_from = state, "--state"
    if registry is not None:
        registry_path = registry
    return _Files(settings, state_path, state_from, registry_path, store)


def _open_state(files: _Files) -> AlertStore:
    """The existing alert state; a missing file is refused, not created empty."""
    if isinstance(files.state, Path) and not files.state.is_file():
        _fail(
            f"no alert state at {files.state} (from {files.state_from}): check the path, or "
            "give --config FILE, --data-dir DIR or --state PATH"
        )
    try:
        return AlertStore(files.state)
    except StateError as exc:  # a newer version's file, or not an alert state at all
        _fail(str(exc))


def _topology(files: _Files) -> Topology | None:
    """The registry's sites, rooms and sensors, or None when no registry is configured."""
    if files.registry is None:
        return None
    try:
        return Topology.from_registry(load_registry(files.registry))
    except RegistryError as exc:
        _fail(str(exc))


def _zone(topology: Topology | None, site: str | None) -> ZoneInfo:
    return topology.timezone(site) if topology is not None else ZoneInfo("UTC")


def _when(text: str, zone: ZoneInfo, option: str) -> datetime:
    """An ISO time a person typed: with an offset as given, without one in ``zone``."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: use an ISO date or time, e.g. 2026-01-31T18:00 (site time) or "
            "2026-01-31T18:00+01:00",
            param_hint=option,
        ) from None
    return (parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed).astimezone(UTC)


def _console() -> Console:
    """The terminal's width on a terminal; wide when piped (one line per row for grep and
    scripts) unless ``COLUMNS`` says otherwise."""
    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 250
    return console


def _table() -> Table:
    """A plain table: a header row over aligned columns, no frame to copy along."""
    return Table(box=box.SIMPLE_HEAD, show_edge=False, header_style="bold", pad_edge=False)


def _silenced_by(alert: Alert, silences: Sequence[Silence]) -> list[Silence]:
    return [s for s in silences if s.matches(alert.rule, alert.subject)]


def _state_text(alert: Alert, silenced: Sequence[Silence], zone: ZoneInfo) -> str:
    if not silenced:
        return alert.state.value
    until = max(s.ends_at for s in silenced)
    return f"{alert.state.value}, silenced until {local(until, zone)}"


def _alerts_table(
    alerts: Iterable[Alert], silences: Sequence[Silence], topology: Topology | None
) -> Table:
    table = _table()
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("state", min_width=6)
    table.add_column("severity", no_wrap=True)
    table.add_column("alert", min_width=10)
    table.add_column("where", no_wrap=True)  # what --site/--room/--sensor take: never cut
    table.add_column("since", min_width=10)
    table.add_column("now", ratio=1, min_width=12)
    for alert in alerts:
        zone = _zone(topology, alert.subject.site)
        table.add_row(
            str(alert.id),
            _state_text(alert, _silenced_by(alert, silences), zone),
            alert.severity.label,
            rule_title(alert.rule),
            alert.subject.id,
            local(alert.since, zone),
            alert.summary,
        )
    return table


@alerts_app.command("list")
def list_command(
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    state: StateOption = None,
    registry: RegistryOption = None,
    all_: Annotated[bool, typer.Option("--all", help="include resolved alerts")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """List open alerts (pending, firing, acknowledged), times in each site's local time;
    alerts whose notifications a silence holds back say so."""
    files = _files(config, data_dir, state, registry)
    store = _open_state(files)
    try:
        now = SystemClock().now()
        alerts = actions.list_alerts(store, include_resolved=all_)
        silences = store.silences(active_at=now)
    finally:
        store.close()
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "id": a.id,
                        "rule": a.rule,
                        "subject": a.subject.id,
                        "state": a.state.value,
                        "severity": a.severity.label,
                        "since": a.since.isoformat(),
                        "value": a.value,
                        "threshold": a.threshold,
                        "unit": a.unit,
                        "summary": a.summary,
                        "acknowledged_by": a.acknowledged_by,
                        "silenced_by": [s.id for s in _silenced_by(a, silences)],
                    }
                    for a in alerts
                ],
                indent=2,
            )
        )
        return
    if not alerts:
        typer.echo("No open alerts." if not all_ else "No alerts.")
        return
    _console().print(_alerts_table(alerts, silences, _topology(files)))


@alerts_app.command("ack")
def ack_command(
    alert_id: Annotated[int, typer.Argument(help="alert id (from `alerts list`)")],
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    state: StateOption = None,
    by: Annotated[str | None, typer.Option("--by", help="who acknowledges")] = None,
    note: Annotated[str, typer.Option("--note", help="what you are doing about it")] = "",
) -> None:
    """Acknowledge a firing alert: escalation and reminders stop."""
    store = _open_state(_files(config, data_dir, state))
    try:
        alert = actions.acknowledge(
            store, alert_id, by or getpass.getuser(), SystemClock().now(), note
        )
    except (AlertNotFoundError, TransitionError, actions.ActionError) as exc:
        _fail(str(exc).strip("'\""))
    finally:
        store.close()
    typer.echo(f"Acknowledged alert {alert.id} ({rule_title(alert.rule)}, {alert.subject.id}).")


def _unknown(kind: str, value: str, known: Iterable[str], where: str) -> NoReturn:
    names = sorted(set(known))
    close = difflib.get_close_matches(value, names, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    listed = f" (known: {', '.join(names)})" if names and len(names) <= 12 else ""
    _fail(f"no {kind} {value!r} {where}{hint}{listed}")


def _check_silence_target(
    topology: Topology | None,
    alerts: Sequence[Alert],
    site: str | None,
    room: str | None,
    sensor: str | None,
    rule: str | None,
) -> None:
    """Refuse a silence for a site, room, sensor or rule that does not exist (naming it).

    Places are checked against the registry; without one, against the places of the alerts
    recorded so far (a room never alerted on can then be silenced with ``--registry``)."""
    if rule is not None:
        classes = {r.split(".")[0] for r in RULE_TITLES}
        if rule not in RULE_TITLES and rule not in classes:
            _unknown("rule", rule, [*RULE_TITLES, *classes], "(give a rule id or class)")
    if topology is not None:
        where = "in the registry"
        places: list[tuple[str | None, str | None, str | None]] = [
            (sensor_node.site, sensor_node.room, sensor_node.id)
            for sensor_node in topology.sensors()
        ]
        places += [(room_node.site, room_node.id, None) for room_node in topology.rooms()]
        places += [(site_node.id, None, None) for site_node in topology.sites]
    else:
        where = "in any recorded alert (no registry to check against: give --registry)"
        places = [(a.subject.site, a.subject.room, a.subject.sensor) for a in alerts]
    if site is not None and site not in {p[0] for p in places}:
        _unknown("site", site, (p[0] for p in places if p[0]), where)
    at_site = [p for p in places if site is None or p[0] == site]
    if room is not None and room not in {p[1] for p in at_site}:
        _unknown(
            "room", room, (p[1] for p in at_site if p[1]), where + (f" at {site}" * bool(site))
        )
    in_room = [p for p in at_site if room is None or p[1] == room]
    if sensor is not None and sensor not in {p[2] for p in in_room}:
        scope = "/".join(x for x in (site, room) if x)
        _unknown(
            "sensor",
            sensor,
            (p[2] for p in in_room if p[2]),
            where + (f" at {scope}" * bool(scope)),
        )


@alerts_app.command("silence")
def silence_command(
    reason: Annotated[str, typer.Option("--reason", help="why (maintenance, known fault…)")],
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    state: StateOption = None,
    registry: RegistryOption = None,
    site: Annotated[str | None, typer.Option("--site")] = None,
    room: Annotated[str | None, typer.Option("--room")] = None,
    sensor: Annotated[str | None, typer.Option("--sensor")] = None,
    rule: Annotated[
        str | None, typer.Option("--rule", help="a rule id or class, e.g. mould or sensor.silent")
    ] = None,
    for_: Annotated[
        str | None, typer.Option("--for", help="duration, e.g. 4h, 2d or 1h30m")
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="end time, ISO; without an offset, the site's local time"),
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="who silences")] = None,
) -> None:
    """Silence notifications for a site, room, sensor or rule until an end time."""
    now = SystemClock().now()
    if (for_ is None) == (until is None):
        _fail("give exactly one of --for and --until")
    files = _files(config, data_dir, state, registry)
    store = _open_state(files)
    try:
        topology = _topology(files)
        _check_silence_target(
            topology, actions.list_alerts(store, include_resolved=True), site, room, sensor, rule
        )
        zone = _zone(topology, site or _site_of(topology, room, sensor))
        if for_ is not None:
            try:
                ends = now + parse_duration(for_)
            except DurationError as exc:
                raise typer.BadParameter(str(exc), param_hint="--for") from None
        else:
            ends = _when(until or "", zone, "--until")
        created = actions.silence(
            store,
            ends_at=ends,
            reason=reason,
            created_by=by or getpass.getuser(),
            now=now,
            site=site,
            room=room,
            sensor=sensor,
            rule=rule,
        )
    except actions.ActionError as exc:
        _fail(str(exc))
    finally:
        store.close()
    typer.echo(f"Silence {created.id} until {local(created.ends_at, zone)}: {created.reason}")


def _site_of(topology: Topology | None, room: str | None, sensor: str | None) -> str | None:
    """The site of a room or sensor given without ``--site`` (for its time zone)."""
    if topology is None:
        return None
    for node in topology.sensors():
        if node.id == sensor or (sensor is None and node.room == room):
            return node.site
    return None


@alerts_app.command("silences")
def silences_command(
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    state: StateOption = None,
    registry: RegistryOption = None,
) -> None:
    """List silences in force, their ends in the site's local time."""
    files = _files(config, data_dir, state, registry)
    store = _open_state(files)
    try:
        found = store.silences(active_at=SystemClock().now())
    finally:
        store.close()
    if not found:
        typer.echo("No silences in force.")
        return
    topology = _topology(files)
    table = _table()
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("until", min_width=10)
    table.add_column("matches", no_wrap=True)
    table.add_column("by")
    table.add_column("reason", ratio=1, min_width=12)
    for s in found:
        matches = " ".join(
            f"{k}={v}"
            for k, v in (("site", s.site), ("room", s.room), ("sensor", s.sensor), ("rule", s.rule))
            if v
        )
        zone = _zone(topology, s.site or _site_of(topology, s.room, s.sensor))
        table.add_row(str(s.id), local(s.ends_at, zone), matches, s.created_by, s.reason)
    _console().print(table)


@alerts_app.command("unsilence")
def unsilence_command(
    silence_id: Annotated[int, typer.Argument()],
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    state: StateOption = None,
) -> None:
    """End a silence now."""
    store = _open_state(_files(config, data_dir, state))
    try:
        actions.end_silence(store, silence_id, SystemClock().now())
    except actions.ActionError as exc:
        _fail(str(exc))
    finally:
        store.close()
    typer.echo(f"Silence {silence_id} ended.")


@alerts_app.command("evaluate")
def evaluate_command(config: ConfigOption = None) -> None:
    """Evaluate every rule once now, notify, and deliver the outbox once."""
    from repoclimate.alerts.runtime import build_alerting
    from repoclimate.app.wiring import registry_from

    files = _files(config)
    try:
        registry = registry_from(files.registry)
    except RegistryError as exc:
        _fail(str(exc))
    store = open_store(files.store)
    try:
        alerting = build_alerting(
            files.settings.alerts, store, registry, default_mqtt_url=files.settings.mqtt.url
        )
    except ConfigError as exc:
        store.close()
        _fail(str(exc))
    try:
        now = SystemClock().now()
        opened = alerting.engine.evaluate(now)
        report = alerting.outbox.deliver_due(now)
    finally:
        alerting.close()
        store.close()
    if opened:
        _console().print(_alerts_table(opened, [], alerting.engine.topology))
    typer.echo(
        f"{len(opened)} open alerts; notifications: {report.sent} sent, {report.retried} to "
        f"retry, {report.failed} failed."
    )


@alerts_app.command("backtest")
def backtest_command(
    start: Annotated[
        str, typer.Option("--start", help="ISO date/time; without an offset, site local time")
    ],
    end: Annotated[
        str, typer.Option("--end", help="ISO date/time; without an offset, site local time")
    ],
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    rules: Annotated[
        Path | None, typer.Option("--rules", help="rules YAML to try (overrides the config)")
    ] = None,
    classes: Annotated[
        str | None, typer.Option("--classes", help=f"comma list of {', '.join(RULE_CLASSES)}")
    ] = None,
) -> None:
    """Run the rules over stored history as if live; print every alert that would have fired
    and resolved."""
    wanted = None
    if classes:
        wanted = [c.strip() for c in classes.split(",") if c.strip()]
        unknown = set(wanted) - set(RULE_CLASSES)
        if unknown:
            _fail(f"unknown rule classes {sorted(unknown)}; known: {', '.join(RULE_CLASSES)}")
    files = _files(config, data_dir)
    if files.registry is None:
        _fail(
            "alerts backtest needs the registry's sensors and the store of their readings: give "
            "--config FILE (its registry and store) or --data-dir DIR (a demo's data directory)"
        )
    if files.store.kind == "sqlite" and not files.store.sqlite_path.is_file():
        _fail(f"no readings store at {files.store.sqlite_path}: nothing to backtest")
    topology = _topology(files)
    assert topology is not None  # a registry is configured
    zone = topology.timezone(None)
    try:
        rules_path = rules or files.settings.alerts.rules
        config_rules = RulesConfig.load(rules_path) if rules_path else RulesConfig.builtin()
    except ConfigError as exc:
        _fail(str(exc))
    began, ended = _when(start, zone, "--start"), _when(end, zone, "--end")
    store = open_store(files.store)
    try:
        result = backtest(
            store,
            topology,
            config_rules,
            began,
            ended,
            intervals=files.settings.alerts.intervals.rule_classes(),
            classes=wanted,
        )
    except ValueError as exc:
        _fail(str(exc))
    finally:
        store.close()
    typer.echo(format_report(result, topology))
