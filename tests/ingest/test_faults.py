"""No reading that reached the broker is lost: InfluxDB down, broker restarted, collector killed.

Each test publishes readings at QoS 1, breaks one part mid-stream, and then checks that InfluxDB
holds exactly the readings the broker acknowledged to the publisher — no fewer, and no duplicates
(distinct sensor + time keys equal the point count). Most readings carry a unique time each; the
last test's carry none, so the collector stamps them on receipt and a redelivery must get the
same stamp again.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from repoclimate.history.influx import InfluxStore
from repoclimate.history.settings import StoreSettings
from repoclimate.ingest.collector import Collector
from repoclimate.ingest.pipeline import Pipeline
from repoclimate.ingest.settings import TopicRoute
from repoclimate.sensors.reading import Reading
from repoclimate.sensors.registry import load_registry
from tests.ingest.helpers import (
    REGISTRY,
    CollectorProcess,
    Publisher,
    collector_settings,
    create_session,
    distinct_keys,
    generic_messages,
    influx_store,
    mqtt_settings,
    stored_count,
    stored_rows,
    wait_until,
)
from tests.servers import InfluxDB, Mosquitto

COUNT = 3000


def assert_all_stored_once(influxdb: InfluxDB, db: str, count: int) -> None:
    wait_until(lambda: stored_count(influxdb, db) >= count, 60, f"{count} points in InfluxDB")
    rows = stored_rows(influxdb, db)
    assert len(rows) == count
    assert len(distinct_keys(rows)) == count


class Background:
    """Publish in a thread, so the test can break things while messages flow."""

    def __init__(
        self, publisher: Publisher, messages: list[tuple[str, bytes]], rate: float | None = None
    ) -> None:
        self.sent = 0
        self.error: BaseException | None = None
        self._rate = rate
        self._thread = threading.Thread(
            target=self._run, args=(publisher, messages), daemon=True, name="test-publisher"
        )
        self._thread.start()

    def _run(self, publisher: Publisher, messages: list[tuple[str, bytes]]) -> None:
        try:
            publisher.publish_all(messages, on_progress=self._progress, rate=self._rate)
        except BaseException as exc:
            self.error = exc
            raise

    def _progress(self, sent: int) -> None:
        self.sent = sent

    def join(self, timeout: float = 120) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "publisher did not finish"
        assert self.error is None


class RecordingStore:
    """The real InfluxDB store, noting the readings of every write that succeeded, in order."""

    def __init__(self, inner: InfluxStore) -> None:
        self.inner = inner
        self.written: list[Reading] = []

    def write(self, readings: Sequence[Reading]) -> None:
        self.inner.write(readings)
        self.written.extend(readings)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def in_process_collector(
    broker_url: str, influxdb: InfluxDB, db: str, spool_dir: Path, prefix: str
) -> Collector:
    mqtt = mqtt_settings(broker_url, prefix, prefix)
    settings = collector_settings(spool_dir)
    pipeline = Pipeline(load_registry(REGISTRY), mqtt.topics, settings.max_payload_bytes)
    store = RecordingStore(influx_store(influxdb, db, timeout_s=2.0))
    return Collector(mqtt, settings, store, pipeline, retry_delay_s=(0.2, 1.0))  # type: ignore[arg-type]


def test_influxdb_down_mid_stream_spools_then_drains_in_order(
    mosquitto: Mosquitto, influxdb_factory: Callable[[], InfluxDB], tmp_path: Path
) -> None:
    influxdb = influxdb_factory()
    influxdb.create_database("faults")
    messages = generic_messages(COUNT, "influx-down")
    collector = in_process_collector(
        mosquitto.url, influxdb, "faults", tmp_path / "spool", "influx-down"
    )
    collector.start()
    try:
        wait_until(lambda: collector.connected, 10, "the collector to connect")
        publisher = Publisher(collector.mqtt_settings.url, "influx-down-pub")
        background = Background(publisher, messages, rate=1500)
        wait_until(lambda: collector.stats.snapshot().stored >= COUNT // 4, 30, "some stored")
        influxdb.stop()
        wait_until(lambda: background.sent >= 3 * COUNT // 4, 60, "more published")
        wait_until(lambda: collector.stats.snapshot().spool_pending > 0, 30, "spooling")
        background.join()
        publisher.wait_acked(COUNT)
        publisher.close()
        wait_until(lambda: collector.stats.snapshot().acked == COUNT, 30, "all acknowledged")
        spooled = collector.stats.snapshot().spooled
        assert spooled > 0
        influxdb.start()
        wait_until(lambda: collector.stats.snapshot().spool_pending == 0, 60, "spool drained")
        assert_all_stored_once(influxdb, "faults", COUNT)
        stats = collector.stats.snapshot()
        assert stats.drained == stats.spooled == spooled
        assert stats.stored == COUNT
        assert stats.store_errors > 0
        # Readings reached the store in the order they were published (their times increase).
        store = collector.store
        assert isinstance(store, RecordingStore)
        times = [reading.time for reading in store.written]
        assert len(times) == COUNT
        assert times == sorted(times)
    finally:
        collector.stop()


def test_broker_restart_mid_stream_loses_nothing(
    mosquitto_factory: Callable[..., Mosquitto],
    influxdb: InfluxDB,
    influx_db_name: str,
    tmp_path: Path,
) -> None:
    broker = mosquitto_factory()
    messages = generic_messages(COUNT, "broker-restart")
    collector = in_process_collector(
        broker.url, influxdb, influx_db_name, tmp_path / "spool", "broker-restart"
    )
    collector.start()
    try:
        wait_until(lambda: collector.connected, 10, "the collector to connect")
        publisher = Publisher(broker.url, "broker-restart-pub")
        background = Background(publisher, messages, rate=1500)
        wait_until(lambda: collector.stats.snapshot().stored >= COUNT // 3, 30, "a third stored")
        broker.restart()
        assert background.sent < COUNT  # the restart lands mid-stream
        background.join()
        publisher.wait_acked(COUNT, timeout=90)
        assert publisher.refused == 0
        publisher.close()
        assert_all_stored_once(influxdb, influx_db_name, COUNT)
        assert collector.stats.snapshot().connections >= 2
    finally:
        collector.stop()


def test_collector_killed_mid_stream_and_restarted_loses_nothing(
    mosquitto: Mosquitto, influxdb: InfluxDB, influx_db_name: str, tmp_path: Path
) -> None:
    """``repoclimate collect`` is SIGKILLed mid-stream and started again with the same id."""
    client_id = f"killed-{influx_db_name}"
    mqtt_config = mqtt_settings(mosquitto.url, client_id, client_id)
    child = CollectorProcess(
        tmp_path,
        mqtt_config,
        collector_settings(tmp_path / "spool"),
        StoreSettings(kind="influxdb", url=influxdb.url, database=influx_db_name, api_version="v1"),
    )
    create_session(mosquitto.url, client_id, mqtt_config.topics[0].filter)
    messages = generic_messages(COUNT, client_id)
    publisher = Publisher(mosquitto.url, f"{client_id}-pub")
    child.start()
    try:
        # A few readings first, to know the child is up; the rest at a pace it outruns, so the
        # kill lands mid-stream with a batch in flight.
        publisher.publish_all(messages[:10])
        wait_until(lambda: stored_count(influxdb, influx_db_name) > 0, 60, "the child storing")
        background = Background(publisher, messages[10:], rate=1000)
        wait_until(
            lambda: stored_count(influxdb, influx_db_name) >= COUNT // 3 or not child.running(),
            60,
            "a third stored",
        )
        assert child.running(), child.log.read_text()
        child.kill()
        background.join()
        publisher.wait_acked(COUNT)
        publisher.close()
        assert stored_count(influxdb, influx_db_name) < COUNT
        child.start()
        assert_all_stored_once(influxdb, influx_db_name, COUNT)
        assert child.running()
    finally:
        child.terminate()
    assert "Traceback" not in child.log.read_text()


def zigbee_messages(count: int, prefix: str, *, sensors: int = 5) -> list[tuple[str, bytes]]:
    """Zigbee2MQTT device states without ``last_seen``, so each is stamped on receipt.

    The values repeat, as in a steady store room: most payloads of a sensor are identical to
    earlier ones, and each is still a reading of its own.
    """
    return [
        (
            f"zigbee2mqtt/{prefix}/s{i % sensors}",
            json.dumps(
                {
                    "temperature": round(19.0 + (i // sensors) % 3 / 10, 1),
                    "humidity": 55.0,
                    "battery": 100,
                    "linkquality": 120,
                }
            ).encode(),
        )
        for i in range(count)
    ]


SENTINEL = "end-of-stream"


def sentinel(prefix: str) -> tuple[str, bytes]:
    """A last message (with a device time) that marks the end of a test's stream."""
    end = {"temperature": 20.0, "last_seen": "2026-11-20T00:00:00Z"}
    return f"zigbee2mqtt/{prefix}/{SENTINEL}", json.dumps(end).encode()


def readings_before_the_sentinel(influxdb: InfluxDB, db: str) -> list[dict[str, object]]:
    """The stored points once the sentinel is stored, without it.

    Messages reach the collector in order (redeliveries first), and batches are written in
    order, so every message before the sentinel has been written by then: duplicates too.
    """

    def sentinel_stored() -> bool:
        try:
            rows = stored_rows(influxdb, db)
        except OSError:
            return False
        return any(str(row["sensor"]).endswith(SENTINEL) for row in rows)

    wait_until(sentinel_stored, 60, "the end of the stream stored")
    return [row for row in stored_rows(influxdb, db) if not str(row["sensor"]).endswith(SENTINEL)]


def test_receive_stamped_readings_stored_before_a_kill_are_not_stored_twice(
    mosquitto: Mosquitto, influxdb: InfluxDB, influx_db_name: str, tmp_path: Path
) -> None:
    """The collector stores a batch and dies before its PUBACKs leave; the broker redelivers the
    messages (DUP) to the restarted collector, which must stamp them as the first time so that
    the rewrite hits the same points. Twice in a row, then a clean run to the end."""
    client_id = f"restamp-{influx_db_name}"
    route = TopicRoute(filter=f"zigbee2mqtt/{client_id}/#", format="zigbee2mqtt")
    mqtt_config = mqtt_settings(mosquitto.url, client_id, topics=[route])
    child = CollectorProcess(
        tmp_path,
        mqtt_config,
        collector_settings(tmp_path / "spool", batch_size=100),
        StoreSettings(kind="influxdb", url=influxdb.url, database=influx_db_name, api_version="v1"),
    )
    create_session(mosquitto.url, client_id, route.filter)
    messages = [*zigbee_messages(2000, client_id), sentinel(client_id)]
    publisher = Publisher(mosquitto.url, f"{client_id}-pub")
    publisher.publish_all(messages)  # all queued in the session: the child starts on a backlog
    publisher.wait_acked(len(messages))
    publisher.close()
    try:
        for kill_after in (3, 2):
            child.start(kill_after_writes=kill_after)
            assert child.wait(60) == -signal.SIGKILL, child.log.read_text()
            assert 0 < stored_count(influxdb, influx_db_name) < 2000
        child.start(harness=True)
        rows = readings_before_the_sentinel(influxdb, influx_db_name)
        assert child.terminate() == 0
    finally:
        child.terminate()
    assert len(rows) == len(distinct_keys(rows)) == 2000
    restamped = child.stats()["restamped"]
    assert isinstance(restamped, int) and restamped > 0  # the redeliveries did come
    assert "Traceback" not in child.log.read_text()


class DropConnectionAfterWrites(RecordingStore):
    """The real store; right after the ``limit``-th successful write it cuts the collector's
    MQTT connection, so that batch (and those behind it) go unacknowledged on that connection."""

    def __init__(self, inner: InfluxStore, limit: int) -> None:
        super().__init__(inner)
        self.limit = limit
        self.writes = 0
        self.collector: Collector | None = None

    def write(self, readings: Sequence[Reading]) -> None:
        super().write(readings)
        self.writes += 1
        if self.writes == self.limit and self.collector is not None:
            sock = self.collector.client.socket()
            if isinstance(sock, socket.socket):
                sock.shutdown(socket.SHUT_RDWR)


def test_receive_stamped_readings_redelivered_after_a_lost_connection_are_stored_once(
    mosquitto: Mosquitto, influxdb: InfluxDB, influx_db_name: str, tmp_path: Path
) -> None:
    """The connection drops after a batch is stored and before its PUBACKs: the same collector
    gets the messages again (DUP) on its next connection and must give them the same stamps."""
    client_id = f"relink-{influx_db_name}"
    route = TopicRoute(filter=f"zigbee2mqtt/{client_id}/#", format="zigbee2mqtt")
    mqtt_config = mqtt_settings(mosquitto.url, client_id, topics=[route])
    settings = collector_settings(tmp_path / "spool", batch_size=100)
    pipeline = Pipeline(load_registry(REGISTRY), mqtt_config.topics, settings.max_payload_bytes)
    store = DropConnectionAfterWrites(influx_store(influxdb, influx_db_name), limit=3)
    collector = Collector(
        mqtt_config,
        settings,
        store,  # type: ignore[arg-type]
        pipeline,
        reconnect_delay_s=(1, 2),
    )
    store.collector = collector
    create_session(mosquitto.url, client_id, route.filter)
    messages = zigbee_messages(2000, client_id)
    publisher = Publisher(mosquitto.url, f"{client_id}-pub")
    publisher.publish_all(messages)
    publisher.wait_acked(len(messages))
    with collector:
        wait_until(lambda: collector.stats.snapshot().connections >= 2, 30, "a new connection")
        # Queued behind the redeliveries of the new connection.
        publisher.publish_all([sentinel(client_id)])
        publisher.wait_acked(len(messages) + 1)
        rows = readings_before_the_sentinel(influxdb, influx_db_name)
    publisher.close()
    assert len(rows) == len(distinct_keys(rows)) == 2000
    stats = collector.stats.snapshot()
    assert stats.restamped > 0
    assert stats.stored > len(messages)  # the redelivered readings were written again
