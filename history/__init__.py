"""Where readings are kept and read back: the `Store` interface, the InfluxDB store and the
embedded SQLite store; their rollups (`rollups`, site-local days in `localdays`), retention and
its schedule in ``serve`` (`retention`, `maintenance`), and export (`export`).

`open_store` builds the store the settings name; the errors every store raises are re-exported
here (`StoreUnavailable`: try again later; `StoreRejected`: the data itself was refused;
`InvalidPoint`: refused before sending).
"""

from __future__ import annotations

from repoclimate.history.derived import CLIMATE_1H, PRESERVATION, DerivedRow
from repoclimate.history.settings import StoreSettings
from repoclimate.history.store import (
    AggregatePoint,
    HistoryStore,
    InvalidPoint,
    Store,
    StoreRejected,
    StoreUnavailable,
)

__all__ = [
    "CLIMATE_1H",
    "PRESERVATION",
    "AggregatePoint",
    "DerivedRow",
    "HistoryStore",
    "InvalidPoint",
    "Store",
    "StoreRejected",
    "StoreSettings",
    "StoreUnavailable",
    "open_store",
]


def open_store(settings: StoreSettings) -> HistoryStore:
    """The store ``settings.kind`` names: `SQLiteStore` or `InfluxStore`.

    Opening an InfluxDB store does not contact the server (a collector must start, and spool,
    while InfluxDB is down); a missing database is created on the first write when
    ``settings.create_database`` allows it.
    """
    if settings.kind == "sqlite":
        from repoclimate.history.sqlite import SQLiteStore

        return SQLiteStore(settings.sqlite_path, defer_rollups=settings.defer_rollups)
    from repoclimate.history.influx import InfluxStore

    return InfluxStore(settings)
