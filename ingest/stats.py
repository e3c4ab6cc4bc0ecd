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
    that carry no reading: status, availability, dead letters of any collector), ``rejected``
    (messages refused, by reason code), ``acked``, ``restamped`` (redelivered messages without a
    device time that got their first receive stamp back from the stamp journal). Readings:
    ``readings`` (decoded and valid), ``stored`` (written to the store, directly or drained from
    the spool), ``spooled`` (written to the on-disk spool because the store was unavailable),
    ``drained`` (of those, later moved to the store), ``store_rejected`` (refused by the store and
    dead-lettered). ``dead_lettered`` counts
    dead-letter records published, ``batches`` the batches handled, ``store_errors`` the failed
    store writes (transient or not). ``spool_pending`` is the readings waiting in the spool now.

    The connection: ``connected`` (now), ``connections`` (made), ``connect_failures`` (attempts
    that failed or were refused). The watchdog: ``network_thread_restarts`` (times the MQTT
    client was replaced because its network loop had died or stalled), ``stalls`` (of those, a
    receive loop that had stopped reading), ``stalled`` (the watchdog sees a stall now).
    ``fast_path`` says whether the fast receive path is in use now, ``fast_path_fallbacks`` how
    often an override of it raised and the client fell back to paho's own path.

    Poison and stalls: ``dead_letters_refused`` (records the broker refused: PUBACK ≥ 0x80),
    ``dead_letters_local`` (records the broker refused or did not confirm in time, kept in the
    local dead-letter file instead), ``dead_letters_lost`` (records neither took: only logged),
    ``session_takeovers`` (MQTT 5 reason 0x8E: another client with this client id took the
    session), ``stamp_journal_failures`` (receive-stamp journal commits that failed, e.g. on a
    full spool disk), ``spool_errors`` (spool writes that failed: readings then went to the store
    directly, ahead of older spooled ones, or drained readings stayed in the spool to be sent
    again) and ``stamp_journal_degraded`` (it fails now: readings are stored without
    it). ``stuck`` is set while messages received more than ``collector.stuck_after_s`` ago are
    still unacknowledged (a hung store, a full receive window).
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
    connect_failures: int = 0
    network_thread_restarts: int = 0
    stalls: int = 0
    stalled: bool = False
    fast_path: bool = False
    fast_path_fallbacks: int = 0
    dead_letters_refused: int = 0
    dead_letters_local: int = 0
    dead_letters_lost: int = 0
    session_takeovers: int = 0
    stamp_journal_failures: int = 0
    spool_errors: int = 0
    stamp_journal_degraded: bool = False
    stuck: bool = False

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
    "connect_failures",
    "network_thread_restarts",
    "stalls",
    "fast_path_fallbacks",
    "dead_letters_refused",
    "dead_letters_local",
    "dead_letters_lost",
    "session_takeovers",
    "stamp_journal_failures",
    "spool_errors",
)
_FLAGS = ("connected", "stalled", "fast_path", "stamp_journal_degraded", "stuck")


class CollectorStats:
    """Thread-safe counters; `add` is meant to be called once per batch, not per message."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = dict.fromkeys(_COUNTERS, 0)
        self._rejected: Counter[str] = Counter()
        self._spool_pending = 0
        self._flags: dict[str, bool] = dict.fromkeys(_FLAGS, False)

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
            self._flags["connected"] = connected
            if connected:
                self._counts["connections"] += 1

    def set_flag(self, name: str, value: bool) -> None:
        """Set a state flag of `StatsSnapshot` (any flag but ``connected``)."""
        if name not in _FLAGS or name == "connected":
            raise KeyError(f"unknown collector flag {name!r}")
        with self._lock:
            self._flags[name] = value

    def snapshot(self) -> StatsSnapshot:
        """A consistent copy of every counter."""
        with self._lock:
            return StatsSnapshot(
                rejected=dict(self._rejected),
                spool_pending=self._spool_pending,
                connected=self._flags["connected"],
                stalled=self._flags["stalled"],
                fast_path=self._flags["fast_path"],
                stamp_journal_degraded=self._flags["stamp_journal_degraded"],
                stuck=self._flags["stuck"],
                **self._counts,
            )
