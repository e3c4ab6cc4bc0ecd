"""Wiring the alert engine from settings: rules and rota files, state database, channels,
outbox worker. The app calls `build_alerting`; the CLI uses the pieces."""

from __future__ import annotations

from dataclasses import dataclass, field

from repoclimate.alerts.clock import Clock, SystemClock
from repoclimate.alerts.config import RulesConfig
from repoclimate.alerts.engine import AlertEngine
from repoclimate.alerts.notify import Channel
from repoclimate.alerts.notify.apprise_channel import AppriseChannel
from repoclimate.alerts.notify.console import ConsoleChannel, LogChannel
from repoclimate.alerts.notify.grafana import GrafanaChannel
from repoclimate.alerts.notify.mqtt import MqttChannel
from repoclimate.alerts.notify.smtp import SmtpChannel
from repoclimate.alerts.notify.webhook import WebhookChannel
from repoclimate.alerts.outbox import Backoff, OutboxWorker
from repoclimate.alerts.partition import AllSites, Partition, partition_for
from repoclimate.alerts.rota import Contact, Rota
from repoclimate.alerts.settings import AlertSettings
from repoclimate.alerts.state import AlertStore
from repoclimate.history.store import Store
from repoclimate.sensors.registry import Registry


def load_rules(settings: AlertSettings) -> RulesConfig:
    return RulesConfig.load(settings.rules) if settings.rules else RulesConfig.builtin()


def load_rota(settings: AlertSettings) -> Rota:
    rota = Rota.load(settings.rota) if settings.rota else Rota()
    if settings.console:
        rota = rota.model_copy(update={"broadcast": [*rota.broadcast, Contact(console=True)]})
    return rota


def build_channels(
    settings: AlertSettings, default_mqtt_url: str | None = None
) -> dict[str, Channel]:
    """Every channel the settings make possible, keyed by kind."""
    channels: dict[str, Channel] = {
        "webhook": WebhookChannel(settings.webhook_timeout_s),
        "grafana": GrafanaChannel.from_environment(settings.webhook_timeout_s),
        "apprise": AppriseChannel(),
        "console": ConsoleChannel(),
        "log": LogChannel(),
    }
    if settings.smtp is not None:
        channels["email"] = SmtpChannel(settings.smtp)
    mqtt_url = settings.mqtt.url or default_mqtt_url
    if mqtt_url:
        password = settings.mqtt.password.get_secret_value() if settings.mqtt.password else None
        channels["mqtt"] = MqttChannel(
            mqtt_url, settings.mqtt.username, password, retain=settings.mqtt.retain
        )
    return channels


@dataclass
class Alerting:
    """The running parts: engine, outbox worker, state, and the sites this engine evaluates
    (`alerts.partition`)."""

    engine: AlertEngine
    outbox: OutboxWorker
    state: AlertStore
    settings: AlertSettings
    partition: Partition = field(default_factory=AllSites)

    def close(self) -> None:
        self.partition.close()
        self.state.close()


def build_alerting(
    settings: AlertSettings,
    store: Store,
    registry: Registry,
    clock: Clock | None = None,
    default_mqtt_url: str | None = None,
    channels: dict[str, Channel] | None = None,
) -> Alerting:
    """Engine and outbox worker as the settings describe (raises `ConfigError` on bad files)."""
    rules = load_rules(settings)
    rota = load_rota(settings)
    state = AlertStore(settings.state_target())
    engine = AlertEngine(
        store,
        registry,
        state,
        rules,
        rota,
        intervals=settings.intervals.rule_classes(),
        ack_url_base=settings.ack_url_base,
        group_wait_s=settings.group_wait_s,
        write_derived=settings.write_derived,
        clock=clock or SystemClock(),
        evaluator=settings.evaluator,
        incremental=settings.incremental,
    )
    outbox = OutboxWorker(
        state,
        channels if channels is not None else build_channels(settings, default_mqtt_url),
        engine.dispatcher,
        Backoff(settings.outbox.retry_base_s, settings.outbox.retry_max_s),
        settings.outbox.failing_after_attempts,
        settings.outbox.failing_after_s,
    )
    alerting = Alerting(engine, outbox, state, settings)

    def sites_of() -> list[str]:  # the running engine's: a registry reload replaces it
        return [site.id for site in alerting.engine.topology.sites]

    try:
        alerting.partition = partition_for(settings.partition, sites_of, state.engine)
    except BaseException:
        state.close()
        raise
    return alerting
