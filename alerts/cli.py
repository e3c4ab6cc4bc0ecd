"""``repoclimate alerts …``: list, acknowledge and silence alerts, run one evaluation, backtest.

A typer sub-app (`alerts_app`) that ``app.cli`` mounts. Settings come from the service's config
file (``--config``: its ``store``, ``registry`` and ``alerts`` sections); ``--state`` points at an
alert database directly.
"""

from __future__ import annotations

import getpass
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn
from zoneinfo import ZoneInfo

import typer

from repoclimate.alerts import actions
from repoclimate.alerts.backtest import backtest, format_report
from repoclimate.alerts.clock import SystemClock
from repoclimate.alerts.config import RULE_CLASSES
from repoclimate.alerts.model import Alert
from repoclimate.alerts.render import local, rule_title
from repoclimate.alerts.settings import AlertSettings
from repoclimate.alerts.state import AlertNotFoundError, AlertStore, TransitionError
from repoclimate.alerts.topology import Topology
from repoclimate.sensors.yamlfile import ConfigError

alerts_app = typer.Typer(
    name="alerts", help="Alerts: list, acknowledge, silence, backtest.", no_args_is_help=True
)

CONFIG_ENV_VAR = "REPOCLIMATE_CONFIG"
"""As for the other commands (`app.settings.CONFIG_ENV_VAR`): names the config file when
``--config`` is not given."""

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        envvar=CONFIG_ENV_VAR,
        help="service config file (YAML); REPOCLIMATE_* environment variables override it",
        show_default=False,
    ),
]
RegistryOption = Annotated[
    Path | None,
    typer.Option(
        "--registry",
        "-r",
        help="registry whose sites' time zones the times are shown in (default: the config's)",
        show_default=False,
    ),
]
StateOption = Annotated[
    Path | None, typer.Option("--state", help="alert state database (overrides the config)")
]


@dataclass
class _Context:
    alerts: AlertSettings
    settings: Any


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _context(config: Path | None, need_service: bool = False) -> _Context:
    if config is None and not need_service:
        return _Context(AlertSettings(), None)
    from repoclimate.app.settings import SettingsError, load_settings

    try:
        settings = load_settings(config)
    except SettingsError as exc:
        _fail(str(exc))
    alert_settings = getattr(settings, "alerts", None)
    return _Context(
        alert_settings if isinstance(alert_settings, AlertSettings) else AlertSettings(), settings
    )


def _state(config: Path | None, state: Path | None) -> AlertStore:
    path = state or _context(config).alerts.state_path
    return AlertStore(path)


def _duration(text: str) -> timedelta:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if not match:
        raise typer.BadParameter(f"{text!r}: use a number and s, m, h, d or w (e.g. 2h, 3d)")
    value = float(match.group(1))
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]
    return timedelta(seconds=value * unit)


def _when(text: str, zone: ZoneInfo) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(
            f"{text!r}: use an ISO date or time, e.g. 2026-01-31T18:00"
        ) from exc
    return parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed


def _alert_row(alert: Alert, zones: Topology | None) -> str:
    """One line per alert, its "since" in the local time of the alert's site (UTC when no
    registry is at hand)."""
    where = alert.subject.id
    zone = zones.timezone(alert.subject.site) if zones is not None else ZoneInfo("UTC")
    return (
        f"{alert.id:>5}  {alert.state.value:<12} {alert.severity.label:<8} "
        f"{rule_title(alert.rule):<34} {where:<40} since {local(alert.since, zone)}  "
        f"{alert.summary}"
    )


def _sites(config: Path | None, registry: Path | None) -> Topology | None:
    """The sites (for their time zones) of ``registry``, else of the config's registry."""
    from repoclimate.sensors.registry import RegistryError, load_registry

    try:
        if registry is not None:
            return Topology.from_registry(load_registry(registry))
        if config is None:
            return None
        settings = _context(config).settings
        path = getattr(settings, "registry", None)
        return Topology.from_registry(load_registry(path)) if path is not None else None
    except RegistryError as exc:
        _fail("\n".join(f"registry error: {issue}" for issue in exc.issues))


@alerts_app.command("list")
def list_command(
    config: ConfigOption = None,
    state: StateOption = None,
    registry: RegistryOption = None,
    all_: Annotated[bool, typer.Option("--all", help="include resolved alerts")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """List open alerts (pending, firing, acknowledged), times in each site's local time."""
    sites = None if as_json else _sites(config, registry)
    store = _state(config, state)
    try:
        alerts = actions.list_alerts(store, include_resolved=all_)
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
    for alert in alerts:
        typer.echo(_alert_row(alert, sites))


@alerts_app.command("ack")
def ack_command(
    alert_id: Annotated[int, typer.Argument(help="alert id (from `alerts list`)")],
    config: ConfigOption = None,
    state: StateOption = None,
    by: Annotated[str | None, typer.Option("--by", help="who acknowledges")] = None,
    note: Annotated[str, typer.Option("--note", help="what you are doing about it")] = "",
) -> None:
    """Acknowledge a firing alert: escalation and reminders stop."""
    store = _state(config, state)
    try:
        alert = actions.acknowledge(
            store, alert_id, by or getpass.getuser(), SystemClock().now(), note
        )
    except (AlertNotFoundError, TransitionError, actions.ActionError) as exc:
        _fail(str(exc).strip("'\""))
    finally:
        store.close()
    typer.echo(f"Acknowledged alert {alert.id} ({rule_title(alert.rule)}, {alert.subject.id}).")


@alerts_app.command("silence")
def silence_command(
    reason: Annotated[str, typer.Option("--reason", help="why (maintenance, known fault…)")],
    config: ConfigOption = None,
    state: StateOption = None,
    site: Annotated[str | None, typer.Option("--site")] = None,
    room: Annotated[str | None, typer.Option("--room")] = None,
    sensor: Annotated[str | None, typer.Option("--sensor")] = None,
    rule: Annotated[
        str | None, typer.Option("--rule", help="a rule id or class, e.g. mould or sensor.silent")
    ] = None,
    for_: Annotated[str | None, typer.Option("--for", help="duration, e.g. 4h or 2d")] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="end time (ISO, UTC if naive)")
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="who silences")] = None,
) -> None:
    """Silence notifications for a site, room, sensor or rule until an end time."""
    now = SystemClock().now()
    if (for_ is None) == (until is None):
        _fail("give exactly one of --for and --until")
    ends = now + _duration(for_) if for_ is not None else _when(until or "", ZoneInfo("UTC"))
    store = _state(config, state)
    try:
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
    typer.echo(f"Silence {created.id} until {created.ends_at.isoformat()}: {created.reason}")


@alerts_app.command("silences")
def silences_command(config: ConfigOption = None, state: StateOption = None) -> None:
    """List silences in force."""
    store = _state(config, state)
    try:
        found = store.silences(active_at=SystemClock().now())
    finally:
        store.close()
    if not found:
        typer.echo("No silences in force.")
    for s in found:
        match = " ".join(
            f"{k}={v}"
            for k, v in (("site", s.site), ("room", s.room), ("sensor", s.sensor), ("rule", s.rule))
            if v
        )
        typer.echo(
            f"{s.id:>4}  until {s.ends_at.isoformat()}  {match}  by {s.created_by}: {s.reason}"
        )


@alerts_app.command("unsilence")
def unsilence_command(
    silence_id: Annotated[int, typer.Argument()],
    config: ConfigOption = None,
    state: StateOption = None,
) -> None:
    """End a silence now."""
    store = _state(config, state)
    try:
        actions.end_silence(store, silence_id, SystemClock().now())
    except actions.ActionError as exc:
        _fail(str(exc))
    finally:
        store.close()
    typer.echo(f"Silence {silence_id} ended.")


def _service(config: Path | None) -> tuple[_Context, Any, Any]:
    from repoclimate.app.wiring import registry_from
    from repoclimate.history import open_store
    from repoclimate.sensors.registry import RegistryError

    ctx = _context(config, need_service=True)
    try:
        registry = registry_from(ctx.settings.registry)
    except RegistryError as exc:
        _fail("\n".join(f"registry error: {issue}" for issue in exc.issues))
    return ctx, registry, open_store(ctx.settings.store)


@alerts_app.command("evaluate")
def evaluate_command(config: ConfigOption = None) -> None:
    """Evaluate every rule once now, notify, and deliver the outbox once."""
    from repoclimate.alerts.runtime import build_alerting

    ctx, registry, store = _service(config)
    try:
        alerting = build_alerting(
            ctx.alerts, store, registry, default_mqtt_url=ctx.settings.mqtt.url
        )
    except ConfigError as exc:
        _fail(str(exc))
    try:
        now = SystemClock().now()
        opened = alerting.engine.evaluate(now)
        report = alerting.outbox.deliver_due(now)
    finally:
        alerting.close()
        store.close()
    for alert in opened:
        typer.echo(_alert_row(alert, alerting.engine.topology))
    typer.echo(
        f"{len(opened)} open alerts; notifications: {report.sent} sent, {report.retried} to "
        f"retry, {report.failed} failed."
    )


@alerts_app.command("backtest")
def backtest_command(
    start: Annotated[str, typer.Option("--start", help="ISO date/time (site local if naive)")],
    end: Annotated[str, typer.Option("--end", help="ISO date/time (site local if naive)")],
    config: ConfigOption = None,
    rules: Annotated[
        Path | None, typer.Option("--rules", help="rules YAML to try (overrides the config)")
    ] = None,
    classes: Annotated[
        str | None, typer.Option("--classes", help=f"comma list of {', '.join(RULE_CLASSES)}")
    ] = None,
) -> None:
    """Run the rules over stored history as if live; print every alert that would have fired
    and resolved."""
    from repoclimate.alerts.config import RulesConfig

    ctx, registry, store = _service(config)
    topology = Topology.from_registry(registry)
    zone = topology.timezone(None)
    wanted = None
    if classes:
        wanted = [c.strip() for c in classes.split(",") if c.strip()]
        unknown = set(wanted) - set(RULE_CLASSES)
        if unknown:
            _fail(f"unknown rule classes {sorted(unknown)}; known: {', '.join(RULE_CLASSES)}")
    try:
        rules_path = rules or ctx.alerts.rules
        config_rules = RulesConfig.load(rules_path) if rules_path else RulesConfig.builtin()
    except ConfigError as exc:
        _fail(str(exc))
    try:
        result = backtest(
            store,
            topology,
            config_rules,
            _when(start, zone).astimezone(UTC),
            _when(end, zone).astimezone(UTC),
            intervals=ctx.alerts.intervals.rule_classes(),
            classes=wanted,
        )
    except ValueError as exc:
        _fail(str(exc))
    finally:
        store.close()
    typer.echo(format_report(result, topology))
