"""The receive-stamp journal: durable across reopen and SIGKILL, pruned by age and count, keyed by
packet id so identical payloads keep their own stamps, consulted by the collector only for DUP."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from repoclimate.ingest.batching import Batch, Inbound
from repoclimate.ingest.collector import Collector
from repoclimate.ingest.paho_client import FastClient
from repoclimate.ingest.pipeline import Pipeline
from repoclimate.ingest.settings import CollectorSettings, MqttSettings, TopicRoute
from repoclimate.ingest.spool import Spool
from repoclimate.ingest.stamps import _ENTRY, MAX_IN_FLIGHT, StampJournal, stamp_key
from repoclimate.sensors.registry import Registry

NOW_US = time.time_ns() // 1000
SECOND = 1_000_000
TOPIC = "zigbee2mqtt/stack-3-north"
PAYLOAD = b'{"temperature":19.3,"humidity":55.2,"battery":100,"linkquality":120}'
KEY = stamp_key(TOPIC.encode(), PAYLOAD)


def journal(
    path: Path, *, keep_s: float = 3600, keep_entries: int = MAX_IN_FLIGHT, now_us: int = NOW_US
) -> StampJournal:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    return StampJournal(
        db, threading.Lock(), keep_s=keep_s, keep_entries=keep_entries, now_us=now_us
    )


def found(stamps: StampJournal, mids: range | list[int], now_us: int = NOW_US) -> list[int]:
    """The packet ids among ``mids`` whose delivery of PAYLOAD on TOPIC a redelivery finds."""
    return [mid for mid in mids if stamps.lookup(mid, KEY, now_us) is not None]


def test_the_digest_covers_topic_and_payload() -> None:
    keys = {KEY, stamp_key(TOPIC.encode(), PAYLOAD + b" "), stamp_key(b"zigbee2mqtt/x", PAYLOAD)}
    assert len(keys) == 3
    assert all(len(k) == 16 for k in keys)
    assert stamp_key(b"a/b", b"c") != stamp_key(b"a/", b"bc")


def test_committed_stamps_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite"
    with Spool(path) as spool:
        spool.stamps.commit([spool.stamps.note(mid, KEY, NOW_US + mid) for mid in (1, 2, 3)])
        spool.stamps.note(4, KEY, NOW_US + 4)  # noted, never committed
        assert found(spool.stamps, range(1, 6)) == [1, 2, 3, 4]
    with Spool(path) as spool:
        stamps = spool.stamps
        assert [stamps.lookup(mid, KEY, NOW_US) for mid in (1, 2, 3, 4)] == [
            NOW_US + 1,
            NOW_US + 2,
            NOW_US + 3,
            None,
        ]
        # New entries go behind the reopened ones and are found as well.
        stamps.commit([stamps.note(5, KEY, NOW_US + 5)])
    with Spool(path) as spool:
        assert found(spool.stamps, range(1, 6)) == [1, 2, 3, 5]


def test_a_committed_stamp_survives_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite"
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).parents[2])!r})
        from pathlib import Path
        from repoclimate.ingest.spool import Spool
        from tests.ingest.test_stamps import KEY
        spool = Spool(Path({str(path)!r}))
        spool.stamps.commit([spool.stamps.note(9, KEY, {NOW_US})])
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], check=False, timeout=60)
    assert result.returncode == -9
    with Spool(path) as spool:
        assert spool.stamps.lookup(9, KEY, NOW_US) == NOW_US


def test_identical_payloads_keep_the_stamp_of_their_own_delivery(tmp_path: Path) -> None:
    # A sensor in a steady room sends the same payload again and again; each delivery has its
    # packet id, and a redelivery (same id) finds its own first stamp, not an older reading's.
    stamps = journal(tmp_path / "j.sqlite")
    stamps.commit([stamps.note(mid, KEY, NOW_US + mid) for mid in range(1, 11)])
    assert [stamps.lookup(mid, KEY, NOW_US) for mid in (10, 3, 7)] == [
        NOW_US + 10,
        NOW_US + 3,
        NOW_US + 7,
    ]
    # A different message under a journaled id is not matched.
    other = stamp_key(TOPIC.encode(), PAYLOAD.replace(b"19.3", b"19.4"))
    assert stamps.lookup(3, other, NOW_US) is None
    assert stamps.lookup(11, KEY, NOW_US) is None


def test_a_later_delivery_under_the_same_packet_id_replaces_the_earlier(tmp_path: Path) -> None:
    # The broker reuses an id only after the first message was acknowledged: the later delivery
    # is the one a redelivery under that id can be.
    path = tmp_path / "j.sqlite"
    stamps = journal(path)
    stamps.commit([stamps.note(1, KEY, NOW_US + 1), stamps.note(2, KEY, NOW_US + 2)])
    stamps.commit([stamps.note(1, KEY, NOW_US + 3)])
    assert stamps.lookup(1, KEY, NOW_US) == NOW_US + 3
    assert journal(path).lookup(1, KEY, NOW_US) == NOW_US + 3
    assert journal(path).lookup(2, KEY, NOW_US) == NOW_US + 2


def test_rows_beyond_the_last_entries_kept_are_pruned(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    stamps = journal(path, keep_entries=6)
    for start in range(1, 21, 4):  # five batches of four
        stamps.commit([stamps.note(mid, KEY, NOW_US + mid) for mid in range(start, start + 4)])
    # The last six entries are 15…20: rows go whole, so the one holding 13…16 stays.
    rows = sqlite3.connect(path).execute("SELECT entries FROM stamp ORDER BY id").fetchall()
    on_disk = [mid for (entries,) in rows for _, mid, _, _ in _ENTRY.iter_unpack(entries)]
    assert on_disk == list(range(13, 21))
    assert found(journal(path, keep_entries=6), range(1, 21)) == list(range(13, 21))


def test_stamps_older_than_keep_s_are_not_matched_and_their_rows_go(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    stamps = journal(path, keep_s=60)
    stamps.commit([stamps.note(1, KEY, NOW_US - 100 * SECOND)])
    stamps.commit([stamps.note(2, KEY, NOW_US - 30 * SECOND)])
    stamps.commit([stamps.note(3, KEY, NOW_US)])
    assert found(stamps, range(1, 4)) == [2, 3]  # a redelivery arriving now
    assert found(stamps, range(1, 4), now_us=NOW_US + 31 * SECOND) == [3]
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM stamp").fetchone()[0] == 2
    # Reopened 45 s later: 3 is still found; reopened 75 s later nothing is, and the table is
    # empty.
    assert found(journal(path, keep_s=60, now_us=NOW_US + 45 * SECOND), range(1, 4)) == [3]
    later = journal(path, keep_s=60, now_us=NOW_US + 75 * SECOND)
    assert found(later, range(1, 4)) == []
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM stamp").fetchone()[0] == 0


def test_keep_s_zero_turns_the_journal_off_and_empties_it(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite"
    with Spool(path) as spool:
        spool.stamps.commit([spool.stamps.note(1, KEY, NOW_US)])
    with Spool(path, stamp_journal_s=0) as spool:
        assert not spool.stamps.enabled
    with Spool(path) as spool:
        assert spool.stamps.lookup(1, KEY, NOW_US) is None


# -- the collector's use of it (its decoder step, without a broker) -------------------------------


MakeCollector = Callable[..., Collector]


@pytest.fixture
def make_collector(tmp_path: Path) -> Iterator[MakeCollector]:
    """A collector whose decoder step the test drives, with its spool (and journal) open."""
    spools: list[Spool] = []

    def make(**settings: object) -> Collector:
        mqtt_config = MqttSettings(
            client_id=f"stamps-{tmp_path.name}",
            topics=[TopicRoute(filter="zigbee2mqtt/#", format="zigbee2mqtt")],
        )
        config = CollectorSettings.model_validate({"spool_dir": tmp_path, **settings})
        pipeline = Pipeline(Registry.empty(), mqtt_config.topics, config.max_payload_bytes)
        made = Collector(mqtt_config, config, None, pipeline)  # type: ignore[arg-type]
        spool = Spool(tmp_path / "spool.sqlite", stamp_journal_s=config.stamp_journal_s)
        spools.append(spool)
        made.decoder.journal = spool.stamps if spool.stamps.enabled else None
        return made

    yield make
    for spool in spools:
        spool.close()


def decode(
    made: Collector, mid: int, received_us: int, *, dup: bool, payload: bytes = PAYLOAD
) -> Batch:
    batch = Batch(0)
    made.decoder.decode(batch, Inbound(TOPIC.encode(), payload, mid, 1, received_us, 0, dup))
    return batch


def stamp_of(batch: Batch) -> datetime:
    [reading] = batch.readings
    return reading.time


def at(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1e6, UTC)


def test_a_redelivery_takes_the_stamp_of_its_first_delivery(make_collector: MakeCollector) -> None:
    made = make_collector()
    first = decode(made, 42, NOW_US, dup=False)
    assert stamp_of(first) == at(NOW_US)
    assert len(first.stamps) == 1
    again = decode(made, 42, NOW_US + 5 * SECOND, dup=True)
    assert stamp_of(again) == at(NOW_US)
    assert again.restamped == 1
    assert again.stamps == []  # nothing new to journal


def test_a_message_without_dup_never_takes_a_journal_stamp(make_collector: MakeCollector) -> None:
    # A stuck sensor sending the same payload twice, even under the same packet id (reused after
    # the acknowledgement), is two readings.
    made = make_collector()
    decode(made, 42, NOW_US, dup=False)
    second = decode(made, 42, NOW_US + SECOND, dup=False)
    assert stamp_of(second) == at(NOW_US + SECOND)
    assert second.restamped == 0
    assert len(second.stamps) == 1


def test_a_redelivery_not_in_the_journal_is_stamped_on_receipt_and_journaled(
    make_collector: MakeCollector,
) -> None:
    made = make_collector()
    decode(made, 41, NOW_US, dup=False)
    other = decode(made, 42, NOW_US + SECOND, dup=True)  # first delivery never reached us
    assert stamp_of(other) == at(NOW_US + SECOND)
    assert len(other.stamps) == 1
    assert stamp_of(decode(made, 42, NOW_US + 2 * SECOND, dup=True)) == at(NOW_US + SECOND)


def test_payloads_with_a_device_time_are_not_journaled(make_collector: MakeCollector) -> None:
    made = make_collector()
    timed = b'{"temperature":19.3,"humidity":55.2,"last_seen":"2026-11-20T03:15:00Z"}'
    batch = decode(made, 7, NOW_US, dup=False, payload=timed)
    assert stamp_of(batch) == datetime(2026, 11, 20, 3, 15, tzinfo=UTC)
    assert batch.stamps == []
    again = decode(made, 7, NOW_US + SECOND, dup=True, payload=timed)
    assert stamp_of(again) == datetime(2026, 11, 20, 3, 15, tzinfo=UTC)
    assert again.restamped == 0


def test_with_the_journal_off_a_redelivery_is_stamped_anew(make_collector: MakeCollector) -> None:
    made = make_collector(stamp_journal_s=0)
    assert decode(made, 42, NOW_US, dup=False).stamps == []
    assert stamp_of(decode(made, 42, NOW_US + SECOND, dup=True)) == at(NOW_US + SECOND)


@pytest.mark.parametrize(("header", "dup"), [(0x32, False), (0x3A, True)])
def test_the_fast_client_passes_the_dup_flag(header: int, dup: bool) -> None:
    client = FastClient(CallbackAPIVersion.VERSION2, client_id="dup", manual_ack=True)
    seen: list[tuple[bytes, bytes, int, int, bool]] = []
    client.message_sink = lambda *message: seen.append(message)
    topic = b"zigbee2mqtt/x"
    body = len(topic).to_bytes(2, "big") + topic + (0x1234).to_bytes(2, "big") + b"{}"
    client._in_packet = {"command": header, "packet": bytearray(body)}  # type: ignore[typeddict-item]
    client._handle_publish()
    assert seen == [(topic, b"{}", 0x1234, 1, dup)]


def test_pahos_own_path_passes_the_dup_flag(make_collector: MakeCollector) -> None:
    made = make_collector()
    for dup in (False, True):
        message = mqtt.MQTTMessage(mid=5, topic=TOPIC.encode())
        message.payload = PAYLOAD
        message.qos = 1
        message.dup = dup
        made.session._on_message(made.client, None, message)
        assert made.inbox.queue[-1].dup is dup
