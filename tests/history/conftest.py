"""Fixtures for the store tests: each store under test, against the real servers.

``store`` is parametrised over the embedded SQLite store and the InfluxDB store on both write
paths (``v1``: the 1.x ``/write``; ``v2``: influxdb-client through `V2Front`), so the contract
tests run unchanged against every one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from repoclimate.history import HistoryStore, StoreSettings, open_store
from repoclimate.history.influx import InfluxStore
from tests.history.v2_front import V2Front
from tests.servers import InfluxDB


@pytest.fixture
def v2_front(influxdb: InfluxDB) -> Iterator[V2Front]:
    """An ``/api/v2/write`` front on the session InfluxDB 1.6.7."""
    front = V2Front(influxdb.url).start()
    yield front
    front.stop()


@pytest.fixture
def make_influx_store() -> Iterator[Callable[..., InfluxStore]]:
    """Build `InfluxStore` objects from settings keywords; all are closed at the end."""
    stores: list[InfluxStore] = []

    def make(**settings: object) -> InfluxStore:
        store = InfluxStore(StoreSettings.model_validate({"kind": "influxdb", **settings}))
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture(params=["sqlite", "influx-v1", "influx-v2"])
def store(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    make_influx_store: Callable[..., InfluxStore],
) -> Iterator[HistoryStore]:
    """Each store kind, empty."""
    if request.param == "sqlite":
        sqlite = open_store(StoreSettings(kind="sqlite", sqlite_path=tmp_path / "store.sqlite"))
        yield sqlite
        sqlite.close()
        return
    database = request.getfixturevalue("influx_db_name")
    if request.param == "influx-v1":
        url = request.getfixturevalue("influxdb").url
        yield make_influx_store(url=url, database=database, api_version="v1")
    else:
        front = request.getfixturevalue("v2_front")
        yield make_influx_store(url=front.url, database=database, api_version="v2")
