"""Tools the collector tests share: a counting QoS 1 publisher, InfluxDB checks, a child collector.

The publisher counts what the broker acknowledged (PUBACK) and survives broker restarts: paho
keeps unacknowledged QoS 1 messages and sends them again after it reconnects.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from repoclimate.history.influx import InfluxStore
from repoclimate.history.settings import StoreSettings
from repoclimate.ingest.settings import CollectorSettings, MqttSettings, TopicRoute
from tests.servers import InfluxDB

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = ROOT / "examples" / "registry.yaml"
T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` until it holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def influx_store(
    influxdb: InfluxDB, database: str, timeout_s: float = 5.0, create_database: bool = True
) -> InfluxStore:
    """The real InfluxDB store on the test server (1.x write path)."""
    return InfluxStore(
        StoreSettings(
            kind="influxdb",
            url=influxdb.url,
            database=database,
            api_version="v1",
            timeout_s=timeout_s,
            create_database=create_database,
        )
    )


def stored_rows(influxdb: InfluxDB, database: str) -> list[dict[str, object]]:
    """Every point of measurement ``climate``, as dicts of column → value (time in ns)."""
    answer = influxdb.query("SELECT * FROM climate", database)
    results = answer.get("results")
    assert isinstance(results, list)
    series = results[0].get("series") if results else None
    if not series:
        return []
    columns = series[0]["columns"]
    return [dict(zip(columns, values, strict=True)) for values in series[0]["values"]]


def stored_count(influxdb: InfluxDB, database: str) -> int:
    """How many points ``climate`` holds (0 when the database is unreachable)."""
    try:
        return len(stored_rows(influxdb, database))
    except OSError:
        return 0


def generic_messages(
    count: int, prefix: str, *, sensors: int = 20, start: datetime = T0
) -> list[tuple[str, bytes]]:
    """Generic JSON readings with a unique time each, spread over ``sensors`` sensors.

    Topics are ``repoclimate/<prefix>/room/<prefix>-<n>``: a test subscribes to
    ``repoclimate/<prefix>/#`` and sees only its own messages on the shared broker.
    """
    messages = []
    for i in range(count):
        sensor = f"{prefix}-{i % sensors}"
        moment = start + timedelta(seconds=i)
        payload = {
            "time": moment.isoformat().replace("+00:00", "Z"),
            "temperature": round(15 + (i % 1000) / 100, 2),
            "humidity": round(40 + (i % 500) / 50, 2),
        }
        messages.append((f"repoclimate/{prefix}/room/{sensor}", json.dumps(payload).encode()))
    return messages


def mqtt_settings(
    url: str, client_id: str, prefix: str | None = None, **overrides: object
) -> MqttSettings:
    """Collector MQTT settings for a test broker: generic JSON under ``repoclimate/<prefix>/#``.

    The session expires 10 minutes after the test, so the shared broker does not keep queueing
    for collectors that are gone.
    """
    topic_filter = f"repoclimate/{prefix}/#" if prefix else "repoclimate/#"
    values: dict[str, object] = {
        "url": url,
        "client_id": client_id,
        "topics": [TopicRoute(filter=topic_filter, format="generic")],
        "dead_letter_topic": f"deadletter/{client_id}",
        "session_expiry_s": 600,
    }
    values.update(overrides)
    return MqttSettings.model_validate(values)


def collector_settings(spool_dir: Path, **overrides: object) -> CollectorSettings:
    """Small batches and a short interval, so tests see readings quickly."""
    values: dict[str, object] = {
        "batch_size": 500,
        "batch_interval_s": 0.1,
        "spool_dir": spool_dir,
    }
    values.update(overrides)
    return CollectorSettings.model_validate(values)


class Publisher:
    """A paho QoS 1 publisher that counts the messages the broker acknowledged.

    ``publish_all`` sends at most ``window`` unacknowledged messages at a time and, while the
    broker is away, waits; paho sends the unacknowledged ones again after reconnecting.
    """

    def __init__(self, url: str, client_id: str, *, window: int = 500) -> None:
        host, port = url.removeprefix("mqtt://").split(":")
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self.client.max_inflight_messages_set(window)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(1, 2)
        self.client.on_publish = self._on_publish
        self.client.on_connect = self._on_connect
        self.acked = 0
        self.refused = 0
        self._window = window
        self._cond = threading.Condition()
        self._connected = threading.Event()
        self.client.connect_async(host, int(port))
        self.client.loop_start()
        if not self._connected.wait(10):
            raise RuntimeError(f"publisher could not connect to {url}")

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if not reason_code.is_failure:
            # A broker allowing fewer unacknowledged messages (a stock Mosquitto: 20) narrows
            # the window; paho's own limit cannot change once connected.
            receive_maximum = getattr(properties, "ReceiveMaximum", None)
            if isinstance(receive_maximum, int) and receive_maximum > 0:
                self._window = min(self._window, receive_maximum)
            self._connected.set()

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties,
    ) -> None:
        with self._cond:
            if reason_code.is_failure:
                self.refused += 1
            else:
                self.acked += 1
            self._cond.notify_all()

    def publish_all(
        self,
        messages: Iterable[tuple[str, bytes]],
        *,
        on_progress: Callable[[int], None] | None = None,
        rate: float | None = None,
    ) -> int:
        """Publish every message at QoS 1 (at most ``rate`` a second); returns how many."""
        sent = 0
        started = time.monotonic()
        for topic, payload in messages:
            if rate is not None:
                ahead = started + sent / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            with self._cond:
                while sent - self.acked - self.refused >= self._window:
                    self._cond.wait(0.5)
            self.client.publish(topic, payload, qos=1)
            sent += 1
            if on_progress is not None:
                on_progress(sent)
        return sent

    def wait_acked(self, count: int, timeout: float = 60.0) -> None:
        with self._cond:
            deadline = time.monotonic() + timeout
            while self.acked + self.refused < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"broker acknowledged {self.acked} of {count} messages")
                self._cond.wait(min(remaining, 0.5))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class CollectorProcess:
    """``repoclimate collect --config FILE`` as a child process, so a test can SIGKILL it.

    ``start(harness=True)`` runs the same wiring through `tests.ingest.collector_process`
    instead, which can make the child SIGKILL itself after its Nth store write
    (``kill_after_writes``) and writes the collector's counters to ``stats_file`` on SIGTERM.
    """

    def __init__(
        self,
        workdir: Path,
        mqtt_config: MqttSettings,
        collector_config: CollectorSettings,
        store_config: StoreSettings,
        registry: Path = REGISTRY,
    ) -> None:
        self.config = workdir / "collector.yaml"
        self.config.write_text(
            yaml.safe_dump(
                {
                    "mqtt": mqtt_config.model_dump(mode="json"),
                    "collector": collector_config.model_dump(mode="json"),
                    "store": store_config.model_dump(mode="json"),
                    "registry": str(registry),
                    "log_level": "INFO",
                }
            )
        )
        self.log = workdir / "collector.log"
        self.stats_file = workdir / "stats.json"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *, harness: bool = False, kill_after_writes: int = 0) -> None:
        if harness or kill_after_writes:
            self.stats_file.unlink(missing_ok=True)
            argv = [
                *(sys.executable, "-m", "tests.ingest.collector_process"),
                *("--config", str(self.config), "--stats", str(self.stats_file)),
                *("--kill-after-writes", str(kill_after_writes)),
            ]
        else:
            command = shutil.which("repoclimate")
            argv = [command] if command else [sys.executable, "-m", "repoclimate.app"]
            argv += ["collect", "--config", str(self.config)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("REPOCLIMATE_")}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def wait(self, timeout: float) -> int:
        """Wait for the child to exit by itself; its return code (-9 when it killed itself)."""
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stats(self) -> dict[str, object]:
        """The counters the harness child wrote when it stopped."""
        loaded: dict[str, object] = json.loads(self.stats_file.read_text())
        return loaded

    def terminate(self, timeout: float = 60.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


def create_session(url: str, client_id: str, topic_filter: str) -> None:
    """Make the persistent MQTT 5 session a collector with ``client_id`` will resume.

    Messages published from now on are queued for it, however long the collector takes to start.
    """
    host, port = url.removeprefix("mqtt://").split(":")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    subscribed = threading.Event()
    client.on_subscribe = lambda *args: subscribed.set()
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 600
    client.connect(host, int(port), clean_start=True, properties=properties)
    client.loop_start()
    client.subscribe(topic_filter, qos=1)
    if not subscribed.wait(10):
        raise RuntimeError("the broker did not acknowledge the subscription")
    client.disconnect()
    client.loop_stop()


def distinct_keys(rows: Sequence[dict[str, object]]) -> set[tuple[object, object]]:
    """The (sensor, time) keys of stored points."""
    return {(row["sensor"], row["time"]) for row in rows}
