"""Each channel against a real server on loopback: SMTP (aiosmtpd), an HTTP receiver (webhook
and apprise's json://), Mosquitto (MQTT alert topic)."""

from __future__ import annotations

import json
import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from repoclimate.alerts.notify import DeliveryError, Message, health_key
from repoclimate.alerts.notify.apprise_channel import AppriseChannel
from repoclimate.alerts.notify.mqtt import MqttChannel
from repoclimate.alerts.notify.smtp import SmtpChannel, SmtpSettings
from repoclimate.alerts.notify.webhook import WebhookChannel
from tests.alerts.conftest import HttpReceiver, SmtpServer
from tests.servers import Mosquitto, free_port

MESSAGE = Message(
    subject="[ALERT] [WARNING] Relative humidity above band — Stack 3",
    text="RH 70 %\ncheck first: the dehumidifier",
    html="<html><body><p>RH 70 %</p></body></html>",
    payload={"kind": "firing", "status": "firing", "severity": "warning", "alerts": [{"id": 1}]},
    key="outbox-7",
)


def test_smtp_sends_text_and_html(smtp_server: SmtpServer) -> None:
    channel = SmtpChannel(SmtpSettings(port=smtp_server.port, from_address="rc@archive.test"))
    channel.send("alice@example.org", MESSAGE)
    (received,) = smtp_server.messages
    assert received["Subject"] == MESSAGE.subject
    assert received["To"] == "alice@example.org"
    assert received["Message-ID"] == "<outbox-7@archive.test>"
    plain = received.get_body(("plain",))
    html = received.get_body(("html",))
    assert plain is not None and "check first" in plain.get_content()
    assert html is not None and "<p>RH 70 %</p>" in html.get_content()


def test_smtp_down_is_a_transient_failure() -> None:
    channel = SmtpChannel(SmtpSettings(port=free_port(), timeout_s=2))
    with pytest.raises(DeliveryError) as caught:
        channel.send("alice@example.org", MESSAGE)
    assert not caught.value.permanent


def test_webhook_posts_the_json_payload(http_receiver: HttpReceiver) -> None:
    WebhookChannel().send(f"{http_receiver.url}/hook", MESSAGE)
    (request,) = http_receiver.requests
    assert request["path"] == "/hook"
    assert request["body"] == MESSAGE.payload
    assert request["headers"]["Idempotency-Key"] == "outbox-7"


@pytest.mark.parametrize(("status", "permanent"), [(500, False), (429, False), (404, True)])
def test_webhook_failures(http_receiver: HttpReceiver, status: int, permanent: bool) -> None:
    http_receiver.status = status
    with pytest.raises(DeliveryError) as caught:
        WebhookChannel().send(http_receiver.url, MESSAGE)
    assert caught.value.permanent is permanent


def test_webhook_unreachable_is_transient() -> None:
    with pytest.raises(DeliveryError) as caught:
        WebhookChannel(timeout_s=2).send(f"http://127.0.0.1:{free_port()}/", MESSAGE)
    assert not caught.value.permanent


def test_apprise_delivers_through_its_json_service(http_receiver: HttpReceiver) -> None:
    AppriseChannel().send(f"json://127.0.0.1:{http_receiver.port}/notify", MESSAGE)
    (request,) = http_receiver.requests
    assert request["path"] == "/notify"
    assert request["body"]["title"] == MESSAGE.subject
    assert "check first" in request["body"]["message"]
    assert request["body"]["type"] == "warning"


def test_apprise_failures(http_receiver: HttpReceiver) -> None:
    http_receiver.status = 503
    with pytest.raises(DeliveryError) as caught:
        AppriseChannel().send(f"json://127.0.0.1:{http_receiver.port}/", MESSAGE)
    assert not caught.value.permanent
    with pytest.raises(DeliveryError) as bad:
        AppriseChannel().send("nosuchscheme://x", MESSAGE)
    assert bad.value.permanent


def test_mqtt_publishes_to_the_alert_topic(mosquitto: Mosquitto) -> None:
    got: list[bytes] = []
    ready = threading.Event()
    arrived = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-bms")

    def on_connect(c: mqtt.Client, *args: object) -> None:
        c.subscribe("test-alerts/bms", qos=1)

    def on_subscribe(*args: object) -> None:
        ready.set()

    def on_message(c: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        got.append(msg.payload)
        arrived.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    try:
        assert ready.wait(10)
        MqttChannel(mosquitto.url, client_id="test-alert-publisher").send(
            "test-alerts/bms", MESSAGE
        )
        assert arrived.wait(10)
    finally:
        client.loop_stop()
        client.disconnect()
    assert json.loads(got[0]) == MESSAGE.payload


def test_mqtt_broker_down_is_a_delivery_error_to_retry() -> None:
    channel = MqttChannel(f"mqtt://127.0.0.1:{free_port()}", timeout_s=2)
    with pytest.raises(DeliveryError) as caught:
        channel.send("x", MESSAGE)
    assert not caught.value.permanent  # an outage delays the message; the outbox retries it


def test_health_keys() -> None:
    assert health_key("email", "a@b") == "email"
    assert health_key("webhook", "https://chat.example.org/x?y") == "webhook:chat.example.org"
    assert health_key("apprise", "ntfys://ntfy.sh/topic") == "apprise:ntfys://ntfy.sh"
