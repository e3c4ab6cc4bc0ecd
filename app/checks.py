"""`repoclimate check-config`: every problem in the settings and the files they name, located."""

from __future__ import annotations

from pathlib import Path

from repoclimate.alerts.runtime import load_rota, load_rules
from repoclimate.app.settings import Settings, SettingsError, load_settings
from repoclimate.app.wiring import registry_from, registry_problems
from repoclimate.preservation.profiles import PROFILES
from repoclimate.sensors.registry import Registry, RegistryError
from repoclimate.sensors.yamlfile import ConfigError


def check_all(config: Path | None, registry_path: Path | None) -> tuple[list[str], str]:
    """Problems as ``file:line: field: reason`` lines, and a summary when there are none."""
    try:
        settings = load_settings(config)
    except SettingsError as exc:
        return [f"settings error: {problem.located()}" for problem in exc.problems], ""
    registry_path = registry_path or settings.registry
    problems: list[str] = []
    registry = Registry.empty()
    try:
        registry = registry_from(registry_path)
        registry.check_profiles(PROFILES)
    except RegistryError as exc:
        problems.extend(registry_problems(exc))
    if settings.alerts.enabled:
        try:
            load_rules(settings.alerts)
            load_rota(settings.alerts)
        except ConfigError as exc:
            problems.extend(f"alerts error: {line}" for line in str(exc).splitlines())
    if problems:
        return problems, ""
    return [], _summary(settings, registry, registry_path)


def _summary(settings: Settings, registry: Registry, registry_path: Path | None) -> str:
    rooms = list(registry.rooms())
    sensors = list(registry.sensors())
    store = settings.store
    where = store.sqlite_path if store.kind == "sqlite" else f"{store.url} ({store.api_version})"
    lines = [
        "config OK",
        f"registry: {registry_path or 'none (every sensor unassigned)'}: "
        f"{_count(len(registry.sites), 'site')}, {_count(len(rooms), 'room')}, "
        f"{_count(len(sensors), 'sensor')}",
        f"store: {store.kind} {where}",
        f"broker: {settings.mqtt.url} (MQTT {settings.mqtt.protocol}), "
        f"{_count(len(settings.mqtt.topics), 'topic route')}",
        _alerts_line(settings),
    ]
    return "\n".join(lines)


def _alerts_line(settings: Settings) -> str:
    alerts = settings.alerts
    if not alerts.enabled:
        return "alerts: disabled"
    rules = alerts.rules or "built-in defaults"
    rota = alerts.rota or "none (alerts are logged, nobody is called)"
    return f"alerts: rules {rules}; rota {rota}; state {alerts.state_path}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
