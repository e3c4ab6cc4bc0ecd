"""The SQLite store's plain-row reads (`history.ValueReads`: `history_values`,
`rollup_values`) give the history answers byte for byte as the `HistoryStore` reads do."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from repoclimate.app.api import create_app
from repoclimate.app.api.history import ValueReads
from repoclimate.app.api.reads import reads_inline
from repoclimate.app.users import Role
from repoclimate.history.sqlite import SQLiteStore
from tests.app.api.conftest import BASE_URL, World


class _PlainStore:
    """The same store seen through `HistoryStore` alone (as an InfluxDB store is)."""

    def __init__(self, store: object) -> None:
        self.store = store

    def __getattr__(self, name: str) -> Any:
        if name in ("history_values", "rollup_values"):
            raise AttributeError(name)
        return getattr(self.store, name)


QUERIES = [
    {"start": "2026-05-31T11:07:00Z", "end": "2026-06-01T13:00:00Z"},
    {"start": "2026-05-31T12:00:00Z", "end": "2026-06-01T11:30:00Z", "format": "csv"},
    {"start": "2026-05-31T11:07:00Z", "end": "2026-06-01T13:00:00Z", "every": "1h"},
    {"start": "2026-05-31T11:00:00Z", "end": "2026-06-01T11:00:00Z", "every": "1h"},
    {"start": "2026-05-25T00:00:00Z", "end": "2026-06-02T00:00:00Z", "every": "1d"},
    {"start": "2026-05-31T23:02:00Z", "end": "2026-06-01T12:00:00Z", "every": "5m"},
    {"start": "2026-05-31T11:07:00Z", "every": "1h", "derived": ["dew_point", "mrf"]},
]


@pytest.mark.parametrize("path", ["/api/sensors/s1/history", "/api/rooms/stack-1/history"])
def test_plain_rows_answer_as_the_store_objects_do(world: World, path: str) -> None:
    assert isinstance(world.services.store, ValueReads)
    plain = create_app(
        dataclasses.replace(world.services, store=_PlainStore(world.services.store))  # type: ignore[arg-type]
    )
    assert not isinstance(plain.state.services.store, ValueReads)
    headers = {"Authorization": f"Bearer {world.tokens[Role.VIEWER]}"}
    lean = TestClient(world.app, base_url=BASE_URL, headers=headers)
    generic = TestClient(plain, base_url=BASE_URL, headers=headers)
    for query in QUERIES:
        ours, theirs = lean.get(path, params=query), generic.get(path, params=query)
        assert ours.status_code == theirs.status_code == 200, (query, ours.text)
        assert len(ours.content) > 200, query
        assert ours.content == theirs.content, query


def test_only_local_sqlite_reads_run_in_the_event_loop(world: World, tmp_path: Path) -> None:
    assert reads_inline(world.services)
    plain = dataclasses.replace(world.services, store=_PlainStore(world.services.store))
    assert not reads_inline(plain)  # type: ignore[arg-type]
    deferring = SQLiteStore(tmp_path / "deferred.sqlite", defer_rollups=True)
    try:
        assert not reads_inline(dataclasses.replace(world.services, store=deferring))
    finally:
        deferring.close()


def test_long_reads_leave_the_event_loop_for_the_pool(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A short window reads inline; a long one (a month raw, or more than `INLINE_BUCKETS`
    intervals) in a pool thread, so it cannot hold up the process's other requests."""
    threads: list[str] = []
    store = world.services.store
    for name in ("history_values", "rollup_values", "aggregate"):
        read = getattr(store, name)

        def recording(*args: Any, _read: Any = read, **kwargs: Any) -> Any:
            threads.append(threading.current_thread().name)
            return _read(*args, **kwargs)

        monkeypatch.setattr(store, name, recording)
    client = TestClient(
        world.app,
        base_url=BASE_URL,
        headers={"Authorization": f"Bearer {world.tokens[Role.VIEWER]}"},
    )
    end = "2026-06-01T12:00:00Z"
    cases = [
        ({"start": "2026-05-31T12:00:00Z", "end": end}, False),  # a day raw
        ({"start": "2026-05-03T12:00:00Z", "end": end}, True),  # a month raw
        ({"start": "2026-05-02T12:00:00Z", "end": end, "every": "1h"}, False),  # 720 hours
        ({"start": "2026-05-02T12:00:00Z", "end": end, "every": "5m"}, True),  # 8 640 intervals
    ]
    for path in ("/api/sensors/s1/history", "/api/rooms/stack-1/history"):
        for query, pooled in cases:
            threads.clear()
            assert client.get(path, params=query).status_code == 200, (path, query)
            assert threads, (path, query)
            in_pool = {"AnyIO worker thread" in name for name in threads}
            assert in_pool == {pooled}, (path, query, threads)
