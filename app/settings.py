"""The service's settings: one YAML file (``--config``) overridden by ``REPOCLIMATE_*`` variables.

Environment variables name a key by its path, upper-cased, joined with ``__`` and prefixed with
``REPOCLIMATE_``: ``store.url`` is ``REPOCLIMATE_STORE__URL``. A list or a whole section may be
given as JSON (``REPOCLIMATE_MQTT__TOPICS='[{"filter": "x/#", "format": "generic"}]'``).

Relative paths written in the YAML file resolve against the file's directory, so a config file
and the registry beside it can move together; relative paths from the environment or the
defaults resolve against the working directory.

A bad setting fails at start with `SettingsError`, one `sensors.yamlfile.Issue` per bad key:
where the value came from (file and line, or the environment variable), the key and the reason,
printed as ``config.yaml:3: store.api_version: Input should be 'v1' or 'v2'``.
"""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings import SettingsError as PydanticSettingsError

from repoclimate.alerts.settings import AlertSettings
from repoclimate.history.settings import StoreSettings
from repoclimate.ingest.settings import CollectorSettings, MqttSettings
from repoclimate.reports.settings import ReportSettings
from repoclimate.sensors.yamlfile import (
    ConfigError,
    FieldPath,
    Issue,
    Locate,
    issue_at,
    issues_from,
    load_yaml,
    unknown_key,
)

ENV_PREFIX = "REPOCLIMATE_"
ENV_DELIMITER = "__"
CONFIG_ENV_VAR = "REPOCLIMATE_CONFIG"
"""Names the config file when ``--config`` is not given; it is not itself a setting."""


class ApiSettings(BaseModel):
    """The HTTP API of `repoclimate serve`: where it listens, who may read, logs, sessions."""

    listen: str = "127.0.0.1:8080"
    public_read: bool = False
    log_format: Literal["text", "json"] = "text"
    session_max_age_s: int = Field(default=12 * 3600, ge=60)
    auth_cache_s: float = Field(default=5.0, ge=0, le=300)
    """Seconds a verified token or session is trusted without asking the database again; a
    revocation by another process or replica takes effect within this time (0: always ask)."""
    workers: int = Field(default=1, ge=1, le=64)
    """API processes on ``listen`` (SO_REUSEPORT): ``serve`` starts ``workers - 1`` more
    ``serve --only api`` replicas beside itself and stops them with itself."""
    history_rollups: bool = True
    """Answer ``every=1h|1d`` history from the store's rollups where they cover it."""
    present_cache_s: float = Field(default=10.0, ge=0, le=300)
    """A room's present state is kept at most this long [s], and only while the store (SQLite:
    its data version), the room's open alerts and the registry are unchanged and no reading
    of it ages out or turns silent (0: computed for every request)."""
    cookie_secure: bool = True
    ready_spool_limit: int = Field(default=100_000, ge=1)
    import_max_mb: float = Field(default=64.0, gt=0)
    """Largest ``POST /api/import`` upload (all files together) [MB]; larger ones get 413."""

    @field_validator("listen")
    @classmethod
    def _host_and_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        bad_host = not host.strip("[]") or " " in host
        if bad_host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("write HOST:PORT with a port of 1–65535, e.g. 127.0.0.1:8080")
        return value

    @property
    def host_port(self) -> tuple[str, int]:
        """``listen`` split into host and port (``[::1]:8080`` → ``("::1", 8080)``)."""
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


class Settings(BaseSettings):
    """Everything the service reads at start: broker, collector, store, registry, alerts,
    HTTP API, reports (the PDF engine), logging."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_DELIMITER,
        extra="forbid",
        hide_input_in_errors=True,  # a ValidationError's text never carries a password or URL
    )

    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    collector: CollectorSettings = Field(default_factory=CollectorSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    registry: Path | None = None
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    reports: ReportSettings = Field(default_factory=ReportSettings)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML file arrives as init arguments (see `load_settings`); the environment wins.
        return (env_settings, init_settings)


class SettingsError(ConfigError):
    """The settings cannot be loaded; ``issues`` lists every bad key."""


def load_settings(config: Path | None = None) -> Settings:
    """Load settings from ``config`` (YAML, optional) and ``REPOCLIMATE_*`` variables.

    Raises `SettingsError` naming every bad key, the reason and where the value came from.
    """
    return load_settings_with_sources(config)[0]


def load_settings_with_sources(config: Path | None = None) -> tuple[Settings, Locate]:
    """`load_settings`, and where each key's value came from: ``locate(("alerts",
    "state_path"))`` is ``(file, line)``, ``(environment variable, None)``, or ``(None, None)``
    for a default — to report problems found later (a directory that cannot be written) at the
    place the user can fix them."""
    data: dict[str, Any] = {}
    lines: dict[FieldPath, int] = {}
    if config is not None:
        data, lines = _read_yaml(config)
        _resolve_relative_paths(Settings, data, config.resolve().parent)
    _reject_unknown_env(os.environ)
    env = dict(os.environ)

    def locate(path: FieldPath) -> tuple[str | None, int | None]:
        return _source_of(path, env, config, lines)

    try:
        return Settings(**data), locate
    except ValidationError as exc:
        raise SettingsError(issues_from(exc, Settings, locate=locate)) from None
    except PydanticSettingsError as exc:
        raise SettingsError(Issue("environment", None, "", str(exc))) from None


def setting_keys(model: type[BaseModel] = Settings, prefix: str = "") -> Iterator[str]:
    """Every leaf key of the settings as a dotted path (``store.url``); lists are leaves."""
    for name, field in model.model_fields.items():
        nested = _model_of(field.annotation)
        if nested is None:
            yield prefix + name
        else:
            yield from setting_keys(nested, f"{prefix}{name}.")


def env_var_for(key: str) -> str:
    """The environment variable that sets a dotted key: ``store.url`` → REPOCLIMATE_STORE__URL."""
    return ENV_PREFIX + ENV_DELIMITER.join(part.upper() for part in key.split("."))


def _read_yaml(path: Path) -> tuple[dict[str, Any], dict[FieldPath, int]]:
    """The YAML file's mapping and the line of every key in it."""
    try:
        data, lines = load_yaml(path)
    except ConfigError as exc:
        raise SettingsError(exc.issues) from None
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise SettingsError(issue_at(path, lines, (), "the config file must be a mapping of keys"))
    return data, lines


def _resolve_relative_paths(model: type[BaseModel], data: dict[str, Any], base: Path) -> None:
    """Make every relative path value in ``data`` (YAML for ``model``) relative to ``base``."""
    for name, field in model.model_fields.items():
        value = data.get(name)
        if value is None:
            continue
        nested = _model_of(field.annotation)
        if nested is not None and isinstance(value, dict):
            _resolve_relative_paths(nested, value, base)
        elif _is_path(field.annotation) and isinstance(value, str) and value:
            path = Path(value).expanduser()
            data[name] = str(path if path.is_absolute() else base / path)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The settings section a field holds (``X`` or ``X | None``), or None for a leaf."""
    for candidate in _union_members(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _is_path(annotation: Any) -> bool:
    return any(candidate is Path for candidate in _union_members(annotation))


def _union_members(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _reject_unknown_env(env: Mapping[str, str]) -> None:
    """A misspelt ``REPOCLIMATE_*`` variable would otherwise be ignored without a word."""
    sections = list(Settings.model_fields)
    issues = []
    for name in sorted(env):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper == CONFIG_ENV_VAR:
            continue
        section = upper[len(ENV_PREFIX) :].split(ENV_DELIMITER)[0].lower()
        if section not in sections:
            issues.append(Issue(name, None, section, unknown_key(section, sections)))
    if issues:
        raise SettingsError(issues)


def _source_of(
    path: FieldPath, env: Mapping[str, str], config: Path | None, lines: Mapping[FieldPath, int]
) -> tuple[str | None, int | None]:
    """The environment variable that set ``path`` (or a section above it), else the file line
    of its deepest prefix, else None (a default)."""
    upper_env = {name.upper(): name for name in env}
    for depth in range(len(path), 0, -1):
        name = ENV_PREFIX + ENV_DELIMITER.join(str(part).upper() for part in path[:depth])
        if name in upper_env:
            return upper_env[name], None
    for depth in range(len(path), 0, -1):
        line = lines.get(tuple(path[:depth]))
        if line is not None and config is not None:
            return str(config), line
    return None, None
