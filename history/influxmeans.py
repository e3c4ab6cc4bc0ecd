"""InfluxDB 1.6's hourly ``mean()`` computed from the readings, bit for bit.

The incremental alert source (`repoclimate.alerts.incremental`) reads each cycle the readings
of the settle window and, in a second query, the hourly means of the same hours; on InfluxDB
1.6 each query costs the server 1.3–2.2 s of CPU for 10 000 sensors (its cost is per series,
not per row). The readings the source holds determine those means exactly, because of how
InfluxDB 1.6 (``v1.6.7``) computes ``SELECT mean(f) … GROUP BY time(1h), sensor``:

1. per series and per hour, ``query.FloatMeanReducer`` over the series' points in time order
   (the TSM cursor merges cache and files, one point per instant): ``sum = 0.0``, then
   ``sum += value`` point by point, then ``mean = sum / count`` (``query/functions.go``;
   ``tsm1.Engine.createCallIterator`` wraps each series' iterator in ``query.NewCallIterator``);
2. the result passes through three more ``FloatMeanReducer``\\ s, one per merge
   (``tsm1.newMergeFinalizerIterator``, ``tsdb.Shards.CreateIterator`` and
   ``query.exprIteratorBuilder.callIterator``, each ``query.Iterators.Merge`` →
   ``NewCallIterator``). Each gets the one point of that hour and series (with ``count ≥ 2``
   it weighs it: ``sum = 0.0 + mean * count``, then ``sum / count``; that is not always
   ``mean`` again, so the merges are replayed, `MERGES` of them) — as long as the hour's
   points are one series' in one shard. A sensor with two series (it moved between rooms)
   would have partial means combined in an order of the server's; an hour crossing a shard
   boundary would have two partial means. Those are left to the server.

`hour_means` is that computation for many sensors at once (a sum in reading order, column by
column over the sensors' hours, never NumPy's pairwise ``sum``); `InfluxStore.readings_mean_sensors`
says for which sensors and hours it holds: a server that says it is an InfluxDB OSS 1.6
(``/ping``'s ``X-Influxdb-Version``; other versions are not proven and keep the server's
means), whose shards (``SHOW SHARDS``) begin and end on whole hours inside the hours asked, and
sensors with one series (``SHOW SERIES``). The tests compare the two bit for bit on a real
1.6 server (``tests/history/test_influx_means.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from repoclimate.history.ranges import search_ranges

MERGES = 3
"""``FloatMeanReducer``\\ s after the per-series one (see the module's docstring)."""

PROVEN_VERSIONS = ("1.6.",)
"""InfluxDB versions (``X-Influxdb-Version`` prefixes) whose ``mean`` `hour_means` was proven
against; any other keeps the server's means."""

_HOUR_S = 3600.0

_SENSOR_TAG = re.compile(r"(?<!\\),sensor=((?:\\.|[^,\\\n])*)")
"""A series key's sensor tag: its value up to the next comma not escaped."""
_TAG_ESCAPE = re.compile(r"\\([, =])")


def hour_means(
    lo: NDArray[np.int64],
    hi: NDArray[np.int64],
    times: NDArray[np.float64],
    values: NDArray[np.float64],
    first_hour: int,
    columns: int,
) -> NDArray[np.float64]:
    """InfluxDB 1.6's ``mean`` per hour of each row's readings, as one series in one shard.

    Parameters
    ----------
    lo, hi
        Row ``r``'s readings are ``times[lo[r]:hi[r]]``, in time order (one per instant).
    times
        Epoch seconds (whole microseconds, as `alerts.incremental` holds them).
    values
        The field's value per reading; NaN where the reading has none (InfluxDB stores no NaN,
        so NaN is "no value", as in its answers).
    first_hour, columns
        The hours ``first_hour … first_hour + columns - 1`` (whole hours since the epoch);
        readings outside them are not counted.

    Returns
    -------
    numpy.ndarray
        ``(rows, columns)``: each hour's mean, NaN where the row has no value in the hour —
        ``sum = 0.0; sum += v`` in time order, ``m = sum / n``, then `MERGES` times
        ``m = (0.0 + m * n) / n`` when ``n ≥ 2``.
    """
    rows = lo.size
    out = np.full((rows, max(columns, 0)), np.nan)
    lengths = hi - lo
    total = int(lengths.sum()) if rows else 0
    if total == 0 or columns <= 0:
        return out
    row = np.repeat(np.arange(rows, dtype=np.int64), lengths)
    starts = np.repeat(lo - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    taken = np.arange(total, dtype=np.int64) + starts
    v = values[taken]
    hour = np.floor(times[taken] / _HOUR_S).astype(np.int64) - first_hour
    keep = ~np.isnan(v) & (hour >= 0) & (hour < columns)
    v, key = v[keep], row[keep] * columns + hour[keep]
    if v.size == 0:
        return out
    # the readings are in (row, time) order, so each (row, hour) is one run of them
    new = np.empty(key.size, dtype=np.bool_)
    new[0] = True
    np.not_equal(key[1:], key[:-1], out=new[1:])
    begin = np.flatnonzero(new)
    count = np.diff(np.append(begin, key.size))
    # summed column by column: the runs longest first, so the j-th values are a prefix
    order = np.argsort(-count, kind="stable")
    begin, count, cells = begin[order], count[order], key[new][order]
    total_sum = np.zeros(begin.size)
    active = begin.size
    for j in range(int(count[0])):
        while count[active - 1] <= j:
            active -= 1
        total_sum[:active] += v[begin[:active] + j]
    n = count.astype(np.float64)
    mean = total_sum / n
    several = count >= 2
    for _ in range(MERGES):
        mean[several] = (0.0 + mean[several] * n[several]) / n[several]
    out.reshape(-1)[cells] = mean
    return out


def sensors_per_series(keys: Iterable[str]) -> dict[str, int]:
    """How many series each sensor has, from ``SHOW SERIES`` keys
    (``climate,room=…,sensor=…,site=…``, tag values escaped as line protocol escapes them:
    a comma, space or equals sign inside one follows a backslash)."""
    counts: dict[str, int] = {}
    for value in _SENSOR_TAG.findall("\n".join(keys)):
        sensor = _TAG_ESCAPE.sub(r"\1", value) if "\\" in value else value
        counts[sensor] = counts.get(sensor, 0) + 1
    return counts


def whole_hour_shards(bounds: Iterable[tuple[float, float]], start: float, end: float) -> bool:
    """Whether no shard boundary (``(start, end)`` epoch seconds per shard) falls inside an
    hour of ``[start, end)`` other than on the hour: every hour there is in one shard."""
    first = np.floor(start / _HOUR_S) * _HOUR_S
    last = np.ceil(end / _HOUR_S) * _HOUR_S
    return all(not (first < b < last) or b % _HOUR_S == 0.0 for pair in bounds for b in pair)


@runtime_checkable
class MeansFromReadings(Protocol):
    """A store saying which sensors' hourly means `hour_means` gives as it would
    (`history.influx.InfluxStore.readings_mean_sensors`)."""

    def readings_mean_sensors(
        self, sensors: Sequence[str], start: datetime, end: datetime
    ) -> NDArray[np.bool_] | None: ...


class HeldReadings(Protocol):
    """Readings held end to end (`alerts.incremental`'s buffer of `raw_many`): sensor
    ``index[s]``'s at ``offsets[i]:offsets[i + 1]``, in time order, from ``held_from[i]`` up
    to ``end`` (epoch seconds)."""

    @property
    def index(self) -> Mapping[str, int]: ...
    @property
    def offsets(self) -> NDArray[np.int64]: ...
    @property
    def times(self) -> NDArray[np.float64]: ...
    @property
    def temperature(self) -> NDArray[np.float64]: ...
    @property
    def humidity(self) -> NDArray[np.float64]: ...
    @property
    def held_from(self) -> NDArray[np.float64]: ...
    @property
    def end(self) -> float: ...


def fill_from_held(
    store: object,
    held: HeldReadings | None,
    sensors: Sequence[str],
    first_hour: int,
    end: float,
    temperature: NDArray[np.float64],
    humidity: NDArray[np.float64],
) -> NDArray[np.int64]:
    """The store's hourly means (`hourly_blocks`, from hour ``first_hour`` to ``end``, not
    included) of the sensors whose means `hour_means` of the ``held`` readings gives bit for
    bit (`MeansFromReadings`), written into row ``r`` of ``temperature`` and ``humidity``
    (``(sensors, hours)`` from ``first_hour``) for ``sensors[r]``; the rows left for the
    store to answer are returned (all of them unless the store is `MeansFromReadings`, the
    readings are held up to ``end`` and from ``first_hour`` on).

    The held readings must be the store's from ``first_hour`` on: those read this cycle, and
    before them readings read earlier, which the incremental source takes to be unchanged
    (it does not read readings older than its settle window again)."""
    rows = np.arange(len(sensors), dtype=np.int64)
    if held is None or held.end != end or not isinstance(store, MeansFromReadings):
        return rows
    since = first_hour * _HOUR_S
    where = np.array([held.index.get(s, -1) for s in sensors], dtype=np.int64)
    ok = where >= 0
    ok[ok] = held.held_from[where[ok]] <= since
    if not ok.any():
        return rows
    exact = store.readings_mean_sensors(
        sensors, datetime.fromtimestamp(since, UTC), datetime.fromtimestamp(end, UTC)
    )
    if exact is None:
        return rows
    ok &= exact
    mine = np.flatnonzero(ok)
    lo = held.offsets[where[mine]]
    hi = held.offsets[where[mine] + 1]
    # the readings with since <= time < end, as the store compares (end at its microsecond)
    until = datetime.fromtimestamp(end, UTC).timestamp()
    lo = search_ranges(held.times, lo, hi, since)
    hi = search_ranges(held.times, lo, hi, until)
    columns = temperature.shape[1]
    temperature[mine] = hour_means(lo, hi, held.times, held.temperature, first_hour, columns)
    humidity[mine] = hour_means(lo, hi, held.times, held.humidity, first_hour, columns)
    return rows[~ok]
