"""docker/mosquitto: the committed mosquitto.conf and ACL run by the real Mosquitto, with a
password file made by mosquitto_passwd and a TLS listener whose certificate a test CA signed.

Only what a container and a test directory differ in is changed: the paths under /mosquitto/, the
listeners' ports (bound to loopback), and ``user root`` (the test runs as root in a temporary
directory; the container runs as its ``mosquitto`` user)."""

from __future__ import annotations

import ipaddress
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from tests.servers import Mosquitto, free_port

DOCKER = Path(__file__).resolve().parents[2] / "docker"
USERS = {
    "collector": "collector-pw",
    "city-archives": "sensor-pw",
    "repoclimate-alerts": "alerts-pw",
    "bms": "bms-pw",
}
TIMEOUT = 10.0

pytestmark = pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="no mosquitto")


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def make_ca(directory: Path, name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    (directory / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def make_server_cert(
    directory: Path, ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    (directory / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(directory / "server.key", key)


class Broker:
    def __init__(self, server: Mosquitto, tls_port: int, certs: Path) -> None:
        self.server = server
        self.port = server.port
        self.tls_port = tls_port
        self.certs = certs


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    work = tmp_path_factory.mktemp("docker-mosquitto")
    certs = work / "certs"
    certs.mkdir()
    ca_key, ca = make_ca(certs, "ca")
    make_server_cert(certs, ca_key, ca)
    make_ca(certs, "other-ca")  # a CA that did not sign the server's certificate
    passwd = work / "passwd"
    for i, (user, password) in enumerate(USERS.items()):
        create = ["-c"] if i == 0 else []
        subprocess.run(["mosquitto_passwd", *create, "-b", str(passwd), user, password], check=True)
    assert "sensor-pw" not in passwd.read_text()  # hashed, not kept in plain text

    server = Mosquitto(work / "server")
    tls_port = free_port()
    text = (DOCKER / "mosquitto" / "mosquitto.conf").read_text()
    replacements = {
        "/mosquitto/config/passwd": str(passwd),
        "/mosquitto/config/acl": str(DOCKER / "mosquitto" / "acl"),
        "/mosquitto/data/": f"{work / 'server' / 'data'}/",
        "/mosquitto/certs/ca.crt": str(certs / "ca.crt"),
        "/mosquitto/certs/server.crt": str(certs / "server.crt"),
        "/mosquitto/certs/server.key": str(certs / "server.key"),
        "listener 1883": f"listener {server.port} 127.0.0.1",
        "listener 8883": f"listener {tls_port} 127.0.0.1",
    }
    for old, new in replacements.items():
        assert old in text, f"mosquitto.conf no longer has {old!r}: update this test"
        text = text.replace(old, new)
    server.config.write_text("user root\n" + text)
    server.start()
    yield Broker(server, tls_port, certs)
    server.stop()


class Client:
    """A paho MQTT 5 client that records its CONNACK, PUBACKs and messages."""

    def __init__(self, broker: Broker, user: str | None, *, tls_ca: Path | None = None) -> None:
        self.connected = threading.Event()
        self.connack: ReasonCode | None = None
        self.pubacks: dict[int, ReasonCode] = {}
        self.subscribed = threading.Event()
        self.messages: list[tuple[str, bytes]] = []
        self.got_message = threading.Event()
        self.published = threading.Condition()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"t-{user}-{id(self)}", protocol=mqtt.MQTTv5
        )
        if user is not None:
            self.client.username_pw_set(user, USERS[user])
        if tls_ca is not None:
            self.client.tls_set(ca_certs=str(tls_ca), cert_reqs=ssl.CERT_REQUIRED)
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message
        port = broker.tls_port if tls_ca is not None else broker.port
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.connected.wait(TIMEOUT), "no CONNACK"

    def _on_connect(self, _c: object, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        self.connack = rc
        self.connected.set()

    def _on_publish(self, _c: object, _u: object, mid: int, rc: ReasonCode, _p: object) -> None:
        with self.published:
            self.pubacks[mid] = rc
            self.published.notify_all()

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        self.messages.append((msg.topic, msg.payload))
        self.got_message.set()

    def publish(self, topic: str, payload: bytes = b"x") -> ReasonCode:
        mid = self.client.publish(topic, payload, qos=1).mid
        with self.published:
            assert self.published.wait_for(lambda: mid in self.pubacks, TIMEOUT), "no PUBACK"
            return self.pubacks[mid]

    def subscribe(self, topic: str) -> None:
        self.subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self.subscribed.wait(TIMEOUT)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_anonymous_and_wrong_passwords_are_refused(broker: Broker) -> None:
    anonymous = Client(broker, None)
    assert anonymous.connack is not None and anonymous.connack.is_failure
    anonymous.close()
    wrong = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="t-wrong", protocol=mqtt.MQTTv5)
    wrong.username_pw_set("collector", "not-the-password")
    seen: list[ReasonCode] = []
    done = threading.Event()
    wrong.on_connect = lambda _c, _u, _f, rc, _p: (seen.append(rc), done.set())
    wrong.connect("127.0.0.1", broker.port)
    wrong.loop_start()
    assert done.wait(TIMEOUT)
    wrong.loop_stop()
    assert seen[0].is_failure


def test_sensor_publishes_only_under_its_prefix_and_the_collector_receives(broker: Broker) -> None:
    collector = Client(broker, "collector")
    assert collector.connack is not None and not collector.connack.is_failure
    collector.subscribe("repoclimate/#")
    sensor = Client(broker, "city-archives")
    assert not sensor.publish("repoclimate/city-archives/s3-north", b'{"t": 18}').is_failure
    assert collector.got_message.wait(TIMEOUT)
    assert collector.messages == [("repoclimate/city-archives/s3-north", b'{"t": 18}')]
    # outside its prefix: refused with "Not authorized", and nobody receives it
    for topic in ("repoclimate/other-site/x", "repoclimate/alerts", "zigbee2mqtt/fake"):
        rc = sensor.publish(topic)
        assert rc.is_failure and rc.getName() == "Not authorized", topic
    # the collector may not publish readings (only dead letters)
    assert collector.publish("repoclimate/city-archives/forged").is_failure
    assert not collector.publish("repoclimate/deadletter", b"bad").is_failure
    collector.got_message.clear()
    assert not collector.got_message.wait(1.0) or all(
        t in ("repoclimate/city-archives/s3-north", "repoclimate/deadletter")
        for t, _ in collector.messages
    )
    sensor.close()
    collector.close()


def test_the_alert_topic_is_read_only_for_building_management(broker: Broker) -> None:
    bms = Client(broker, "bms")
    bms.subscribe("repoclimate/#")  # granted only where bms may read: the alert topic
    alerts = Client(broker, "repoclimate-alerts")
    sensor = Client(broker, "city-archives")
    sensor.publish("repoclimate/city-archives/s1", b"reading")
    assert not alerts.publish("repoclimate/alerts", b'{"kind": "firing"}').is_failure
    assert bms.got_message.wait(TIMEOUT)
    assert bms.publish("repoclimate/alerts", b"forged").is_failure
    bms.got_message.clear()
    bms.got_message.wait(1.0)
    assert bms.messages == [("repoclimate/alerts", b'{"kind": "firing"}')]
    for c in (bms, alerts, sensor):
        c.close()


def test_tls_listener_verified_with_the_test_ca(broker: Broker) -> None:
    secure = Client(broker, "collector", tls_ca=broker.certs / "ca.crt")
    assert secure.connack is not None and not secure.connack.is_failure
    sock = secure.client.socket()
    assert isinstance(sock, ssl.SSLSocket) and sock.version() in ("TLSv1.2", "TLSv1.3")
    secure.close()
    with pytest.raises(ssl.SSLCertVerificationError):
        Client(broker, "collector", tls_ca=broker.certs / "other-ca.crt")
