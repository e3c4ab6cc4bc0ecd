"""What a new user runs: `simulate` and `collect` against a Mosquitto with its stock limits.

A stock Mosquitto advertises a Receive Maximum of 20 to MQTT 5 clients and queues at most 1000
messages per client; the `mosquitto` fixture raises those limits, which hid a simulator crash.
`collect` must also say what it does: start-up, failed connection attempts with their reason and
the next retry delay (rate-limited), the connection, and a summary of counts on exit.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from repoclimate.history.sqlite import SQLiteStore
from repoclimate.ingest.collector import Collector
from repoclimate.ingest.pipeline import Pipeline
from repoclimate.ingest.session import FLAP_S
from repoclimate.sensors.registry import load_registry
from repoclimate.sensors.simulate.publisher import publish_messages
from repoclimate.sensors.simulator import generate_messages
from tests.ingest.helpers import (
    REGISTRY,
    collector_settings,
    influx_store,
    mqtt_settings,
    stored_count,
    wait_until,
)
from tests.servers import InfluxDB, Mosquitto

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
@pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "plain"])
def test_the_simulator_feeds_the_collector_through_a_stock_mosquitto(
    stock_mosquitto: Mosquitto,
    influxdb: InfluxDB,
    influx_db_name: str,
    tmp_path: Path,
    protocol: str,
    fast_path: bool,
) -> None:
    # MQTT 3.1.1 cannot ask for a larger window: with 20 messages in flight and batches cut when
    # the stream pauses, the collector takes a few hundred messages/s, and beyond the broker's
    # 1000 queued messages a stock Mosquitto drops QoS 1 messages. Real sensors are far slower.
    count, rate = (3000, None) if protocol == "5" else (1000, 200.0)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    messages = list(
        generate_messages(registry=REGISTRY, formats="generic", count=count, start=start, seed=3)
    )
    client_id = f"stock-{influx_db_name}"
    mqtt_config = mqtt_settings(stock_mosquitto.url, client_id, protocol=protocol)
    settings = collector_settings(tmp_path / "spool", fast_path=fast_path)
    pipeline = Pipeline(load_registry(REGISTRY), mqtt_config.topics, settings.max_payload_bytes)
    collector = Collector(mqtt_config, settings, influx_store(influxdb, influx_db_name), pipeline)
    with collector:
        wait_until(lambda: collector.connected, 10, "the collector to connect")
        report = publish_messages(
            messages,
            host="127.0.0.1",
            port=stock_mosquitto.port,
            protocol=protocol,
            max_rate=rate,
        )
        assert report.total == count and not report.rejected
        wait_until(lambda: collector.stats.snapshot().acked == count, 60, "all acknowledged")
    stats = collector.stats.snapshot()
    assert stats.stored == count and stats.rejected_total == 0
    assert stats.fast_path is fast_path
    wait_until(lambda: stored_count(influxdb, influx_db_name) == count, 30, "every point")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "repoclimate.app", *args]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("REPOCLIMATE_")}


@pytest.mark.timeout(120)
def test_collect_says_what_it_does_while_its_broker_is_away_and_when_it_comes(
    tmp_path: Path,
) -> None:
    broker = Mosquitto(tmp_path / "broker", stock=True)  # its port is known; started later
    config = tmp_path / "config.yaml"
    config.write_text(
        f"mqtt: {{url: '{broker.url}', client_id: collect-log-test}}\n"
        "collector: {spool_dir: spool, batch_interval_s: 0.2}\n"
        "store: {kind: sqlite, sqlite_path: readings.sqlite}\n"
        f"registry: {REGISTRY}\n"
        "log_level: INFO\n"
    )
    log = tmp_path / "collect.log"
    with log.open("w") as log_file:
        child = subprocess.Popen(
            _cli("collect", "--config", str(config)),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=_env(),
            cwd=tmp_path,
        )
    try:
        wait_until(lambda: "cannot connect" in log.read_text(), 60, "a connection error")
        time.sleep(3.5)  # attempts at +1, +2 s… must not each log a warning
        text = log.read_text()
        assert re.search(rf"broker {re.escape(broker.url)} \(MQTT 5\), topics repoclimate/#", text)
        assert re.search(r"store: sqlite .*readings\.sqlite", text), text
        failures = re.findall(r"WARNING .*cannot connect to (\S+): (.+); retrying in (\d+) s", text)
        assert len(failures) == 1, text  # rate-limited
        [(url, reason, delay)] = failures
        assert url == broker.url and "ConnectionRefusedError" in reason and delay == "1"

        broker.start()
        try:
            wait_until(lambda: "connected to" in log.read_text(), 40, "the connection")
            connected_at = time.monotonic()
            assert re.search(r"connected to .*after [2-9]\d* failed attempts", log.read_text())
            published = subprocess.run(
                _cli("simulate", "-c", str(config), "--count", "300", "--formats", "generic"),
                capture_output=True,
                text=True,
                timeout=60,
                env=_env(),
                cwd=tmp_path,
            )
            assert published.returncode == 0, published.stderr  # stock broker: Receive Maximum 20
            assert published.stdout.startswith("published 300 messages")
            store = SQLiteStore(tmp_path / "readings.sqlite")
            try:
                wait_until(lambda: store.count() >= 300, 30, "300 readings stored")
            finally:
                store.close()
            # A connection closed sooner than FLAP_S after it was made reads as a session
            # takeover (another collector with this client id): let a real loss be one.
            time.sleep(max(0.0, FLAP_S + 0.5 - (time.monotonic() - connected_at)))
            broker.stop()
            wait_until(lambda: "lost the broker" in log.read_text(), 20, "the loss logged")
        finally:
            broker.stop()
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=30)
    text = log.read_text()
    assert child.returncode == 0, text
    assert "Traceback" not in text
    summary = re.search(r"collector stopped: (\d+) messages received, (\d+) acknowledged", text)
    assert summary is not None, text
    assert summary.groups() == ("300", "300")
    assert re.search(r"300 readings stored, 0 spooled", text)
