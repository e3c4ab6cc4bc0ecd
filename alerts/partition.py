"""Engines that split the sites between them (``alerts.partition``).

``"N/M"`` makes this engine number N of M (1-based): its *home* sites are every M-th of the
registry's sites sorted by id, starting at the N-th, so engines reading the same registry agree
without talking. A list of site ids makes those its home sites. Unset: every site.

With the alert state on PostgreSQL, `SiteLeases` makes the split safe and self-healing through
session-level advisory locks on one connection of its own (the *lease* connection):

- **One engine per site.** An engine evaluates a site only while it holds the site's lock
  (``pg_try_advisory_lock(SITE_LOCKS, crc32(site))``), so two engines never evaluate the same
  site at once, even if they were given overlapping lists or the same N/M by mistake.
- **Held for the engine's lifetime**, not per evaluation: a site stays with one engine, so its
  in-memory rule state (running windows, mould checkpoints) is not rebuilt from history
  every time the site changes hands, and no lock is taken and dropped every cycle.
- **Takeover for free.** PostgreSQL releases a session's locks when its connection ends — the
  process exited or was killed, or the server dropped the connection (the lease connection
  asks for TCP keepalives, so a dead machine is noticed in about a minute). Each engine
  also holds a *liveness* lock ``(ENGINE_LOCKS, M << 16 | N)``; at every claim (once per
  evaluation job) an N/M engine looks up which engines are alive in ``pg_locks`` and takes the
  free sites whose home engine is gone: within one interval of the stop. When the home engine
  comes back, the adopter lets its sites go at its next claim (once no evaluation of them is
  running) and the home engine takes them at its next.
- A site list engine takes over nothing (nobody can tell whose another engine's sites are);
  its sites are still locked.

The dispatch job claims too: an engine pages, escalates and reminds only about the alerts of
the sites it holds (and about notification channels), never about another engine's
(`alerts.dispatch.Dispatcher.dispatch`'s ``sites``).

On SQLite (one machine) `StaticSites` only filters: there is nothing to lock between machines.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError

log = logging.getLogger(__name__)

SITE_LOCKS = 0x72635354
"""First key of a site's advisory lock (``rcST``); the second is `site_key`."""
ENGINE_LOCKS = 0x7263454E
"""First key of an engine's liveness lock (``rcEN``); the second is `engine_key`."""

KEEPALIVE = {"tcp_keepalives_idle": 30, "tcp_keepalives_interval": 10, "tcp_keepalives_count": 3}
"""Server-side TCP keepalives of the lease connection [s]: the server drops a vanished
engine's session — and its locks — after about 60 s (the defaults wait two hours)."""


class PartitionError(ValueError):
    """The partition setting cannot be applied to this registry."""


def site_key(site: str) -> int:
    """The second key of a site's advisory lock: a stable, non-negative 31-bit hash. Two sites
    sharing a key (rare) share a lock: they go to one engine, which is safe."""
    return zlib.crc32(site.encode("utf-8")) & 0x7FFFFFFF


def engine_key(number: int, count: int) -> int:
    return (count << 16) | number


def parse_share(partition: str) -> tuple[int, int]:
    """``"N/M"`` → (N, M); the settings have already checked 1 ≤ N ≤ M."""
    number, count = (int(part) for part in partition.split("/"))
    return number, count


def home_engine(sites: Sequence[str], site: str, count: int) -> int:
    """Which engine (1-based) of ``count`` a site belongs to: sites sorted by id, dealt out in
    turn."""
    return sorted(sites).index(site) % count + 1


def home_sites(sites: Sequence[str], number: int, count: int) -> list[str]:
    """Engine ``number`` of ``count``'s share of ``sites``."""
    return sorted(sites)[number - 1 :: count]


SitesOf = Callable[[], Sequence[str]]
"""The registry's site ids now (the registry may be reloaded while the engine runs)."""


@dataclass(frozen=True)
class Share:
    """This engine's part: engine ``number`` of ``count`` (``me``), or the ``listed`` sites."""

    me: tuple[int, int] | None = None
    listed: frozenset[str] = frozenset()

    def home(self, sites: Sequence[str]) -> frozenset[str]:
        if self.me is not None:
            return frozenset(home_sites(sites, *self.me))
        return self.listed & frozenset(sites)


class Partition(Protocol):
    """Which sites this engine evaluates now."""

    def claim(self) -> AbstractContextManager[frozenset[str] | None]:
        """A context: the sites to evaluate (None: all), kept while it is open."""
        ...

    def close(self) -> None: ...


class AllSites:
    """No partition: every site, always."""

    @contextmanager
    def claim(self) -> Iterator[frozenset[str] | None]:
        yield None

    def close(self) -> None:
        return None


class StaticSites:
    """This engine's home sites, no locks (the state is on SQLite: one machine)."""

    def __init__(self, sites_of: SitesOf, share: Share) -> None:
        self.sites_of = sites_of
        self.share = share

    @contextmanager
    def claim(self) -> Iterator[frozenset[str] | None]:
        yield self.share.home(self.sites_of())

    def close(self) -> None:
        return None


class SiteLeases:
    """Sites held through PostgreSQL advisory locks on a lease connection of their own.

    ``share``: this engine's home sites; an N/M engine (``share.me``) also takes over the free
    sites of engines that are gone (a site list: no takeover). Thread-safe: the scheduler's
    evaluation jobs claim concurrently.
    """

    def __init__(self, engine: Engine, sites_of: SitesOf, share: Share) -> None:
        self.engine = engine
        self.sites_of = sites_of
        self.share = share
        self.me = share.me
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        self._alive = False
        self._held: set[str] = set()
        self._busy: Counter[str] = Counter()
        self._warned = False

    # -- the lease connection ---------------------------------------------------------------
    def _connect(self) -> Connection:
        if self._connection is not None and not self._connection.invalidated:
            return self._connection
        self._drop()
        connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        for name, seconds in KEEPALIVE.items():
            connection.execute(text(f"SET {name} = {int(seconds)}"))
        self._connection = connection
        return connection

    def _drop(self) -> None:
        """Close the lease connection for good (invalidated: never back into the pool); its
        locks went, or go, with it."""
        if self._connection is not None:
            try:
                self._connection.invalidate()
                self._connection.close()
            except DBAPIError as exc:
                log.debug("alerts partition: closing a broken lease connection: %s", exc)
        self._connection = None
        self._alive = False
        self._held.clear()

    # -- claims -------------------------------------------------------------------------------
    @contextmanager
    def claim(self) -> Iterator[frozenset[str] | None]:
        """Take what this engine may evaluate now; the sites are kept (not handed back to
        their home engine) until the context ends."""
        with self._lock:
            sites: frozenset[str] = frozenset()
            for attempt in (1, 2):  # a dropped lease connection: once more on a new one
                try:
                    sites = self._refresh()
                    break
                except (OperationalError, DBAPIError) as exc:
                    self._drop()
                    if attempt == 2:
                        log.warning("alerts partition: cannot reach the state database: %s", exc)
            self._busy.update(sites)
        try:
            yield sites
        finally:
            with self._lock:
                self._busy.subtract(sites)

    def held(self) -> frozenset[str]:
        """The sites this engine holds now."""
        with self._lock:
            return frozenset(self._held)

    def _refresh(self) -> frozenset[str]:
        sites = sorted(set(self.sites_of()))
        home = self.share.home(sites)
        keys_of = {site: site_key(site) for site in sites}
        connection = self._connect()
        # What this session holds: the server's word (a reconnect has lost everything).
        rows = connection.execute(
            text(
                "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2"
                " AND classid::bigint = :ns AND pid = pg_backend_pid() AND granted"
            ),
            {"ns": SITE_LOCKS},
        )
        keys = {int(row[0]) for row in rows}
        self._held = {site for site in self._held if site_key(site) in keys}
        for site in sorted(self._held - set(sites)):
            if not self._busy[site]:  # removed from the registry
                self._release(site)
        if self.me is not None and not self._alive:
            self._alive = self._try(ENGINE_LOCKS, engine_key(*self.me))
            if not self._alive and not self._warned:
                self._warned = True
                log.warning(
                    "alerts partition: another engine %d/%d is running; this one takes only "
                    "the free sites",
                    *self.me,
                )
        live = self._live_engines(connection) if self.me is not None else set()
        for site in sites:
            owner = None if self.me is None else home_engine(sites, site, self.me[1])
            if site in self._held:
                if site not in home and owner in live and not self._busy[site]:
                    self._release(site)
                continue
            orphan = self.me is not None and owner not in live
            if (site in home or orphan) and self._try(SITE_LOCKS, keys_of[site]):
                self._held.add(site)
        return frozenset(self._held & set(sites))

    def _live_engines(self, connection: Connection) -> set[int]:
        """The engine numbers of this M whose liveness lock some session holds."""
        assert self.me is not None
        count = self.me[1]
        rows = connection.execute(
            text(
                "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2"
                " AND classid::bigint = :ns AND granted"
            ),
            {"ns": ENGINE_LOCKS},
        )
        live = set()
        for (key,) in rows:
            if int(key) >> 16 == count:
                live.add(int(key) & 0xFFFF)
        return live

    def _try(self, namespace: int, key: int) -> bool:
        assert self._connection is not None
        got = self._connection.execute(
            text("SELECT pg_try_advisory_lock(:ns, :key)"), {"ns": namespace, "key": key}
        ).scalar()
        return bool(got)

    def _release(self, site: str) -> None:
        assert self._connection is not None
        self._connection.execute(
            text("SELECT pg_advisory_unlock(:ns, :key)"),
            {"ns": SITE_LOCKS, "key": site_key(site)},
        )
        self._held.discard(site)
        log.info("alerts partition: site %s handed back to its engine", site)

    def close(self) -> None:
        """Let every site go at once (``pg_advisory_unlock_all``: the server ends a closed
        session's backend a moment later, not at once), then close the lease connection for
        good, not back into the pool (a pooled session would keep its locks)."""
        with self._lock:
            if self._connection is not None and not self._connection.invalidated:
                try:
                    self._connection.exec_driver_sql("SELECT pg_advisory_unlock_all()")
                except DBAPIError as exc:
                    log.debug("alerts partition: unlocking on close: %s", exc)
            self._drop()


def partition_for(
    setting: str | list[str] | None, sites_of: SitesOf, engine: Engine | None
) -> Partition:
    """The partition ``alerts.partition`` describes over the registry's sites (``sites_of``);
    ``engine`` is the alert state's SQLAlchemy engine (locks on PostgreSQL, a filter
    elsewhere). A site list naming a site the registry does not have raises `PartitionError`."""
    if setting is None:
        return AllSites()
    if isinstance(setting, str):
        share = Share(me=parse_share(setting))
    else:
        known = set(sites_of())
        unknown = sorted(set(setting) - known)
        if unknown:
            raise PartitionError(
                f"alerts.partition names sites the registry does not have: {', '.join(unknown)}"
                f" (its sites: {', '.join(sorted(known)) or 'none'})"
            )
        share = Share(listed=frozenset(setting))
    if engine is None or engine.dialect.name != "postgresql":
        return StaticSites(sites_of, share)
    return SiteLeases(engine, sites_of, share)
