"""End to end: the simulator's mixed device formats → Mosquitto → collector → InfluxDB.

Every simulated reading must be stored with the site, room and sensor the registry gives it and
the values the simulator says a collector should store (calibration applied).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from repoclimate.history.timestamps import to_ns
from repoclimate.ingest.collector import Collector
from repoclimate.ingest.pipeline import Pipeline
from repoclimate.ingest.settings import MqttSettings
from repoclimate.sensors.registry import load_registry
from repoclimate.sensors.simulator import generate_messages
from tests.ingest.helpers import (
    REGISTRY,
    Publisher,
    collector_settings,
    influx_store,
    stored_rows,
    wait_until,
)
from tests.servers import InfluxDB, Mosquitto

COUNT = 12_000
FIELDS = ("temperature", "humidity", "battery", "linkquality")


@pytest.mark.timeout(180)
def test_simulated_mixed_formats_are_all_stored_with_registry_tags(
    mosquitto_factory: Callable[..., Mosquitto],
    influxdb: InfluxDB,
    influx_db_name: str,
    tmp_path: Path,
) -> None:
    broker = mosquitto_factory()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    messages = list(
        generate_messages(registry=REGISTRY, formats="mixed", count=COUNT, start=start, seed=7)
    )
    encodings = Counter(message.encoding for message in messages)
    assert len(encodings) >= 7, encodings  # every device format, not one

    mqtt = MqttSettings(url=broker.url, client_id="e2e-collector")  # the default topic routes
    settings = collector_settings(tmp_path / "spool", batch_size=2000)
    pipeline = Pipeline(load_registry(REGISTRY), mqtt.topics, settings.max_payload_bytes)
    collector = Collector(mqtt, settings, influx_store(influxdb, influx_db_name), pipeline)
    with collector:
        wait_until(lambda: collector.connected, 10, "the collector to connect")
        publisher = Publisher(broker.url, "e2e-simulator", window=1000)
        publisher.publish_all((m.topic, m.payload) for m in messages)
        publisher.wait_acked(COUNT)
        publisher.close()
        wait_until(lambda: collector.stats.snapshot().acked == COUNT, 60, "all acknowledged")
    stats = collector.stats.snapshot()
    assert stats.rejected == {}
    assert stats.readings == stats.stored == COUNT
    assert stats.spooled == 0

    rows = stored_rows(influxdb, influx_db_name)
    by_key = {(row["sensor"], row["time"]): row for row in rows}
    assert len(by_key) == len(rows)

    # Messages with the device's own time: one point each, exactly as expected.
    timestamped = [m.expected for m in messages if m.timestamped]
    for reading in timestamped:
        row = by_key.get((reading.sensor, to_ns(reading.time)))
        assert row is not None, f"missing {reading}"
        assert (row["site"], row["room"]) == (reading.site, reading.room), reading
        for field in FIELDS:
            assert row[field] == getattr(reading, field), (field, reading, row)
    assert all(m.expected.site != "unassigned" for m in messages)

    # One-value-per-message formats (ESPHome, Shelly Gen1) are stamped on receipt: every value
    # is stored for its sensor, site and room.
    stamped_sensors = {m.expected.sensor for m in messages if not m.timestamped}
    assert stamped_sensors.isdisjoint(r.sensor for r in timestamped)
    expected_values = Counter(
        (m.expected.sensor, m.expected.site, m.expected.room, field, getattr(m.expected, field))
        for m in messages
        if not m.timestamped
        for field in FIELDS
        if getattr(m.expected, field) is not None
    )
    stored_values = Counter(
        (row["sensor"], row["site"], row["room"], field, row[field])
        for row in rows
        if row["sensor"] in stamped_sensors
        for field in FIELDS
        if row[field] is not None
    )
    assert stored_values == expected_values
    assert len(rows) >= len(timestamped) + len(stamped_sensors)
