"""No reading that reached the broker is lost: InfluxDB down, broker restarted, collector killed.

Each test publishes readings with a unique time each at QoS 1, breaks one part mid-stream, and
then checks that InfluxDB holds exactly the readings the broker acknowledged to the publisher —
no fewer, and no duplicates (distinct sensor + time keys equal the point count).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from history.influx import InfluxStore
from history.settings import StoreSettings
from ingest.collector import Collector
from ingest.pipeline import Pipeline
from sensors.reading import Reading
from sensors.registry import load_registry
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
