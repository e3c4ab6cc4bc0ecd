"""MQTT alert topic for building-management systems: the JSON payload, QoS 1."""

from __future__ import annotations

import json
import ssl
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from repoclimate.alerts.notify import DeliveryError, Message


class MqttChannel:
    """Publishes ``message.payload`` to a topic (the target) and waits for the broker's PUBACK.

    ``retain`` keeps the latest state per topic for systems that connect later.
    """

    kind = "mqtt"

    def __init__(
        self,
        url: str = "mqtt://127.0.0.1:1883",
        username: str | None = None,
        password: str | None = None,
        client_id: str = "repoclimate-alerts",
        retain: bool = False,
        timeout_s: float = 10.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"MQTT URL must look like mqtt://host:port, got {url!r}")
        self.host = parts.hostname
        self.tls = parts.scheme == "mqtts"
        self.port = parts.port or (8883 if self.tls else 1883)
        self.username = username
        self.password = password
        self.client_id = client_id
        self.retain = retain
        self.timeout_s = timeout_s

    def send(self, target: str, message: Message) -> None:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv311
        )
        if self.username:
            client.username_pw_set(self.username, self.password)
        if self.tls:
            client.tls_set_context(ssl.create_default_context())
        body = json.dumps(message.payload, sort_keys=True)
        try:
            client.connect(self.host, self.port, keepalive=30)
            client.loop_start()
            try:
                info = client.publish(target, body, qos=1, retain=self.retain)
                info.wait_for_publish(timeout=self.timeout_s)
                if not info.is_published():
                    raise DeliveryError(f"MQTT {self.host}:{self.port}: no PUBACK for {target}")
            finally:
                client.disconnect()
                client.loop_stop()
        except (OSError, ValueError, RuntimeError) as exc:
            if isinstance(exc, DeliveryError):
                raise
            raise DeliveryError(f"MQTT {self.host}:{self.port}: {exc}") from exc
