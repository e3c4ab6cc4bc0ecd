"""The collector's counters: what it received, stored, spooled, rejected and acknowledged.

Threads add to the counters once per batch (not once per message) under one lock; readers take a
consistent `StatsSnapshot` with `CollectorStats.snapshot()`.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class StatsSnapshot:
    """The collector's counters at one instant (all counts since the collector started).

    Messages: ``received`` (every MQTT message handed to the collector), ``ignored`` (messages
    that carry no reading: status, availability, the collector's own dead letters), ``rejected``
    (messages refused, by reason code), ``acked``, ``restamped`` (redelivered messages without a
    device time that got their first receive stamp back from the stamp journal). Readings:
    ``readings`` (decoded and valid), ``stored`` (written to the store, directly or drained from
    the spool), ``spooled`` (written to the on-disk spool because the store was unavailable),
    ``drained`` (of those, later moved to the store), ``store_rejected`` (refused by the store and
    dead-lettered). ``dead_lettered`` counts
    dead-letter records published, ``batches`` the batches handled, ``store_errors`` the failed
    store writes (transient or not). ``spool_pending`` is the readings waiting in the spool now.
    """

    received: int = 0
    ignored: int = 0
    rejected: Mapping[str, int] = field(default_factory=dict)
    acked: int = 0
    readings: int = 0
    stored: int = 0
    spooled: int = 0
    drained: int = 0
    store_rejected: int = 0
    dead_lettered: int = 0
    batches: int = 0
    store_errors: int = 0
    spool_pending: int = 0
    connected: bool = False
    connections: int = 0
    restamped: int = 0

    @property
    def rejected_total(self) -> int:
        """All rejected messages, whatever the reason."""
        return sum(self.rejected.values())


_COUNTERS = (
    "received",
    "ignored",
    "acked",
    "readings",
    "stored",
    "spooled",
    "drained",
    "store_rejected",
    "dead_lettered",
    "batches",
    "store_errors",
    "connections",
    "restamped",
)


class CollectorStats:
    """Thread-safe counters; `add` is meant to be called once per batch, not per message."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = dict.fromkeys(_COUNTERS, 0)
        self._rejected: Counter[str] = Counter()
        self._spool_pending = 0
        self._connected = False

    def add(self, rejected: Mapping[str, int] | None = None, **counts: int) -> None:
        """Add to named counters (see `StatsSnapshot`) and to rejection counts by reason."""
        with self._lock:
            for name, value in counts.items():
                if name not in self._counts:
                    raise KeyError(f"unknown collector counter {name!r}")
                self._counts[name] += value
            if rejected:
                self._rejected.update(rejected)

    def set_spool_pending(self, readings: int) -> None:
        with self._lock:
            self._spool_pending = readings

    def set_connected(self, connected: bool) -> None:
        with self._lock:
            self._connected = connected
            if connected:
                self._counts["connections"] += 1

    def snapshot(self) -> StatsSnapshot:
        """A consistent copy of every counter."""
        with self._lock:
            return StatsSnapshot(
                rejected=dict(self._rejected),
                spool_pending=self._spool_pending,
                connected=self._connected,
                **self._counts,
            )
