"""`repoclimate check-config`: every problem in the settings and the files they name, located.

Every problem, whichever file it is in, is a `sensors.yamlfile.Issue` and prints the same way:
``file:line: field: reason`` (the environment variable in place of ``file:line`` when the value
came from one). Beyond the files' contents, the places the service will write — the alert state,
the spool, the SQLite store — are checked: their directory must exist or be creatable, and be
writable.
"""

from __future__ import annotations

import os
from pathlib import Path

from repoclimate.alerts.runtime import load_rota, load_rules
from repoclimate.app.settings import Settings, SettingsError, load_settings_with_sources
from repoclimate.app.wiring import registry_from
from repoclimate.preservation.profiles import PROFILES, lookup_profile
from repoclimate.sensors.registry import Registry
from repoclimate.sensors.yamlfile import ConfigError, FieldPath, Issue, Locate, render_path


def check_all(config: Path | None, registry_path: Path | None) -> tuple[list[str], str]:
    """Problems as ``file:line: field: reason`` lines, and a summary when there are none."""
    issues, summary = check_issues(config, registry_path)
    return [str(issue) for issue in issues], summary


def check_issues(config: Path | None, registry_path: Path | None) -> tuple[list[Issue], str]:
    """Every problem found, in the order settings, registry, rules, rota, writable paths; and
    a summary when there are none."""
    try:
        settings, locate = load_settings_with_sources(config)
    except SettingsError as exc:
        return exc.issues, ""
    registry_path = registry_path or settings.registry
    issues: list[Issue] = []
    registry = Registry.empty()
    try:
        registry = registry_from(registry_path)
        registry.check_profiles(PROFILES)  # takes the old ids too, lists the current ones
    except ConfigError as exc:
        issues.extend(exc.issues)
    if settings.alerts.enabled:
        for load in (load_rules, load_rota):
            try:
                load(settings.alerts)
            except ConfigError as exc:
                issues.extend(exc.issues)
    issues.extend(writable_path_issues(settings, locate))
    if issues:
        return issues, ""
    return [], _summary(settings, registry, registry_path)


def writable_path_issues(settings: Settings, locate: Locate) -> list[Issue]:
    """The places the service writes that it could not: each at the setting that names it."""
    places: list[tuple[FieldPath, Path, bool]] = [
        (("collector", "spool_dir"), settings.collector.spool_dir, True)
    ]
    if settings.store.kind == "sqlite":
        places.append((("store", "sqlite_path"), settings.store.sqlite_path, False))
    if settings.alerts.enabled and settings.alerts.state_is_file():
        places.append((("alerts", "state_path"), settings.alerts.state_path, False))
    issues = []
    for key, path, is_directory in places:
        reason = unwritable_reason(path, directory=is_directory)
        if reason is not None:
            source, line = locate(key)
            issues.append(Issue(source, line, render_path(key), reason))
    return issues


def unwritable_reason(path: Path, *, directory: bool) -> str | None:
    """Why the service could not create or write ``path`` (a directory when ``directory``,
    else a file such as an SQLite database, which also needs its directory writable for its
    journal), or None when it can. Missing directories count as fine when they can be created,
    as the service creates them."""
    if path.is_dir() and not directory:
        return f"{path} is a directory, not a file"
    if path.exists() and not path.is_dir() and directory:
        return f"{path} is not a directory"
    if not directory and path.exists() and not os.access(path, os.W_OK):
        return f"{path} is not writable"
    folder = path if directory else path.parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"cannot create directory {folder}: {existing} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        if existing == folder:
            return f"directory {folder} is not writable"
        return f"cannot create directory {folder}: {existing} is not writable"
    return None


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
        *_old_profile_names(registry),
    ]
    return "\n".join(lines)


def _old_profile_names(registry: Registry) -> list[str]:
    """A warning (not an error) for each room that names its profile by an old id, located
    like every problem: ``registry.yaml:102: sites[0].rooms[6].profile: warning: …``."""
    warnings = []
    for s, site in enumerate(registry.sites):
        for r, room in enumerate(site.rooms):
            warning = lookup_profile(room.profile).warning
            if warning is not None:
                issue = registry.issue(("sites", s, "rooms", r, "profile"), f"warning: {warning}")
                warnings.append(str(issue))
    return warnings


def _alerts_line(settings: Settings) -> str:
    alerts = settings.alerts
    if not alerts.enabled:
        return "alerts: disabled"
    rules = alerts.rules or "built-in defaults"
    rota = alerts.rota or "none (alerts are logged, nobody is called)"
    return f"alerts: rules {rules}; rota {rota}; state {alerts.state_description()}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
