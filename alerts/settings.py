"""Settings of the alert engine; `app.settings.Settings.alerts` holds them."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from repoclimate.alerts.notify.smtp import SmtpSettings


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

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    state_path: Path = Path("repoclimate-alerts.sqlite")
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
