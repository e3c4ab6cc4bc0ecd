"""Settings of the alert engine; `app.settings.Settings.alerts` holds them.

The alert state is an SQLite file (``state_path``, the default) or any database SQLAlchemy
reaches by URL (``state_url``, e.g. ``postgresql+psycopg://repoclimate:…@db/alerts``; it wins
when set). `AlertSettings.state_target` is the one place that chooses between them: every
module that opens the state asks it, and messages name the state by
`AlertSettings.state_description`, which never shows the URL's password.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from repoclimate.alerts.notify.smtp import SmtpSettings
from repoclimate.alerts.state.database import describe

STATE_BACKENDS = ("sqlite", "postgresql")
"""The databases the alert state runs on."""

_SHARE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def mask_url(text: str) -> str:
    """``text`` with the password of a ``scheme://user:password@host`` URL in it replaced by
    ``***`` (for messages about a URL that may not even parse)."""
    return re.sub(r"(://[^:/@\s]*:)\S*@", r"\1***@", text)


class IntervalSettings(BaseModel):
    """How often each rule class is evaluated, and the dispatch and outbox loops run [s]."""

    model_config = ConfigDict(extra="forbid")

    excursion: float = Field(default=300.0, gt=0)
    fluctuation: float = Field(default=600.0, gt=0)
    condensation: float = Field(default=300.0, gt=0)
    health: float = Field(default=300.0, gt=0)
    mould: float = Field(default=3600.0, gt=0)
    decay: float = Field(default=7 * 86400.0, gt=0)
    dispatch: float = Field(default=60.0, gt=0)
    outbox: float = Field(default=15.0, gt=0)

    def rule_classes(self) -> dict[str, float]:
        return {
            "excursion": self.excursion,
            "fluctuation": self.fluctuation,
            "condensation": self.condensation,
            "health": self.health,
            "mould": self.mould,
            "decay": self.decay,
        }


class OutboxSettings(BaseModel):
    """Retries of notifications that could not be sent."""

    model_config = ConfigDict(extra="forbid")

    retry_base_s: float = Field(default=30.0, gt=0)
    retry_max_s: float = Field(default=900.0, gt=0)
    failing_after_attempts: int = Field(default=3, ge=1)
    failing_after_s: float = Field(default=300.0, ge=0)


class MqttAlertSettings(BaseModel):
    """The broker and topic that building-management systems read alerts from."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(
        default=None, description="mqtt://host:port; the collector's broker when unset"
    )
    username: str | None = None
    password: SecretStr | None = None
    retain: bool = False


class AlertSettings(BaseModel):
    """Where alert state lives, which rules and rota apply, how notifications go out."""

    # A bad state_url must not be echoed: it may hold a password.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    enabled: bool = True
    state_path: Path = Path("repoclimate-alerts.sqlite")
    state_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL of the alert state (postgresql+psycopg://user:password@"
        "host/db); replaces state_path when set",
    )
    partition: str | list[str] | None = Field(
        default=None,
        description='the sites this engine evaluates: "N/M" (engine N of M, 1-based) or a '
        "list of site ids; all sites when unset",
    )
    evaluator: Literal["fleet", "reference"] = Field(
        default="fleet",
        description="fleet: each rule class across all sensors in one array pass; reference: "
        "sensor by sensor (the same alerts, slower)",
    )
    incremental: bool = Field(
        default=False,
        description="keep each sensor's history windows between cycles and read only what "
        "arrived (plus a 1-hour settle window) instead of whole windows",
    )
    rules: Path | None = Field(default=None, description="rules YAML; built-in defaults if unset")
    rota: Path | None = Field(default=None, description="on-call rota YAML")
    ack_url_base: str | None = Field(
        default=None, description="base URL of the API for acknowledgement links"
    )
    group_wait_s: float = Field(default=0.0, ge=0)
    write_derived: bool = True
    console: bool = Field(default=False, description="also print every notification")
    intervals: IntervalSettings = Field(default_factory=IntervalSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    smtp: SmtpSettings | None = None
    mqtt: MqttAlertSettings = Field(default_factory=MqttAlertSettings)
    webhook_timeout_s: float = Field(default=10.0, gt=0)

    @field_validator("state_url")
    @classmethod
    def _known_database(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        text = value.get_secret_value()
        try:
            backend = make_url(text).get_backend_name()
        except ArgumentError:
            raise ValueError(
                f"{mask_url(text)!r} is not a database URL (e.g. postgresql+psycopg://user:"
                "password@host:5432/alerts)"
            ) from None
        if backend not in STATE_BACKENDS:
            raise ValueError(
                f"{describe(text)}: the alert state cannot live in {backend}; "
                f"use {' or '.join(STATE_BACKENDS)}"
            )
        return value

    @field_validator("partition")
    @classmethod
    def _valid_partition(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, str):
            share = _SHARE.match(value)
            if share is None:
                raise ValueError(
                    f"{value!r}: give N/M (this engine is N of M, e.g. 1/2) or a list of site ids"
                )
            n, m = int(share.group(1)), int(share.group(2))
            if not 1 <= n <= m:
                raise ValueError(f"{value!r}: N/M needs 1 ≤ N ≤ M (engines count from 1)")
            return f"{n}/{m}"
        if value is not None:
            if not value or any(not site.strip() for site in value):
                raise ValueError("a partition's site list needs at least one site id, none empty")
            if len(set(value)) != len(value):
                raise ValueError("a partition's site list names a site twice")
        return value

    def state_target(self) -> Path | str:
        """What `alerts.state.AlertStore` opens: ``state_url`` if set, else ``state_path``."""
        if self.state_url is not None:
            return self.state_url.get_secret_value()
        return self.state_path

    def state_description(self) -> str:
        """The state database as messages name it: its path, or its URL without password."""
        return describe(self.state_target())

    def state_is_file(self) -> bool:
        """Whether the state is the SQLite file at ``state_path`` (not a URL)."""
        return self.state_url is None
