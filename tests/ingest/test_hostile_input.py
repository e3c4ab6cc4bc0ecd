"""Hostile input: malformed payloads interleaved with good readings.

Every bad message must reach the dead-letter topic with the right reason, the original topic and
the original payload; every good reading must be stored; nothing forged may reach InfluxDB.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from repoclimate.ingest.collector import Collector
from repoclimate.ingest.pipeline import Pipeline
from repoclimate.sensors.registry import load_registry
from tests.ingest.helpers import (
    REGISTRY,
    T0,
    Publisher,
    collector_settings,
    generic_messages,
    influx_store,
    mqtt_settings,
    stored_rows,
    wait_until,
)
from tests.servers import InfluxDB, Mosquitto

GOOD = 1500
BAD_PER_KIND = 150
LIMIT = 4096


def bad_messages(prefix: str) -> list[tuple[str, bytes, str]]:
    """(topic, payload, expected reason) for each kind of bad input, each payload unique."""
    topic = f"repoclimate/{prefix}/room/bad"
    bad: list[tuple[str, bytes, str]] = []
    for i in range(BAD_PER_KIND):
        time = (T0 - timedelta(days=30, seconds=i)).isoformat()
        bad += [
            (topic, f'{{"temperature":19.{i}'.encode(), "malformed_json"),
            (topic, f'{{"time":"{time}","temperature":true,"n":{i}}}'.encode(), "wrong_type"),
            (topic, f'{{"time":"{time}","temperature":"warm{i}"}}'.encode(), "not_a_number"),
            (topic, f'{{"time":"{time}","temperature":NaN,"n":{i}}}'.encode(), "not_a_number"),
            (topic, f'{{"time":"{time}","humidity":150,"n":{i}}}'.encode(), "out_of_range"),
            (
                topic,
                json.dumps(
                    {"time": time, "temperature": 19.3, "pad": "x" * LIMIT, "n": i}
                ).encode(),
                "too_large",
            ),
            (
                topic,
                json.dumps(
                    {
                        "sensor": f"s{i}\nclimate,sensor=forged temperature=99",
                        "time": time,
                        "temperature": 19.3,
                    }
                ).encode(),
                "injection",
            ),
            (topic, b"\xff\xfe" + f'{{"temperature":{i}}}'.encode("utf-16-le"), "not_utf8"),
        ]
    return bad


@pytest.mark.timeout(180)
def test_every_bad_message_is_dead_lettered_with_its_reason_and_every_good_one_stored(
    mosquitto: Mosquitto, influxdb: InfluxDB, influx_db_name: str, tmp_path: Path
) -> None:
    prefix = f"hostile-{influx_db_name}"
    mqtt_config = mqtt_settings(mosquitto.url, prefix, prefix)
    settings = collector_settings(tmp_path / "spool", max_payload_bytes=LIMIT)
    pipeline = Pipeline(load_registry(REGISTRY), mqtt_config.topics, settings.max_payload_bytes)
    good = generic_messages(GOOD, prefix)
    # Printable but line-protocol-special sensor names are legal ids: stored verbatim as tags.
    tricky = [
        (
            f"repoclimate/{prefix}/room/x",
            json.dumps(
                {
                    "sensor": f'{prefix} a,site=evil b="{i}"=x',
                    "time": (T0 - timedelta(days=60, seconds=i)).isoformat(),
                    "temperature": 20.0,
                }
            ).encode(),
        )
        for i in range(50)
    ]
    bad = bad_messages(prefix)
    # No line protocol tag can end with a backslash: the decoder refuses such sensor names at
    # once (the same rule as the store's), so none reaches a batch to be refused there.
    for i in range(20):
        payload = json.dumps(
            {
                "sensor": f"{prefix}-slash{i}\\",
                "time": (T0 - timedelta(days=90, seconds=i)).isoformat(),
                "humidity": 40.0,
            }
        ).encode()
        bad.append((f"repoclimate/{prefix}/room/y", payload, "injection"))
    assert len(bad) >= 1000
    stream: list[tuple[str, bytes]] = []
    for index in range(max(len(good), len(bad))):
        stream += good[index : index + 1] + [(t, p) for t, p, _ in bad[index : index + 1]]
    stream += tricky

    dead_letters: list[dict[str, object]] = []
    lock = threading.Lock()

    def on_dead_letter(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with lock:
            dead_letters.append(json.loads(message.payload))

    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{prefix}-dlq")
    watcher.on_message = on_dead_letter
    watcher.connect("127.0.0.1", mosquitto.port)
    watcher.subscribe(mqtt_config.dead_letter_topic, qos=1)
    watcher.loop_start()

    collector = Collector(mqtt_config, settings, influx_store(influxdb, influx_db_name), pipeline)
    try:
        with collector:
            wait_until(lambda: collector.connected, 10, "the collector to connect")
            publisher = Publisher(mosquitto.url, f"{prefix}-pub")
            publisher.publish_all(stream)
            publisher.wait_acked(len(stream))
            publisher.close()
            wait_until(
                lambda: collector.stats.snapshot().acked == len(stream), 60, "all acknowledged"
            )
        wait_until(lambda: len(dead_letters) >= len(bad), 30, "every dead letter")
    finally:
        watcher.disconnect()
        watcher.loop_stop()

    stats = collector.stats.snapshot()
    expected_reasons = Counter(reason for _, _, reason in bad)
    assert stats.store_rejected == 0
    assert stats.rejected == expected_reasons
    assert stats.dead_lettered == len(bad) == len(dead_letters)
    assert stats.stored == len(good) + len(tricky)

    expected_by_payload = {payload: (topic, reason) for topic, payload, reason in bad}
    for record in dead_letters:
        encoded = record["payload"]
        assert isinstance(encoded, str)
        if record.get("payload_encoding") == "base64":
            payload = base64.b64decode(encoded)
        else:
            payload = encoded.encode()
        topic, reason = expected_by_payload.pop(payload)
        assert record["reason"] == reason
        assert record["topic"] == topic
        assert record["message"]
        assert isinstance(record["received_at"], str) and record["received_at"].endswith("Z")
    assert expected_by_payload == {}

    rows = stored_rows(influxdb, influx_db_name)
    assert len(rows) == len(good) + len(tricky)
    sensors = Counter(str(row["sensor"]) for row in rows)
    assert all(sensor.startswith(prefix) for sensor in sensors)
    assert sum(count for sensor, count in sensors.items() if "site=evil" in sensor) == len(tricky)
    assert {row["site"] for row in rows} == {"unassigned"}
    assert not any(row["temperature"] == 99 for row in rows)
