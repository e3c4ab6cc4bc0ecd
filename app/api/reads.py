"""Where the API's hot routes (room status, history) do their blocking work: in the event loop
itself when every store they read is a local SQLite file, else in the thread pool.

A hand-off to a pool thread and back costs more CPU than a room's whole status from kept state
(bench/api.py: ≈ 0.45 ms of ≈ 0.85 ms for the smallest authenticated route), and under load
the pool threads and the event loop take turns on the GIL. SQLite reads of one request are
short (a day of raw readings ≈ 0.5 ms, 720 hourly rollups ≈ 2–4 ms, at most `MAX_BUCKETS`
intervals) and local, so they run inline; a network store (InfluxDB) or alert state
(PostgreSQL) would hold up every other request of the process while it waits, so those go to
the pool as before. With ``store.defer_rollups`` an SQLite rollup read may first write the
deferred rollups, which can wait on another writer's lock: that store stays in the pool too.
A long read (`history.Window.light` false: raw over more than `INLINE_RAW_SPAN`, or more than
`INLINE_BUCKETS` intervals) goes to the pool as well, so one month of a room's minute readings
cannot hold up the process's other requests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool

from repoclimate.app.services import Services
from repoclimate.history.sqlite import SQLiteStore

P = ParamSpec("P")
T = TypeVar("T")


def reads_inline(services: Services) -> bool:
    """Whether the API's reads of ``services`` run in the event loop (see the module)."""
    store = services.store
    return (
        isinstance(store, SQLiteStore)
        and not store.defer_rollups
        and services.state.engine.dialect.name == "sqlite"
    )


async def run_read(
    services: Services, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs
) -> T:
    """``function(*args, **kwargs)``, inline or in the thread pool as `reads_inline` says."""
    return await run_sized_read(services, True, function, *args, **kwargs)


async def run_sized_read(
    services: Services, light: bool, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs
) -> T:
    """As `run_read`, and in the thread pool whatever the stores when ``light`` is false."""
    if light and reads_inline(services):
        return function(*args, **kwargs)
    return await run_in_threadpool(function, *args, **kwargs)
