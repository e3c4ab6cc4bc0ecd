"""The collector against the real Mosquitto and InfluxDB: storing, batching, acknowledging,
sessions, shared subscriptions, store refusals and its own dead letters."""

from __future__ import annotations

import itertools
import json
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from repoclimate.ingest.collector import Collector
from repoclimate.ingest.deadletter_sink import DeadLetterSink, LocalDeadLetters
from repoclimate.ingest.paho_client import FastClient
from repoclimate.ingest.pipeline import Pipeline
from repoclimate.ingest.settings import CollectorSettings, MqttSettings
from repoclimate.ingest.stats import StatsSnapshot
from repoclimate.sensors.registry import load_registry
from tests.ingest.helpers import (
    REGISTRY,
    Publisher,
    collector_settings,
    distinct_keys,
    generic_messages,
    influx_store,
    mqtt_settings,
    stored_count,
    stored_rows,
    wait_until,
)
from tests.servers import InfluxDB, Mosquitto

_ids = itertools.count()


def make_collector(
    mqtt_config: MqttSettings,
    settings: CollectorSettings,
    influxdb: InfluxDB,
    db: str,
    *,
    on_stats: Callable[[StatsSnapshot], None] | None = None,
    idle_flush_s: float = 0.05,
) -> Collector:
    pipeline = Pipeline(load_registry(REGISTRY), mqtt_config.topics, settings.max_payload_bytes)
    return Collector(
        mqtt_config,
        settings,
        influx_store(influxdb, db),
        pipeline,
        on_stats=on_stats,
        idle_flush_s=idle_flush_s,
    )


def publish_and_wait(url: str, messages: list[tuple[str, bytes]], **options: float) -> None:
    publisher = Publisher(url, f"pub-{next(_ids)}")
    publisher.publish_all(messages, **options)  # type: ignore[arg-type]
    publisher.wait_acked(len(messages))
    publisher.close()


def assert_stored_once(influxdb: InfluxDB, db: str, count: int) -> None:
    wait_until(lambda: stored_count(influxdb, db) >= count, 30, f"{count} points stored")
    rows = stored_rows(influxdb, db)
    assert len(rows) == len(distinct_keys(rows)) == count


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "plain"])
def test_published_readings_are_stored_and_acknowledged(
    mosquitto: Mosquitto, influxdb: InfluxDB, influx_db_name: str, tmp_path: Path, fast_path: bool
) -> None:
    messages = generic_messages(2000, influx_db_name)
    snapshots: list[StatsSnapshot] = []
    mqtt_config = mqtt_settings(mosquitto.url, f"c-{influx_db_name}", influx_db_name)
    settings = collector_settings(tmp_path / "spool", fast_path=fast_path)
    collector = make_collector(
        mqtt_config, settings, influxdb, influx_db_name, on_stats=snapshots.append
    )
    with collector:
        wait_until(lambda: collector.connected, 10, "the collector to connect")
        publish_and_wait(mosquitto.url, messages)
        wait_until(
            lambda: collector.stats.snapshot().acked == len(messages), 30, "every message acked"
        )
    stats = collector.stats.snapshot()
    assert stats.received == stats.readings == stats.stored == len(messages)
    assert stats.rejected_total == stats.spooled == stats.store_errors == 0
    assert stats.batches >= len(messages) // settings.batch_size
    assert not stats.connected
    assert stats.fast_path is fast_path and stats.fast_path_fallbacks == 0
    assert isinstance(collector.client, FastClient) is fast_path
    assert snapshots and snapshots[-1].stored == len(messages)
    assert_stored_once(influxdb, influx_db_name, len(messages))


def test_messages_published_while_stopped_wait_in_the_session(
    mosquitto: Mosquitto, influxdb: InfluxDB, influx_db_name: str, tmp_path: Path
) -> None:
    client_id = f"session-{influx_db_name}"
    mqtt_config = mqtt_settings(mosquitto.url, client_id, influx_db_name)
    settings = collector_settings(tmp_path / "spool")
    messages = generic_messages(1500, influx_db_name)
    first = make_collector(mqtt_config, settings, influxdb, influx_db_name)
    with first:
        wait_until(lambda: first.connected, 10, "the collector to connect")
        publish_and_wait(mosquitto.url, messages[:500])
        wait_until(lambda: first.stats.snapshot().acked == 500, 30, "the first 500 acked")
    publish_and_wait(mosquitto.url, messages[500:])  # nobody connected: the session queues
    second = make_collector(mqtt_config, settings, influxdb, influx_db_name)
    with second:
        wait_until(lambda: second.stats.snapshot().acked == 1000, 30, "the queued 1000")
    assert_stored_once(influxdb, influx_db_name, len(messages))


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "plain"])
@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_batches_keep_flowing_with_the_brokers_default_inflight_window(
    stock_mosquitto: Mosquitto,
    influxdb: InfluxDB,
    influx_db_name: str,
    tmp_path: Path,
    protocol: str,
    fast_path: bool,
) -> None:
    """Mosquitto sends a client at most 20 unacknowledged messages unless it asks for more.

    MQTT 5: the collector's ReceiveMaximum lets batches fill by size (the timer is set far off
    and the idle flush off). MQTT 3.1.1 cannot ask: the idle flush keeps the stream moving.
    """
    broker = stock_mosquitto
    prefix = f"window-{influx_db_name}"
    mqtt_config = mqtt_settings(broker.url, prefix, prefix, protocol=protocol)
    settings = collector_settings(
        tmp_path / "spool", batch_size=250, batch_interval_s=30, fast_path=fast_path
    )
    collector = make_collector(
        mqtt_config,
        settings,
        influxdb,
        influx_db_name,
        idle_flush_s=30 if protocol == "5" else 0.02,
    )
    with collector:
        wait_until(lambda: collector.connected, 10, "the collector to connect")
        start = time.monotonic()
        publish_and_wait(broker.url, generic_messages(1000, prefix))
        wait_until(lambda: collector.stats.snapshot().stored == 1000, 20, "all stored")
        elapsed = time.monotonic() - start
    assert elapsed < 15
    if protocol == "5":
        assert collector.stats.snapshot().batches == 4  # cut by size, never by the timer
    assert_stored_once(influxdb, influx_db_name, 1000)


def test_collectors_sharing_a_subscription_split_the_stream(
    mosquitto: Mosquitto, influxdb: InfluxDB, influx_db_name: str, tmp_path: Path
) -> None:
    prefix = f"shared-{influx_db_name}"
    collectors = [
        make_collector(
            mqtt_settings(mosquitto.url, f"{prefix}-{i}", prefix, shared_group=prefix),
            collector_settings(tmp_path / f"spool{i}"),
            influxdb,
            influx_db_name,
        )
        for i in range(2)
    ]
    for collector in collectors:
        collector.start()
    try:
        for collector in collectors:
            wait_until(lambda c=collector: c.connected, 10, "both collectors to connect")  # type: ignore[misc]
        time.sleep(0.3)  # both SUBACKs
        publish_and_wait(mosquitto.url, generic_messages(2000, prefix))
        wait_until(
            lambda: sum(c.stats.snapshot().acked for c in collectors) == 2000, 30, "all acked"
        )
    finally:
        for collector in collectors:
            collector.stop()
    shares = [c.stats.snapshot().stored for c in collectors]
    assert sum(shares) == 2000
    assert min(shares) > 500  # the broker spreads the messages over the group
    assert_stored_once(influxdb, influx_db_name, 2000)


def test_readings_the_store_refuses_are_isolated_and_dead_lettered(
    mosquitto: Mosquitto, influxdb: InfluxDB, influx_db_name: str, tmp_path: Path
) -> None:
    """A field type conflict makes InfluxDB refuse some points of a batch (a partial write):
    the collector bisects the batch, dead-letters those readings and stores the rest."""
    prefix = f"refused-{influx_db_name}"
    conflict_week = datetime(2025, 6, 4, tzinfo=UTC)
    store = influx_store(influxdb, influx_db_name)
    store._send([f"climate,sensor=seed temperature=1i {int(conflict_week.timestamp()) * 10**9}"])
    good = generic_messages(600, prefix)
    bad = generic_messages(7, prefix, start=conflict_week + timedelta(hours=1))
    stream = good[:200] + bad[:3] + good[200:400] + bad[3:] + good[400:]
    mqtt_config = mqtt_settings(mosquitto.url, prefix, prefix)
    records: list[dict[str, object]] = []
    watcher = _watch(mosquitto, mqtt_config.dead_letter_topic, records)
    collector = make_collector(
        mqtt_config, collector_settings(tmp_path / "spool"), influxdb, influx_db_name
    )
    try:
        with collector:
            wait_until(lambda: collector.connected, 10, "the collector to connect")
            publish_and_wait(mosquitto.url, stream)
            wait_until(lambda: collector.stats.snapshot().acked == len(stream), 30, "all acked")
        wait_until(lambda: len(records) == len(bad), 10, "the dead letters")
    finally:
        watcher.disconnect()
        watcher.loop_stop()
    stats = collector.stats.snapshot()
    assert stats.store_rejected == len(bad)
    assert stats.stored == len(good)
    assert {r["reason"] for r in records} == {"store_rejected"}
    assert all("field type conflict" in str(r["message"]) for r in records)
    assert sorted(json.loads(str(r["payload"]))["time"] for r in records) == sorted(
        json.loads(p)["time"] for _, p in bad
    )
    rows = stored_rows(influxdb, influx_db_name)
    assert len([r for r in rows if r["sensor"] != "seed"]) == len(good)


def test_a_missing_database_keeps_readings_in_the_spool_until_it_exists(
    mosquitto: Mosquitto, influxdb: InfluxDB, influx_db_name: str, tmp_path: Path
) -> None:
    """A database that does not exist (and may not be created) is a configuration problem:
    the readings wait in the spool, none is dead-lettered, and they drain once it exists."""
    prefix = f"nodb-{influx_db_name}"
    database = f"{influx_db_name}_late"
    mqtt_config = mqtt_settings(mosquitto.url, prefix, prefix)
    settings = collector_settings(tmp_path / "spool")
    store = influx_store(influxdb, database, create_database=False)
    pipeline = Pipeline(load_registry(REGISTRY), mqtt_config.topics, settings.max_payload_bytes)
    collector = Collector(mqtt_config, settings, store, pipeline, retry_delay_s=(0.2, 0.5))
    messages = generic_messages(300, prefix)
    try:
        with collector:
            wait_until(lambda: collector.connected, 10, "the collector to connect")
            publish_and_wait(mosquitto.url, messages)
            wait_until(lambda: collector.stats.snapshot().acked == 300, 30, "all acknowledged")
            stats = collector.stats.snapshot()
            assert (stats.spooled, stats.spool_pending) == (300, 300)
            assert stats.store_rejected == stats.dead_lettered == stats.stored == 0
            influxdb.create_database(database)
            wait_until(lambda: collector.stats.snapshot().spool_pending == 0, 30, "drained")
    finally:
        store.close()
    assert collector.stats.snapshot().drained == 300
    assert_stored_once(influxdb, database, 300)


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "plain"])
def test_the_collector_ignores_its_own_dead_letters(
    mosquitto: Mosquitto, influxdb: InfluxDB, influx_db_name: str, tmp_path: Path, fast_path: bool
) -> None:
    """The default dead-letter topic lies under the default ``repoclimate/#`` route."""
    prefix = f"loop-{influx_db_name}"
    mqtt_config = mqtt_settings(
        mosquitto.url, prefix, prefix, dead_letter_topic=f"repoclimate/{prefix}/deadletter"
    )
    collector = make_collector(
        mqtt_config,
        collector_settings(tmp_path / "spool", fast_path=fast_path),
        influxdb,
        influx_db_name,
    )
    bad = [(f"repoclimate/{prefix}/r/s", f'{{"temperature":{i}'.encode()) for i in range(20)]
    with collector:
        wait_until(lambda: collector.connected, 10, "the collector to connect")
        publish_and_wait(mosquitto.url, bad)
        wait_until(lambda: collector.stats.snapshot().ignored == 20, 10, "its dead letters back")
        time.sleep(0.5)
    stats = collector.stats.snapshot()
    assert stats.rejected == {"malformed_json": 20}
    assert stats.dead_lettered == 20
    assert stats.received == 40


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_dead_letters_published_while_the_sink_connects_reach_the_broker(
    mosquitto: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, protocol: str
) -> None:
    """paho sets its socket before it queues CONNECT: a record published from another thread in
    between went out before CONNECT, and the broker dropped the new connection (the flaky
    "dead-letter records not taken by the broker (connection dropped)"). The window is held open
    here; records published in it must still be confirmed."""
    name = f"race-{protocol.replace('.', '')}-{next(_ids)}"
    opened, release = threading.Event(), threading.Event()
    open_socket = mqtt.Client._call_socket_open

    def slow_open(client: mqtt.Client, sock: object) -> None:
        if client._client_id.endswith(b"-deadletter"):
            opened.set()
            release.wait(10)  # the socket is set, CONNECT not yet queued
        open_socket(client, sock)  # type: ignore[arg-type]

    monkeypatch.setattr(mqtt.Client, "_call_socket_open", slow_open)
    settings = MqttSettings(
        url=mosquitto.url, client_id=name, dead_letter_topic=f"dl/{name}", protocol=protocol
    )
    local = LocalDeadLetters(tmp_path / "dl.jsonl")
    sink = DeadLetterSink(settings, local)
    try:
        letters = [sink.publish(b'{"n": 0}')]  # opens the connection
        assert opened.wait(10)
        letters += [sink.publish(f'{{"n": {i}}}'.encode()) for i in range(1, 5)]
        release.set()
        outcome = sink.settle(letters, timeout=10)
    finally:
        release.set()
        sink.close()
    assert (outcome.confirmed, outcome.kept_locally) == (5, 0), outcome
    assert local.records() == []


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "plain"])
def test_mqtt5_messages_with_properties_take_pahos_own_path(
    mosquitto: Mosquitto, influxdb: InfluxDB, influx_db_name: str, tmp_path: Path, fast_path: bool
) -> None:
    prefix = f"props-{influx_db_name}"
    mqtt_config = mqtt_settings(mosquitto.url, prefix, prefix)
    collector = make_collector(
        mqtt_config,
        collector_settings(tmp_path / "spool", fast_path=fast_path),
        influxdb,
        influx_db_name,
    )
    publisher = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"{prefix}-pub", protocol=mqtt.MQTTv5
    )
    with collector:
        wait_until(lambda: collector.connected, 10, "the collector to connect")
        publisher.connect("127.0.0.1", mosquitto.port)
        publisher.loop_start()
        infos = []
        for i, (topic, payload) in enumerate(generic_messages(50, prefix)):
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            properties.UserProperty = ("n", str(i))
            properties.ContentType = "application/json"
            infos.append(publisher.publish(topic, payload, qos=1, properties=properties))
        for info in infos:
            info.wait_for_publish(10)
        wait_until(lambda: collector.stats.snapshot().stored == 50, 10, "all stored")
        publisher.disconnect()
        publisher.loop_stop()
    assert_stored_once(influxdb, influx_db_name, 50)


def _watch(broker: Mosquitto, topic: str, into: list[dict[str, object]]) -> mqtt.Client:
    lock = threading.Lock()

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with lock:
            into.append(json.loads(message.payload))

    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"watch-{next(_ids)}")
    watcher.on_message = on_message
    watcher.connect("127.0.0.1", broker.port)
    watcher.subscribe(topic, qos=1)
    watcher.loop_start()
    time.sleep(0.2)
    return watcher


def test_a_collector_without_its_broker_keeps_trying_and_stops_promptly(
    influxdb: InfluxDB, influx_db_name: str, tmp_path: Path
) -> None:
    from tests.servers import free_port

    mqtt_config = mqtt_settings(f"mqtt://127.0.0.1:{free_port()}", "nobody-home", "nobody")
    collector = make_collector(
        mqtt_config, collector_settings(tmp_path / "spool"), influxdb, influx_db_name
    )
    collector.start()
    time.sleep(1.5)
    assert not collector.connected
    started = time.monotonic()
    collector.stop(timeout=10)
    assert time.monotonic() - started < 5
    assert collector.stats.snapshot().connections == 0


def _tls_material(directory: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1, made with the openssl CLI."""
    ca_key, ca_crt = directory / "ca.key", directory / "ca.crt"
    key, csr, crt = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")

    def run(*args: str | Path) -> None:
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", ca_key, "-out", ca_crt)  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", key, "-out", csr)  # fmt: skip
    run("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
        "-days", "2", "-extfile", ext, "-out", crt)  # fmt: skip
    return ca_crt, crt, key


def test_ssl_context_from_the_settings(tmp_path: Path) -> None:
    assert MqttSettings(url="mqtt://127.0.0.1:1883").ssl_context() is None

    implied = MqttSettings(url="mqtts://127.0.0.1").ssl_context()  # mqtts:// turns TLS on
    assert implied is not None
    assert implied.verify_mode == ssl.CERT_REQUIRED and implied.check_hostname

    ca, _, _ = _tls_material(tmp_path)
    insecure = MqttSettings.model_validate(
        {"url": "mqtt://127.0.0.1", "tls": {"enabled": True, "ca_file": ca, "insecure": True}}
    ).ssl_context()
    assert insecure is not None
    # insecure skips only the host-name check: the certificate is still verified
    assert insecure.verify_mode == ssl.CERT_REQUIRED
    assert not insecure.check_hostname
    assert [dict(c["subject"][0])["commonName"] for c in insecure.get_ca_certs()] == ["test-ca"]


def test_tls_and_password_from_the_settings(
    mosquitto_factory: Callable[..., Mosquitto],
    influxdb: InfluxDB,
    influx_db_name: str,
    tmp_path: Path,
) -> None:
    ca, certificate, key = _tls_material(tmp_path)
    passwords = tmp_path / "passwords"
    for user, password in (("collector", "s3cret"), ("sensor", "pub")):
        create = ["-c"] if user == "collector" else []
        subprocess.run(
            ["mosquitto_passwd", *create, "-b", str(passwords), user, password], check=True
        )
    broker = mosquitto_factory(
        f"certfile {certificate}\nkeyfile {key}\nallow_anonymous false\npassword_file {passwords}"
    )
    url = f"mqtts://127.0.0.1:{broker.port}"
    tls = {"enabled": True, "ca_file": str(ca)}

    refused = make_collector(
        mqtt_settings(url, "tls-wrong", "tls", username="collector", password="wrong", tls=tls),
        collector_settings(tmp_path / "spool-wrong"),
        influxdb,
        influx_db_name,
    )
    with refused:
        time.sleep(1.5)
        assert not refused.connected

    mqtt_config = mqtt_settings(url, "tls", "tls", username="collector", password="s3cret", tls=tls)
    collector = make_collector(
        mqtt_config, collector_settings(tmp_path / "spool"), influxdb, influx_db_name
    )
    with collector:
        wait_until(lambda: collector.connected, 10, "the collector to connect over TLS")
        publisher = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="tls-pub", protocol=mqtt.MQTTv5
        )
        publisher.tls_set(ca_certs=str(ca))
        publisher.username_pw_set("sensor", "pub")
        publisher.connect("127.0.0.1", broker.port)
        publisher.loop_start()
        infos = [publisher.publish(t, p, qos=1) for t, p in generic_messages(300, "tls")]
        for info in infos:
            info.wait_for_publish(10)
        wait_until(lambda: collector.stats.snapshot().stored == 300, 20, "all stored")
        publisher.disconnect()
        publisher.loop_stop()
    assert_stored_once(influxdb, influx_db_name, 300)
