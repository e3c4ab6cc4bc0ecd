"""The service's settings: one YAML file (``--config``) overridden by ``REPOCLIMATE_*`` variables.

Environment variables name a key by its path, upper-cased, joined with ``__`` and prefixed with
``REPOCLIMATE_``: ``store.url`` is ``REPOCLIMATE_STORE__URL``. A list or a whole section may be
given as JSON (``REPOCLIMATE_MQTT__TOPICS='[{"filter": "x/#", "format": "generic"}]'``).

Relative paths written in the YAML file resolve against the file's directory, so a config file
and the registry beside it can move together; relative paths from the environment or the
defaults resolve against the working directory.

A bad setting fails at start with `SettingsError`, which names every bad key, the reason, and
where the value came from (file and line, or the environment variable).
"""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings import SettingsError as PydanticSettingsError

from repoclimate.alerts.settings import AlertSettings
from repoclimate.history.settings import StoreSettings
from repoclimate.ingest.settings import CollectorSettings, MqttSettings
from repoclimate.sensors.yamlfile import ConfigError, load_yaml

ENV_PREFIX = "REPOCLIMATE_"
ENV_DELIMITER = "__"
CONFIG_ENV_VAR = "REPOCLIMATE_CONFIG"
"""Names the config file when ``--config`` is not given; it is not itself a setting."""

Key = tuple[str | int, ...]


class Settings(BaseSettings):
    """Everything the service reads at start: broker, collector, store, registry, alerts,
    logging."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_DELIMITER, extra="forbid"
    )

    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    collector: CollectorSettings = Field(default_factory=CollectorSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    registry: Path | None = None
    alerts: AlertSettings = Field(default_factory=AlertSettings)
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


@dataclass(frozen=True)
class SettingsProblem:
    """One bad setting: its dotted key, why it is bad, and where the value came from."""

    key: str
    reason: str
    source: str | None = None
    """``path/config.yaml:12``, ``REPOCLIMATE_STORE__URL``, or None for a default."""

    def __str__(self) -> str:
        where = f" (from {self.source})" if self.source else ""
        return f"{self.key}: {self.reason}{where}" if self.key else f"{self.reason}{where}"

    def located(self) -> str:
        """The problem as ``source: key: reason``, the form editors and CI logs link to."""
        body = f"{self.key}: {self.reason}" if self.key else self.reason
        return f"{self.source}: {body}" if self.source else body


class SettingsError(Exception):
    """The settings cannot be loaded; ``problems`` lists every bad key."""

    def __init__(self, problems: list[SettingsProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"settings error: {p}" for p in problems))


def load_settings(config: Path | None = None) -> Settings:
    """Load settings from ``config`` (YAML, optional) and ``REPOCLIMATE_*`` variables.

    Raises `SettingsError` naming every bad key, the reason and where the value came from.
    """
    data: dict[str, Any] = {}
    lines: dict[Key, int] = {}
    if config is not None:
        data, lines = _read_yaml(config)
        _resolve_relative_paths(Settings, data, config.resolve().parent)
    _reject_unknown_env(os.environ)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise SettingsError(
            [
                _problem(error["loc"], _reason(error), os.environ, config, lines)
                for error in exc.errors(include_url=False)
            ]
        ) from None
    except PydanticSettingsError as exc:
        raise SettingsError([SettingsProblem("", str(exc), "environment")]) from None


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


def _read_yaml(path: Path) -> tuple[dict[str, Any], dict[Key, int]]:
    """The YAML file's mapping and the line of every key in it."""
    if not path.is_file():
        raise SettingsError([SettingsProblem("", f"config file not found: {path}")])
    try:
        data, lines = load_yaml(path)
    except ConfigError as exc:
        raise SettingsError([SettingsProblem("", str(exc))]) from None
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise SettingsError(
            [SettingsProblem("", "the config file must be a mapping of keys", f"{path}:1")]
        )
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
    sections = {name.upper() for name in Settings.model_fields}
    problems = []
    for name in sorted(env):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper == CONFIG_ENV_VAR:
            continue
        section = upper[len(ENV_PREFIX) :].split(ENV_DELIMITER)[0]
        if section not in sections:
            problems.append(SettingsProblem("", f"unknown setting {section.lower()!r}", name))
    if problems:
        raise SettingsError(problems)


def _reason(error: Mapping[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    return str(error["msg"])


def _problem(
    loc: tuple[str | int, ...],
    reason: str,
    env: Mapping[str, str],
    config: Path | None,
    lines: Mapping[Key, int],
) -> SettingsProblem:
    key = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)[1:]
    upper_env = {name.upper(): name for name in env}
    for depth in range(len(loc), 0, -1):
        name = ENV_PREFIX + ENV_DELIMITER.join(str(part).upper() for part in loc[:depth])
        if name in upper_env:
            return SettingsProblem(key, reason, upper_env[name])
    for depth in range(len(loc), 0, -1):
        line = lines.get(tuple(loc[:depth]))
        if line is not None and config is not None:
            return SettingsProblem(key, reason, f"{config}:{line}")
    return SettingsProblem(key, reason, str(config) if config is not None else None)
