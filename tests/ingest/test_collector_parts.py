"""Collector parts that need no server: subscriptions, counters, the fast client's PUBACKs."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from repoclimate.ingest.paho_client import FastClient, fast_path_supported
from repoclimate.ingest.settings import DEFAULT_ROUTES
from repoclimate.ingest.stats import CollectorStats
from repoclimate.sensors.topics import covering_filters, filter_covers


@pytest.mark.parametrize(
    ("wide", "narrow", "covers"),
    [
        ("a/#", "a/b/c", True),
        ("a/#", "a", True),
        ("#", "a/+/c", True),
        ("a/+", "a/b", True),
        ("a/+", "a/#", False),
        ("a/+/c", "a/b/+", False),
        ("a/b", "a/+", False),
        ("#", "$SYS/x", False),
        ("+/events/rpc", "repoclimate/#", False),
    ],
)
def test_filter_cover(wide: str, narrow: str, covers: bool) -> None:
    assert filter_covers(wide, narrow) is covers


def test_overlapping_routes_subscribe_once() -> None:
    filters = [route.filter for route in DEFAULT_ROUTES]
    assert "repoclimate/+/lines" in filters
    subscribed = covering_filters(filters)
    assert "repoclimate/+/lines" not in subscribed
    assert subscribed[0] == "repoclimate/#"
    assert len(subscribed) == len(filters) - 1
    assert covering_filters(["a/b", "a/b", "x"]) == ["a/b", "x"]
    assert covering_filters(["a", "a/#", "#"]) == ["#"]


def test_stats_snapshot_is_a_consistent_copy() -> None:
    stats = CollectorStats()

    def add() -> None:
        for _ in range(1000):
            stats.add(received=2, stored=1, rejected={"malformed_json": 1})

    threads = [threading.Thread(target=add) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats.set_connected(True)
    snapshot = stats.snapshot()
    assert (snapshot.received, snapshot.stored) == (8000, 4000)
    assert snapshot.rejected == {"malformed_json": 4000}
    assert snapshot.rejected_total == 4000
    assert snapshot.connected and snapshot.connections == 1
    with pytest.raises(KeyError):
        stats.add(nonsense=1)


def test_fast_client_packs_a_batch_of_pubacks_into_one_write() -> None:
    assert fast_path_supported()
    client = FastClient(CallbackAPIVersion.VERSION2, client_id="x", manual_ack=True)
    client.ack_all([1, 2, 0x1234])
    [packet] = list(client._out_packet)
    assert bytes(packet["packet"]) == bytes.fromhex("400200014002000240021234")
    single = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="y", manual_ack=True)
    single.ack(0x1234, 1)
    assert bytes(single._out_packet[0]["packet"]) == bytes.fromhex("40021234")
