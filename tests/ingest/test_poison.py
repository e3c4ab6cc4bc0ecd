"""Poison messages and silent stalls (issue 10), against the real Mosquitto and InfluxDB.

A rejected message must never stop the stream: its dead-letter record is bounded, a record the
broker refuses or does not confirm is kept locally and the original acknowledged, dead letters
are never decoded as readings (two collectors do not feed each other's back and forth), a full
spool disk does not stand between a healthy store and its readings, and a second collector on
the same spool says so in one line.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from repoclimate.app.wiring import pipeline_from
from repoclimate.history.settings import StoreSettings
from repoclimate.ingest.batching import Inbox
from repoclimate.ingest.collector import Collector
from repoclimate.ingest.deadletter import (
    DEAD_LETTER_PREFIX,
    MAX_RECORD_BYTES,
    PAYLOAD_KEEP_BYTES,
    dead_letter_record,
    is_dead_letter,
)
from repoclimate.ingest.deadletter_sink import DeadLetterSink, LocalDeadLetters
from repoclimate.ingest.pipeline import Pipeline
from repoclimate.ingest.session import SESSION_TAKEN_OVER, Session
from repoclimate.ingest.settings import DEFAULT_ROUTES, MqttSettings
from repoclimate.ingest.spool import Spool
from repoclimate.ingest.stats import CollectorStats
from repoclimate.sensors.reading import Reading
from repoclimate.sensors.registry import Registry, load_registry
from tests.ingest.helpers import (
    REGISTRY,
    CollectorProcess,
    Publisher,
    collector_settings,
    influx_store,
    mqtt_settings,
    stored_count,
    wait_until,
)
from tests.servers import InfluxDB, Mosquitto, free_port

AT = datetime(2026, 11, 20, 3, 15, tzinfo=UTC)
_ids = itertools.count()


# -- tools -----------------------------------------------------------------------------------


class Watcher:
    """A paho subscriber that keeps every message on a topic filter."""

    def __init__(self, url: str, topic_filter: str) -> None:
        host, port = url.removeprefix("mqtt://").split(":")
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"watch-{next(_ids)}-{os.getpid()}"
        )
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.connect(host, int(port))
        self.client.subscribe(topic_filter, qos=1)
        self.client.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError(f"could not subscribe to {topic_filter}")

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def records(self) -> list[dict[str, object]]:
        with self._lock:
            return [json.loads(payload) for _, payload in self.messages]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class StallingProxy:
    """A TCP proxy to a broker whose client → broker direction can be held (`hold`/`release`).

    Bytes from the client wait in the proxy while held: the broker sees nothing of the client
    (no PUBLISH, no PUBACK) but keeps sending to it.
    """

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self._target = target_port
        self._flowing = threading.Event()
        self._flowing.set()
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._sockets: list[socket.socket] = [self._server]
        threading.Thread(target=self._accept, daemon=True).start()

    def hold(self) -> None:
        self._flowing.clear()

    def release(self) -> None:
        self._flowing.set()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._target))
            self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, holdable: bool) -> None:
        try:
            while data := source.recv(65536):
                if holdable:
                    self._flowing.wait()
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._flowing.set()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[list[Mosquitto]]:
    """Brokers a test configures itself (`start_broker`); stopped by PID at the end."""
    servers: list[Mosquitto] = []
    yield servers
    for server in servers:
        server.stop()


def start_broker(
    servers: list[Mosquitto], workdir: Path, extra: str = "", *, stock: bool = False
) -> Mosquitto:
    server = Mosquitto(workdir / f"mosquitto{len(servers)}", extra, stock=stock)
    servers.append(server)
    server.start()
    return server


def deny_topic_acl(workdir: Path, topic: str) -> str:
    """Mosquitto config lines: everything allowed except publishing to ``topic``."""
    workdir.mkdir(parents=True, exist_ok=True)
    acl = workdir / "acl"
    acl.write_text(f"topic readwrite #\ntopic deny {topic}\n")
    return f"acl_file {acl}\n"


def make_collector(
    mqtt_config: MqttSettings, spool: Path, influxdb: InfluxDB, db: str, **collector: object
) -> Collector:
    settings = collector_settings(spool, **collector)
    return Collector(
        mqtt_config,
        settings,
        influx_store(influxdb, db),
        pipeline_from(mqtt_config, settings, load_registry(REGISTRY)),
    )


def publish(url: str, messages: list[tuple[str, bytes]]) -> None:
    publisher = Publisher(url, f"pub-{next(_ids)}-{os.getpid()}")
    publisher.publish_all(messages)
    publisher.wait_acked(len(messages), timeout=120)
    publisher.close()


def local_file(spool: Path) -> Path:
    """The local dead-letter file of the collector whose spool is in ``spool``."""
    files = sorted(spool.glob("*.deadletters.jsonl"))
    assert len(files) == 1, files
    return files[0]


def humidity_messages(
    prefix: str, count: int, *, room: str = "room", sensors: int = 10
) -> list[tuple[str, bytes]]:
    """Generic JSON with humidity only and no time: every reading is stamped on receipt (and
    journaled). Topics ``repoclimate/<prefix>/<room>/<prefix>-<n>``."""
    return [
        (
            f"repoclimate/{prefix}/{room}/{prefix}-{i % sensors}",
            f'{{"humidity": {40 + i % 9}}}'.encode(),
        )
        for i in range(count)
    ]


# -- 1. bounded records ------------------------------------------------------------------------


def _record(payload: bytes | None, **kwargs: object) -> bytes:
    values: dict[str, object] = {
        "reason": "too_large",
        "message": "payload too large",
        "topic": "repoclimate/a/b/c",
        "payload": payload,
        "received_at": AT,
        "collector": "c1",
    }
    values.update(kwargs)
    return dead_letter_record(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "payload",
    [
        bytes(range(1, 32)) * (45_000_000 // 31),  # control bytes: JSON escapes each six-fold
        b'"' * 5_000_000,
        os.urandom(3_000_000),
    ],
    ids=["control-bytes", "quotes", "binary"],
)
def test_a_huge_payload_makes_a_bounded_record_with_its_length_and_digest(payload: bytes) -> None:
    record = _record(payload)
    assert len(record) <= MAX_RECORD_BYTES
    fields = json.loads(record)
    assert fields["repoclimate_dead_letter"] == 1
    assert fields["payload_bytes"] == len(payload)
    assert fields["payload_sha256"] == hashlib.sha256(payload).hexdigest()
    assert fields["payload_truncated"] is True
    assert fields["payload_encoding"] == "base64"
    assert base64.b64decode(fields["payload"]) == payload[:PAYLOAD_KEEP_BYTES]


def test_a_cut_through_a_multibyte_character_keeps_the_text() -> None:
    payload = ("é" * PAYLOAD_KEEP_BYTES).encode()
    fields = json.loads(_record(payload))
    assert fields["payload_encoding"] == "utf-8"
    assert fields["payload"] == "é" * (PAYLOAD_KEEP_BYTES // 2)
    assert fields["payload_truncated"] is True


def test_long_topics_messages_and_unpaired_surrogates_stay_bounded_and_valid() -> None:
    record = _record(
        b"{}", topic="t/" + "\x01" * 70_000, message="sensor '\ud800' " + "\x02" * 200_000
    )
    assert len(record) <= MAX_RECORD_BYTES
    fields = json.loads(record)
    assert fields["message"].startswith("sensor '\ud800' ")
    assert len(fields["topic"]) <= 1025


def test_a_record_that_would_still_be_too_large_drops_the_reading() -> None:
    reading = Reading("s" * 100_000, AT, humidity=40.0)
    record = _record(None, reading=reading)
    assert len(record) <= MAX_RECORD_BYTES
    assert json.loads(record)["reading"] is None


# -- 3. dead letters are never readings ------------------------------------------------------


def test_dead_letters_are_recognised_by_topic_and_by_their_marker() -> None:
    record = _record(b'{"temperature": 20}')
    assert is_dead_letter("anything/at/all", record)
    assert is_dead_letter(DEAD_LETTER_PREFIX, b"{}")
    assert is_dead_letter(f"{DEAD_LETTER_PREFIX}/site-b", b"{}")
    assert is_dead_letter("dlq/own/x", b"{}", own_topic="dlq/own")
    assert not is_dead_letter(f"{DEAD_LETTER_PREFIX}x/y", b"{}")
    assert not is_dead_letter("repoclimate/a/b/c", b'{"temperature": 20}')


def test_the_pipeline_yields_nothing_for_a_dead_letter_under_any_route() -> None:
    pipeline = Pipeline(Registry.empty(), DEFAULT_ROUTES, 1 << 20, dead_letter_topic="dl/x")
    reading = b'{"temperature": 20.5, "humidity": 40}'
    assert pipeline.process("repoclimate/a/b/s1", reading, AT)
    for topic in (DEAD_LETTER_PREFIX, f"{DEAD_LETTER_PREFIX}/b", "dl/x"):
        assert pipeline.process(topic, reading, AT) == []
    record = _record(reading)
    assert pipeline.process("repoclimate/a/b/s1", record, AT) == []


def test_a_dead_letter_topic_must_be_one_to_publish_to() -> None:
    for topic in ("repoclimate/deadletter/#", "dl/+/x", "$SYS/x", ""):
        with pytest.raises(ValueError, match="dead_letter_topic"):
            MqttSettings(dead_letter_topic=topic)


# -- 5. the receive-stamp journal on a full disk ------------------------------------------------


@contextlib.contextmanager
def tiny_filesystem(path: Path, size: str = "2m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path`` (needs root), unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def fill(directory: Path) -> Path:
    """Fill the filesystem of ``directory`` to the last byte; the filler file's path."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 4096)
    return filler


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


@needs_root
def test_the_journal_degrades_on_a_full_disk_and_recovers(tmp_path: Path) -> None:
    with tiny_filesystem(tmp_path / "fs") as fs:
        spool = Spool(fs / "c.sqlite")
        try:
            journal = spool.stamps
            now_us = time.time_ns() // 1000
            assert journal.commit([journal.note(1, b"k" * 16, now_us)])
            filler = fill(fs)
            entries = [journal.note(m, bytes([m % 256]) * 16, now_us + m) for m in range(2, 3000)]
            assert journal.commit(entries) is False
            assert journal.degraded and journal.failures == 1
            filler.unlink()
            # The failed transaction was rolled back: the connection still commits for real.
            assert journal.commit(entries)
            assert not journal.degraded
            spool.append([Reading("s1", AT, humidity=40.0)])
        finally:
            spool.close()
        with Spool(fs / "c.sqlite") as reopened:
            assert len(reopened) == 1
            assert reopened.stamps.lookup(2, bytes([2]) * 16, now_us + 10) == now_us + 2


@needs_root
@pytest.mark.timeout(120)
def test_a_full_spool_disk_does_not_stop_ingest_while_the_store_is_healthy(
    mosquitto: Mosquitto, influxdb: InfluxDB, influx_db_name: str, tmp_path: Path
) -> None:
    prefix = influx_db_name
    # Without a device time: every reading is receive-stamped and journaled before its write.
    messages = humidity_messages(prefix, 3000, sensors=50)
    mqtt_config = mqtt_settings(mosquitto.url, f"full-{prefix}", prefix)
    with tiny_filesystem(tmp_path / "fs") as fs:
        collector = make_collector(mqtt_config, fs / "spool", influxdb, influx_db_name)
        with collector:
            wait_until(lambda: collector.connected, 10, "the collector to connect")
            fill(fs)
            publish(mosquitto.url, messages)
            wait_until(
                lambda: collector.stats.snapshot().acked == len(messages),
                60,
                "every message stored and acknowledged with the spool disk full",
            )
            spool = collector._spool
            assert spool is not None and spool.stamps.degraded and spool.stamps.failures >= 1
    assert stored_count(influxdb, influx_db_name) == len(messages)


@needs_root
@pytest.mark.timeout(180)
def test_a_full_spool_disk_holding_spooled_readings_does_not_stop_ingest_once_the_store_is_back(
    mosquitto: Mosquitto,
    influxdb_factory: Callable[..., InfluxDB],
    tmp_path: Path,
) -> None:
    influxdb = influxdb_factory()
    db = "fullspool"
    influxdb.create_database(db)
    prefix = f"fullspool-{os.getpid()}"
    mqtt_config = mqtt_settings(mosquitto.url, f"full-{prefix}", prefix)
    before, after = humidity_messages(prefix, 500), humidity_messages(prefix, 500, room="after")
    with tiny_filesystem(tmp_path / "fs") as fs:
        settings = collector_settings(fs / "spool")
        collector = Collector(
            mqtt_config,
            settings,
            influx_store(influxdb, db, timeout_s=1.0),
            pipeline_from(mqtt_config, settings, load_registry(REGISTRY)),
            retry_delay_s=(0.2, 1.0),
        )
        with collector:
            wait_until(lambda: collector.connected, 10, "the collector to connect")
            influxdb.stop()
            publish(mosquitto.url, before)
            wait_until(lambda: collector.stats.snapshot().spooled == 500, 30, "500 spooled")
            fill(fs)
            influxdb.start()
            publish(mosquitto.url, after)
            wait_until(lambda: stored_count(influxdb, db) == 1000, 60, "every reading in the store")
            wait_until(lambda: collector.stats.snapshot().acked == 1000, 30, "all acknowledged")
            stats = collector.stats.snapshot()
    assert stats.spool_errors >= 1


# -- 7. a second collector on the same spool ---------------------------------------------------


@pytest.mark.timeout(90)
def test_a_second_collector_on_the_same_spool_says_so_in_one_line(
    mosquitto: Mosquitto, influxdb: InfluxDB, influx_db_name: str, tmp_path: Path
) -> None:
    mqtt_config = mqtt_settings(mosquitto.url, f"twin-{influx_db_name}", influx_db_name)
    settings = collector_settings(tmp_path / "spool")
    store = StoreSettings(
        kind="influxdb", url=influxdb.url, database=influx_db_name, api_version="v1"
    )
    first = CollectorProcess(tmp_path, mqtt_config, settings, store)
    first.start()
    try:
        wait_until(lambda: any((tmp_path / "spool").glob("*.lock")), 30, "the first spool")
        wait_until(lambda: b"connected to" in first.log.read_bytes(), 30, "the first collector up")
        second = subprocess.run(
            [sys.executable, "-m", "repoclimate.app", "collect", "--config", str(first.config)],
            capture_output=True,
            text=True,
            timeout=60,
            env={k: v for k, v in os.environ.items() if not k.startswith("REPOCLIMATE_")},
        )
    finally:
        first.terminate()
    assert second.returncode == 1
    assert "Traceback" not in second.stderr
    lines = [line for line in second.stderr.splitlines() if line.strip()]
    problems = [line for line in lines if "in use by another process" in line]
    assert len(problems) == 1, second.stderr
    assert problems[0].startswith("cannot start the collector: spool ")
    assert not [line for line in lines if " ERROR " in line or " CRITICAL " in line]


# -- 2. the broker refuses a dead letter ---------------------------------------------------------


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_the_sink_keeps_records_the_broker_refuses_and_goes_on(
    private_broker: list[Mosquitto], tmp_path: Path, protocol: str
) -> None:
    broker = start_broker(private_broker, tmp_path, deny_topic_acl(tmp_path / "acl", "dl/denied"))
    local = LocalDeadLetters(tmp_path / "dl.jsonl")
    settings = MqttSettings.model_validate(
        {
            "url": broker.url,
            "client_id": f"sink-{protocol}",
            "protocol": protocol,
            "dead_letter_topic": "dl/denied",
        }
    )
    sink = DeadLetterSink(settings, local)
    try:
        records = [_record(f'{{"n": {i}}}'.encode()) for i in range(3)]
        outcome = sink.settle([sink.publish(r) for r in records], timeout=10)
        # PUBACK 0x87 (MQTT 5) and Mosquitto drops the connection: refused or unconfirmed.
        assert outcome.confirmed == 0 and outcome.kept_locally == 3 and outcome.lost == 0
        assert outcome.refused + outcome.unconfirmed == 3
        kept = sorted(str(r["payload"]) for r in local.records())
        assert kept == ['{"n": 0}', '{"n": 1}', '{"n": 2}']
    finally:
        sink.close()


def test_a_record_the_broker_drops_the_connection_over_is_not_sent_again(
    private_broker: list[Mosquitto], tmp_path: Path
) -> None:
    broker = start_broker(private_broker, tmp_path, "message_size_limit 2000\n")
    watcher = Watcher(broker.url, "dl/size")
    local = LocalDeadLetters(tmp_path / "dl.jsonl")
    sink = DeadLetterSink(
        MqttSettings(url=broker.url, client_id="sink-size", dead_letter_topic="dl/size"), local
    )
    try:
        big = _record(os.urandom(4000))
        assert len(big) > 2000
        outcome = sink.settle([sink.publish(big)], timeout=10)
        assert outcome.kept_locally == 1 and outcome.confirmed == 0
        small = sink.settle([sink.publish(_record(b"{}"))], timeout=10)
        assert small.confirmed == 1
        time.sleep(3)  # paho would have sent the big one again on every reconnect
        log = broker.log.read_text()
        assert log.count("sink-size-deadletter") <= 4, log
        wait_until(lambda: len(watcher.messages) == 1, 10, "the small record")
        assert sink.totals().kept_locally == 1 and sink.totals().confirmed == 1
    finally:
        sink.close()
        watcher.close()


def test_a_record_the_broker_does_not_confirm_in_time_is_kept(
    private_broker: list[Mosquitto], tmp_path: Path
) -> None:
    broker = start_broker(private_broker, tmp_path)
    proxy = StallingProxy(broker.port)
    local = LocalDeadLetters(tmp_path / "dl.jsonl")
    sink = DeadLetterSink(
        MqttSettings(url=proxy.url, client_id="sink-stall", dead_letter_topic="dl/stall"), local
    )
    try:
        assert sink.settle([sink.publish(_record(b"{}"))], timeout=10).confirmed == 1
        proxy.hold()
        started = time.monotonic()
        outcome = sink.settle([sink.publish(_record(b"[]"))], timeout=1.5)
        assert 1.4 < time.monotonic() - started < 5
        assert outcome.unconfirmed == outcome.kept_locally == 1
        assert len(local.records()) == 1
    finally:
        proxy.release()
        sink.close()
        proxy.close()


def test_a_full_local_file_loses_the_record_with_a_log_line_and_does_not_raise(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    local = LocalDeadLetters(tmp_path / "missing" / "x" / "dl.jsonl")
    (tmp_path / "missing").write_text("a file, not a directory")
    sink = DeadLetterSink(MqttSettings(url=f"mqtt://127.0.0.1:{free_port()}"), local)
    try:
        outcome = sink.settle([sink.publish(_record(b"{}"))], timeout=0.3)
    finally:
        sink.close()
    assert outcome.lost == 1 and outcome.kept_locally == 0
    assert "dead-letter record lost" in caplog.text and "payload_sha256" in caplog.text


def test_the_local_file_rotates(tmp_path: Path) -> None:
    local = LocalDeadLetters(tmp_path / "dl.jsonl", max_bytes=1000)
    for i in range(30):
        local.keep([_record(f'{{"n": {i}}}'.encode())])
    assert (tmp_path / "dl.jsonl.1").exists()
    assert tmp_path.joinpath("dl.jsonl").stat().st_size <= 1000
    assert local.records()[-1]["payload"] == '{"n": 29}'


# -- through the collector -----------------------------------------------------------------------


def good_and_bad(prefix: str, bad_payload: bytes, count: int = 300) -> list[tuple[str, bytes]]:
    """``count`` good readings with one bad message in their middle."""
    good = humidity_messages(prefix, count)
    return [
        *good[: count // 2],
        (f"repoclimate/{prefix}/room/bad", bad_payload),
        *good[count // 2 :],
    ]


@pytest.mark.timeout(180)
def test_a_45_mb_payload_of_control_bytes_is_dead_lettered_and_the_stream_goes_on(
    mosquitto: Mosquitto, influxdb: InfluxDB, influx_db_name: str, tmp_path: Path
) -> None:
    prefix = influx_db_name
    poison = bytes(range(1, 32)) * (45_000_000 // 31)
    mqtt_config = mqtt_settings(mosquitto.url, f"huge-{prefix}", prefix)
    watcher = Watcher(mosquitto.url, mqtt_config.dead_letter_topic)
    collector = make_collector(mqtt_config, tmp_path / "spool", influxdb, influx_db_name)
    messages = good_and_bad(prefix, poison)
    try:
        with collector:
            wait_until(lambda: collector.connected, 10, "the collector to connect")
            publish(mosquitto.url, messages)
            wait_until(
                lambda: collector.stats.snapshot().acked == len(messages), 60, "all acknowledged"
            )
        wait_until(lambda: len(watcher.messages) == 1, 10, "the dead letter")
    finally:
        watcher.close()
    assert stored_count(influxdb, influx_db_name) == len(messages) - 1
    [(_, raw)] = watcher.messages
    assert len(raw) <= MAX_RECORD_BYTES
    record = json.loads(raw)
    assert record["reason"] == "too_large"
    assert record["payload_bytes"] == len(poison)
    assert record["payload_sha256"] == hashlib.sha256(poison).hexdigest()
    assert collector.stats.snapshot().rejected == {"too_large": 1}


@pytest.mark.timeout(120)
def test_with_a_1_mb_broker_limit_a_300_kb_poison_message_does_not_stop_the_stream(
    private_broker: list[Mosquitto], influxdb: InfluxDB, influx_db_name: str, tmp_path: Path
) -> None:
    broker = start_broker(private_broker, tmp_path, "message_size_limit 1000000\n")
    prefix = influx_db_name
    mqtt_config = mqtt_settings(broker.url, f"limit-{prefix}", prefix)
    watcher = Watcher(broker.url, mqtt_config.dead_letter_topic)
    collector = make_collector(
        mqtt_config, tmp_path / "spool", influxdb, influx_db_name, max_payload_bytes=1_000_000
    )
    messages = good_and_bad(prefix, b"{" + b"\x01" * 300_000 + b"}")
    try:
        with collector:
            wait_until(lambda: collector.connected, 10, "the collector to connect")
            publish(broker.url, messages)
            wait_until(
                lambda: collector.stats.snapshot().acked == len(messages), 30, "all acknowledged"
            )
            stats = collector.stats.snapshot()
        wait_until(lambda: len(watcher.messages) == 1, 10, "the dead letter")
    finally:
        watcher.close()
    assert stored_count(influxdb, influx_db_name) == len(messages) - 1
    assert stats.connections == 1
    assert stats.rejected_total == 1


@pytest.mark.timeout(120)
def test_two_collectors_do_not_feed_each_other_their_dead_letters(
    mosquitto: Mosquitto, influxdb: InfluxDB, influx_db_name: str, tmp_path: Path
) -> None:
    """Both subscribe to ``repoclimate/#`` (the default route) and publish their dead letters
    under it, outside the reserved prefix: only the record's marker keeps them apart."""
    prefix = influx_db_name
    routes = [{"filter": f"repoclimate/{prefix}/#", "format": "generic"}]
    collectors = [
        make_collector(
            mqtt_settings(
                mosquitto.url,
                f"loop-{name}-{prefix}",
                topics=routes,
                dead_letter_topic=f"repoclimate/{prefix}/dead-{name}",
            ),
            tmp_path / f"spool-{name}",
            influxdb,
            influx_db_name,
        )
        for name in ("a", "b")
    ]
    watcher = Watcher(mosquitto.url, f"repoclimate/{prefix}/+")
    try:
        with collectors[0], collectors[1]:
            wait_until(lambda: all(c.connected for c in collectors), 10, "both connected")
            publish(mosquitto.url, [(f"repoclimate/{prefix}/room/x", b"{not json")])
            wait_until(lambda: len(watcher.messages) >= 2, 10, "the two dead letters")
            time.sleep(2)  # a loop would have published dozens by now
            snapshots = [c.stats.snapshot() for c in collectors]
    finally:
        watcher.close()
    assert sorted(topic for topic, _ in watcher.messages) == [
        f"repoclimate/{prefix}/dead-a",
        f"repoclimate/{prefix}/dead-b",
    ]
    for stats in snapshots:
        assert stats.rejected == {"malformed_json": 1}
        assert stats.received == 3  # the bad message and both dead letters
    assert stored_count(influxdb, influx_db_name) == 0


@pytest.mark.timeout(120)
@pytest.mark.parametrize("refusal", ["acl", "size"])
@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_a_dead_letter_the_broker_refuses_is_kept_locally_and_the_stream_goes_on(
    private_broker: list[Mosquitto],
    influxdb: InfluxDB,
    influx_db_name: str,
    tmp_path: Path,
    protocol: str,
    refusal: str,
) -> None:
    """Mosquitto answers PUBACK 0x87 (ACL) or 0x95 (too large) and drops the connection."""
    prefix = influx_db_name
    client_id = f"refused-{prefix}"
    dead_letter_topic = f"deadletter/{client_id}"
    if refusal == "acl":
        broker = start_broker(
            private_broker, tmp_path, deny_topic_acl(tmp_path / "acl", dead_letter_topic)
        )
        poison = b"{not json"
    else:
        broker = start_broker(private_broker, tmp_path, "message_size_limit 20000\n")
        poison = os.urandom(15_000)  # its record, base64, is over 20 000 bytes
    mqtt_config = mqtt_settings(broker.url, client_id, prefix, protocol=protocol)
    spool = tmp_path / "spool"
    collector = make_collector(mqtt_config, spool, influxdb, influx_db_name)
    messages = good_and_bad(prefix, poison)
    with collector:
        wait_until(lambda: collector.connected, 10, "the collector to connect")
        publish(broker.url, messages)
        wait_until(
            lambda: collector.stats.snapshot().acked == len(messages), 30, "all acknowledged"
        )
        stats = collector.stats.snapshot()
    assert stored_count(influxdb, influx_db_name) == len(messages) - 1
    assert stats.connections == 1  # the refusal broke only the dead-letter connection
    assert stats.dead_letters_local == 1 and stats.dead_letters_lost == 0
    [record] = LocalDeadLetters(local_file(spool)).records()
    assert record["reason"] == ("malformed_json" if refusal == "acl" else "not_utf8")
    assert record["payload_sha256"] == hashlib.sha256(poison).hexdigest()


@pytest.mark.timeout(120)
def test_a_dead_letter_confirmed_late_does_not_stall_the_stream(
    private_broker: list[Mosquitto], influxdb: InfluxDB, influx_db_name: str, tmp_path: Path
) -> None:
    """MQTT 3.1.1, Mosquitto's stock 20 in-flight messages, and a 12 s stall of collector →
    broker traffic while a batch holds a bad message: the batch must still be acknowledged
    (its dead letter kept locally), or the broker's window stays full for good."""
    broker = start_broker(private_broker, tmp_path, stock=True)
    proxy = StallingProxy(broker.port)
    prefix = influx_db_name
    mqtt_config = mqtt_settings(proxy.url, f"stall-{prefix}", prefix, protocol="3.1.1")
    spool = tmp_path / "spool"
    collector = make_collector(mqtt_config, spool, influxdb, influx_db_name)
    # Exactly the broker's window, a bad message in every four: whatever batches the collector
    # cuts, each holds a dead letter the stalled broker cannot confirm.
    first = [
        (
            f"repoclimate/{prefix}/room/{prefix}-{i}",
            b"{not json" if i % 4 == 0 else f'{{"humidity": {40 + i}}}'.encode(),
        )
        for i in range(20)
    ]
    rest = humidity_messages(prefix, 300, room="late")
    try:
        with collector:
            wait_until(lambda: collector.connected, 10, "the collector to connect")
            proxy.hold()
            publish(broker.url, first)
            time.sleep(12)
            proxy.release()
            publish(broker.url, rest)
            wait_until(
                lambda: stored_count(influxdb, influx_db_name) == 15 + len(rest),
                30,
                "every reading stored after the stall",
            )
            stats = collector.stats.snapshot()
    finally:
        proxy.close()
    assert stats.dead_letters_local == 5
    assert stats.connections == 1


@pytest.mark.timeout(120)
def test_two_collectors_with_one_client_id_back_off_instead_of_fighting(
    mosquitto: Mosquitto,
    influxdb: InfluxDB,
    influx_db_name: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A copied configuration on a second host. Mosquitto 2.0.11 moves the session to whichever
    connected last and just closes the other connection (no 0x8E): recognised by timing."""
    prefix = influx_db_name
    mqtt_config = mqtt_settings(mosquitto.url, f"copied-{prefix}", prefix)
    collectors = [
        make_collector(mqtt_config, tmp_path / f"host-{name}", influxdb, influx_db_name)
        for name in ("a", "b")
    ]
    messages = humidity_messages(prefix, 1500)
    with caplog.at_level("WARNING"), collectors[0]:
        wait_until(lambda: collectors[0].connected, 10, "the first collector to connect")
        with collectors[1]:
            publisher = Publisher(mosquitto.url, f"pub-{prefix}")
            started = time.monotonic()
            publisher.publish_all(messages, rate=150)
            publisher.wait_acked(len(messages))
            publisher.close()
            time.sleep(max(0.0, 10 - (time.monotonic() - started)))
            takeovers = sum(c.stats.snapshot().session_takeovers for c in collectors)
    # Without the backoff: 12–14 takeovers in these 10 s, and 83–104 readings stored twice.
    assert 1 <= takeovers <= 4, takeovers
    assert "another collector uses client id" in caplog.text
    assert repr(mqtt_config.client_id) in caplog.text
    wait_until(
        lambda: stored_count(influxdb, influx_db_name) >= len(messages), 30, "no reading lost"
    )
    print(f"takeovers {takeovers}, stored {stored_count(influxdb, influx_db_name)}")


def test_a_session_taken_over_by_reason_code_backs_off_longer_each_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Brokers that say so (EMQX, HiveMQ, newer Mosquitto) send DISCONNECT 0x8E to the old
    connection; Mosquitto 2.0.11 here does not, so the reason code is handed in directly."""
    settings = MqttSettings(url=f"mqtt://127.0.0.1:{free_port()}", client_id="copied")
    stats = CollectorStats()
    session = Session(
        settings, Inbox(), stats, batch_size=10, fast_path=False, reconnect_delay_s=(1, 30)
    )
    taken_over = ReasonCode(PacketTypes.DISCONNECT, identifier=SESSION_TAKEN_OVER)
    flags = mqtt.DisconnectFlags(is_disconnect_packet_from_server=True)
    with caplog.at_level("ERROR"):
        for _ in range(3):
            session._connected = True
            session._connected_at = time.monotonic() - 3600  # long-lived: only the code tells
            session._on_disconnect(session.client, None, flags, taken_over, None)
    assert stats.snapshot().session_takeovers == 3
    pauses = re.findall(
        r"another collector uses client id 'copied'.*taking it back in (\d+) s", caplog.text
    )
    assert pauses == ["5", "10", "20"]


class HangingStore:
    """The real store, whose writes block while ``hang`` is set (a store that stopped answering
    without failing)."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.hang = threading.Event()
        self.released = threading.Event()

    def write(self, readings: object) -> None:
        while self.hang.is_set() and not self.released.wait(0.05):
            pass
        self.inner.write(readings)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


@pytest.mark.timeout(120)
def test_a_stuck_collector_shows_in_stats_logs_and_health(
    mosquitto: Mosquitto,
    influxdb: InfluxDB,
    influx_db_name: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    prefix = influx_db_name
    mqtt_config = mqtt_settings(mosquitto.url, f"stuck-{prefix}", prefix)
    settings = collector_settings(tmp_path / "spool", stuck_after_s=2)
    store = HangingStore(influx_store(influxdb, influx_db_name))
    collector = Collector(
        mqtt_config,
        settings,
        store,  # type: ignore[arg-type]
        pipeline_from(mqtt_config, settings, load_registry(REGISTRY)),
    )
    messages = humidity_messages(prefix, 100)
    with caplog.at_level("WARNING"), collector:
        wait_until(lambda: collector.connected, 10, "the collector to connect")
        assert collector.health().ok
        store.hang.set()
        try:
            publish(mosquitto.url, messages)
            wait_until(lambda: "acknowledging" in collector.health().failing, 10, "health")
            wait_until(lambda: collector.stats.snapshot().stuck, 5, "stuck in the stats")
            stats = collector.stats.snapshot()
            assert stats.connected and stats.acked == 0
            assert "unacknowledged" in caplog.text
        finally:
            store.released.set()
        wait_until(lambda: collector.stats.snapshot().acked == len(messages), 10, "acked")
        wait_until(lambda: collector.health().ok, 10, "healthy again")
        wait_until(lambda: not collector.stats.snapshot().stuck, 5, "not stuck in the stats")
        assert "collector acknowledging again" in caplog.text
