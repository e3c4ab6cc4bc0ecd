"""Settings of the MQTT connection and the collector; `app.settings` composes them."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

FormatName = Literal[
    "auto", "generic", "zigbee2mqtt", "tasmota", "shelly", "esphome", "ttn", "lineprotocol"
]


class TopicRoute(BaseModel):
    """One subscription: an MQTT topic filter and the payload format published under it."""

    model_config = ConfigDict(extra="forbid")

    filter: str = Field(min_length=1)
    format: FormatName = "auto"


class TlsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure: bool = False


DEFAULT_ROUTES = [
    TopicRoute(filter="repoclimate/+/lines", format="lineprotocol"),
    TopicRoute(filter="repoclimate/#", format="generic"),
    TopicRoute(filter="zigbee2mqtt/#", format="zigbee2mqtt"),
    TopicRoute(filter="tele/+/SENSOR", format="tasmota"),
    TopicRoute(filter="shellies/+/sensor/+", format="shelly"),
    TopicRoute(filter="+/events/rpc", format="shelly"),
    TopicRoute(filter="+/sensor/+/state", format="esphome"),
    TopicRoute(filter="v3/+/devices/+/up", format="ttn"),
]


class MqttSettings(BaseModel):
    """Where the collector subscribes, and how."""

    model_config = ConfigDict(extra="forbid")

    url: str = "mqtt://127.0.0.1:1883"
    client_id: str = Field(default="repoclimate-collector", min_length=1, max_length=128)
    protocol: Literal["5", "3.1.1"] = "5"
    topics: list[TopicRoute] = Field(default_factory=lambda: list(DEFAULT_ROUTES), min_length=1)
    shared_group: str | None = Field(
        default=None, description="subscribe as $share/<group>/<filter> so collectors split load"
    )
    username: str | None = None
    password: SecretStr | None = None
    tls: TlsSettings = Field(default_factory=TlsSettings)
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    dead_letter_topic: str = "repoclimate/deadletter"

    @field_validator("dead_letter_topic")
    @classmethod
    def _check_dead_letter_topic(cls, value: str) -> str:
        if not value or any(char in value for char in "+#\x00"):
            raise ValueError("must be a topic to publish to: not empty, no + or # wildcards")
        if value.startswith("$"):
            raise ValueError("must not start with $ (reserved for the broker)")
        return value

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("must look like mqtt://host:port or mqtts://host:port")
        try:
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as exc:
            raise ValueError(f"bad port in {value!r}") from exc
        return value

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (8883 if parts.scheme == "mqtts" else 1883)

    @property
    def tls_on(self) -> bool:
        """Whether the connection uses TLS: ``tls.enabled`` or an ``mqtts://`` URL."""
        return self.tls.enabled or urlsplit(self.url).scheme == "mqtts"

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for the broker connection, or None when TLS is off.

        The broker's certificate is always verified (against ``tls.ca_file``, else the
        system's CAs); ``tls.insecure`` only skips checking its host name.
        """
        if not self.tls_on:
            return None
        tls = self.tls
        context = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
        if tls.cert_file is not None:
            context.load_cert_chain(
                str(tls.cert_file), str(tls.key_file) if tls.key_file is not None else None
            )
        if tls.insecure:
            context.check_hostname = False  # certificates are still verified (CERT_REQUIRED)
        return context


class CollectorSettings(BaseModel):
    """Batching, limits, the durable spool and its receive-stamp journal."""

    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(default=5000, ge=1, le=100_000)
    batch_interval_s: float = Field(default=0.5, gt=0, le=60)
    max_payload_bytes: int = Field(default=64 * 1024, ge=64)
    spool_dir: Path = Path("spool")
    stamp_journal_s: float = Field(
        default=86_400.0,
        ge=0,
        allow_inf_nan=False,
        description="how long after a crash a redelivered message without a device time still "
        "gets its first receive stamp (so it rewrites its point instead of adding one); 0: off",
    )
    stuck_after_s: float = Field(
        default=60.0,
        gt=0,
        allow_inf_nan=False,
        description="a received message still unacknowledged after this long marks the collector "
        "stuck (stats, log, health): a hung store or spool stops the stream while connected",
    )
    fast_path: bool = Field(
        default=True,
        description="receive through the fast path over paho's internals when the installed "
        "paho is a verified version (else, or if it fails, paho's own path is used)",
    )
