"""The paho fast path cannot fail silently: version gate, run-time fallback, network watchdog.

Each hook is broken on purpose against the real Mosquitto and InfluxDB: the collector must keep
storing every reading, and its stats and `Collector.health()` must say what happened.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from repoclimate.ingest import paho_client
from repoclimate.ingest.collector import Collector
from repoclimate.ingest.paho_client import FastClient, WatchedClient, fast_path_supported
from repoclimate.ingest.pipeline import Pipeline
from repoclimate.ingest.settings import CollectorSettings, MqttSettings
from repoclimate.sensors.registry import load_registry
from tests.ingest.helpers import (
    REGISTRY,
    Publisher,
    collector_settings,
    generic_messages,
    influx_store,
    mqtt_settings,
    stored_count,
    wait_until,
)
from tests.servers import InfluxDB, Mosquitto

_ids = itertools.count()


@pytest.mark.parametrize(
    ("version", "supported"),
    [("2.1.0", True), ("2.2.0", True), ("2.2.1", True), ("2.3.0", False), ("3.0.0", False),
     ("2.0.2", False), ("1.6.1", False)],
)  # fmt: skip
def test_the_fast_path_runs_only_on_verified_paho_versions(version: str, supported: bool) -> None:
    assert fast_path_supported(version) is supported


def test_an_unverified_paho_gets_the_plain_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paho_client.paho.mqtt, "__version__", "2.3.0")
    client = paho_client.make_client(True, CallbackAPIVersion.VERSION2, client_id="v")
    assert type(client) is WatchedClient and not client.fast_active
    assert type(paho_client.make_client(False, CallbackAPIVersion.VERSION2)) is WatchedClient


def test_a_failing_batched_ack_falls_back_to_one_puback_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = FastClient(CallbackAPIVersion.VERSION2, client_id="x", manual_ack=True)
    fallbacks: list[str] = []
    client.on_fallback = lambda hook, exc: fallbacks.append(hook)

    queue_packet = client._packet_queue

    def changed(command: int, packet: bytes, mid: int, qos: int, info: object = None) -> object:
        if mid == 0:  # the batched form `ack_all` uses
            raise TypeError("_packet_queue() changed its signature")
        return queue_packet(command, packet, mid, qos, info)  # type: ignore[arg-type]

    monkeypatch.setattr(client, "_packet_queue", changed)
    client.ack_all([1, 2])
    assert fallbacks == ["_packet_queue"] and not client.fast_active
    assert [bytes(p["packet"]) for p in client._out_packet] == [
        bytes.fromhex("40020001"),
        bytes.fromhex("40020002"),
    ]


def _collector(
    broker: Mosquitto, influxdb: InfluxDB, db: str, tmp_path: Path, **options: float
) -> tuple[Collector, MqttSettings]:
    prefix = f"watch-{db}-{next(_ids)}"
    mqtt_config = mqtt_settings(broker.url, prefix, prefix, keepalive_s=5)
    settings: CollectorSettings = collector_settings(tmp_path / "spool", batch_size=200)
    pipeline = Pipeline(load_registry(REGISTRY), mqtt_config.topics, settings.max_payload_bytes)
    collector = Collector(
        mqtt_config,
        settings,
        influx_store(influxdb, db),
        pipeline,
        reconnect_delay_s=(1, 2),
        **options,  # type: ignore[arg-type]
    )
    return collector, mqtt_config


def _publish_in_two_halves(
    broker: Mosquitto, collector: Collector, prefix: str, between: threading.Event | None = None
) -> int:
    """Publish 1000 readings, then (once ``between`` is set, if given) 1000 more."""
    messages = generic_messages(2000, prefix)
    publisher = Publisher(broker.url, f"{prefix}-pub")
    try:
        publisher.publish_all(messages[:1000])
        if between is not None:
            assert between.wait(30), "the hook was never broken"
        publisher.publish_all(messages[1000:])
        publisher.wait_acked(len(messages))
    finally:
        publisher.close()
    return len(messages)


def _topic_prefix(config: MqttSettings) -> str:
    return config.topics[0].filter.removeprefix("repoclimate/").removesuffix("/#")


@pytest.mark.parametrize("hook", ["_parse_publish", "_fast_recv"])
def test_a_fast_path_hook_that_raises_falls_back_to_pahos_own_path(
    mosquitto: Mosquitto,
    influxdb: InfluxDB,
    influx_db_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    hook: str,
) -> None:
    collector, config = _collector(mosquitto, influxdb, influx_db_name, tmp_path)
    broken = threading.Event()
    original = getattr(FastClient, hook)
    calls = itertools.count()

    def breaks_after_a_while(self: FastClient, *args: object) -> object:
        if next(calls) >= 300:  # well into the stream
            broken.set()
            raise AttributeError(f"'FastClient' object has no attribute '{hook}_internal'")
        return original(self, *args)

    monkeypatch.setattr(FastClient, hook, breaks_after_a_while)
    with collector:
        wait_until(lambda: collector.connected, 10, "the collector to connect")
        assert collector.stats.snapshot().fast_path
        total = _publish_in_two_halves(mosquitto, collector, _topic_prefix(config))
        wait_until(lambda: collector.stats.snapshot().acked == total, 30, "every message acked")
        stats = collector.stats.snapshot()
        assert collector.health().ok, collector.health().failing
    assert broken.is_set()
    assert stats.fast_path_fallbacks == 1 and not stats.fast_path
    assert not collector.client.fast_active
    assert stats.network_thread_restarts == 0  # the fallback needed no reconnect
    assert stats.stored == total
    wait_until(lambda: stored_count(influxdb, influx_db_name) == total, 30, "all points")


@pytest.fixture
def kill_switch(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Set it and the network loop of the client running at that moment raises and dies."""
    armed = threading.Event()
    original = WatchedClient.loop_read

    def loop_read(self: WatchedClient, max_packets: int = 1) -> MQTTErrorCode:
        if armed.is_set():
            armed.clear()
            raise RuntimeError("simulated crash in the receive hook")
        return original(self, max_packets)

    monkeypatch.setattr(WatchedClient, "loop_read", loop_read)
    yield armed


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "plain"])
def test_a_dead_network_thread_makes_the_collector_reconnect(
    mosquitto: Mosquitto,
    influxdb: InfluxDB,
    influx_db_name: str,
    tmp_path: Path,
    kill_switch: threading.Event,
    fast_path: bool,
) -> None:
    prefix = f"dead-{influx_db_name}-{fast_path}"
    mqtt_config = mqtt_settings(mosquitto.url, prefix, prefix)
    settings = collector_settings(tmp_path / "spool", batch_size=200, fast_path=fast_path)
    pipeline = Pipeline(load_registry(REGISTRY), mqtt_config.topics, settings.max_payload_bytes)
    collector = Collector(
        mqtt_config,
        settings,
        influx_store(influxdb, influx_db_name),
        pipeline,
        reconnect_delay_s=(1, 2),
        watchdog_interval_s=2.0,
    )
    with collector:
        wait_until(lambda: collector.connected, 10, "the collector to connect")
        first = collector.client
        messages = generic_messages(2000, prefix)
        publisher = Publisher(mosquitto.url, f"{prefix}-pub")
        try:
            publisher.publish_all(messages[:1000])
            wait_until(lambda: collector.stats.snapshot().acked >= 500, 20, "a first part")
            kill_switch.set()
            # The loop reads only when the socket has data: a few more messages make it read
            # (and die) now. They are not acknowledged, so the broker delivers them again.
            publisher.publish_all(messages[1000:1010])
            wait_until(lambda: not first.loop_alive, 10, "the network thread to die")
            # Until the watchdog looks, the collector does not pretend to be healthy.
            failing = collector.health().failing
            if collector.client is first:
                assert {"network_loop", "mqtt_connected"} <= set(failing), failing
                assert not collector.connected
            wait_until(
                lambda: collector.stats.snapshot().network_thread_restarts == 1,
                10,
                "the watchdog to replace the client",
            )
            publisher.publish_all(messages[1010:])
            publisher.wait_acked(len(messages))
        finally:
            publisher.close()
        wait_until(lambda: collector.stats.snapshot().acked >= 2000, 30, "every message acked")
        assert collector.client is not first and collector.connected
        assert collector.health().ok, collector.health().failing
    assert isinstance(first.loop_error, RuntimeError)
    stats = collector.stats.snapshot()
    assert stats.connections == 2 and stats.stalls == 0
    # Every reading is stored once (redelivered ones rewrite their point).
    wait_until(lambda: stored_count(influxdb, influx_db_name) == 2000, 30, "all 2000 points")


def test_a_receive_loop_that_stopped_reading_is_replaced(
    mosquitto: Mosquitto,
    influxdb: InfluxDB,
    influx_db_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The thread lives but its loop hangs (e.g. stuck inside a hook): no PINGRESP is read."""
    collector, config = _collector(
        mosquitto, influxdb, influx_db_name, tmp_path, watchdog_interval_s=0.5, stall_after_s=7.0
    )
    release = threading.Event()
    hung: list[WatchedClient] = []
    original = WatchedClient.loop_read

    def loop_read(self: WatchedClient, max_packets: int = 1) -> MQTTErrorCode:
        if hung and self is hung[0]:
            release.wait(60)
        return original(self, max_packets)

    monkeypatch.setattr(WatchedClient, "loop_read", loop_read)
    try:
        with collector:
            wait_until(lambda: collector.connected, 10, "the collector to connect")
            hung.append(collector.client)
            wait_until(
                lambda: collector.stats.snapshot().stalls == 1, 30, "the stall to be noticed"
            )
            assert hung[0].loop_alive  # the thread itself is alive: only reading stopped
            total = _publish_in_two_halves(mosquitto, collector, _topic_prefix(config))
            wait_until(lambda: collector.stats.snapshot().acked >= total, 30, "every message")
            assert not collector.stats.snapshot().stalled
    finally:
        release.set()
    stats = collector.stats.snapshot()
    assert stats.network_thread_restarts == 1
    wait_until(lambda: stored_count(influxdb, influx_db_name) == total, 30, "all points")


def test_health_names_the_failing_checks(tmp_path: Path, influxdb: InfluxDB) -> None:
    from tests.servers import free_port

    config = mqtt_settings(f"mqtt://127.0.0.1:{free_port()}", "health-nobody", "health")
    settings = collector_settings(tmp_path / "spool")
    pipeline = Pipeline(load_registry(REGISTRY), config.topics, settings.max_payload_bytes)
    collector = Collector(config, settings, influx_store(influxdb, "unused"), pipeline)
    assert collector.health().failing == [
        "running",
        "mqtt_connected",
        "network_loop",
        "decoder",
        "writer",
    ]
    with collector:
        wait_until(lambda: collector.client.loop_alive, 5, "the network loop")
        assert collector.health().failing == ["mqtt_connected"]
    assert "running" in collector.health().failing
