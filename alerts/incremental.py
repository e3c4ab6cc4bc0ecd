"""Reading only what arrived: a history source that keeps each sensor's windows between
evaluation cycles and asks the store only for the readings (and hourly means) newer than what
it holds, less a settle window for readings that arrive late.

`IncrementalStoreSource` is a `alerts.evaluate.StoreSource` that serves the same windows:
``raw`` and ``hourly`` return what `StoreSource` would, as long as the store's contents older
than ``settle_s`` before the last window's end do not change (a reading that arrives later than
that is not seen until the cache is rebuilt; readings inside the settle window are). Each cycle
then reads about ``settle_s`` of readings per sensor instead of the whole window: the rules are
still evaluated over the whole window (`alerts.fleet.FleetEvaluator`, one array pass), so their
hysteresis, episode starts and running means are those of the reference engine.

From a store that reads many sensors at once (`history.store.ReadsBlocks`: the SQLite store
and InfluxDB) a cycle asks for every held sensor's new readings in one query, and for their
new hourly means in another, the first time it is asked for one of them: the sensors held
since the same cycle are read together, from that cycle's end less the settle window, into
columns (`history.store.SensorBlocks`); each sensor's part is then appended to what is held
with a few array operations, with no Python per reading. Other stores (and ``bulk=False``, the
benchmark's baseline) are read sensor by sensor, one query each.

The fleet evaluator asks for all sensors at once (`alerts.fleet_mould.fetch_store`):
`raw_many` keeps every sensor's readings end to end in one buffer and merges the new ones in
with one gather per column (the ranges found by one bisection for all sensors), and
`hour_means` keeps the store's hourly means as ``(sensors, hours)`` matrices, reading again
only the hours from the settle window on; `alerts.fleet_mould.HourlyCache` turns them into its
blocks, so the classes' kept state (running sums, the fluctuation's and the excursion's carried
hysteresis, decay, derived rows) works for the store as for preloaded arrays. The means are the
store's own (its SQL aggregate, as `StoreSource.hourly` reads them) — on InfluxDB 1.6 the
hours read again are computed from the readings held instead, for the sensors whose means that
gives bit for bit (`history.influxmeans`: InfluxDB's own summation replayed), saving a query.

From a store that logs its writes in arrival order (`history.store.ReadsArrivals`: the SQLite
store) `raw_many` and `hour_means` first ask which sensors were written since their last read
(the mark taken before that read), then read each held sensor only after what it holds, or
from its earliest reading written since (not before the settle window, as without the log),
and the hourly means only from the hour the last read's end fell in (its mean takes the
readings up to the new end) or the earliest hour written: about one reading and one hour per
sensor each cycle instead of the settle window. When the log cannot tell (no mark yet, or it
no longer reaches back), they read the settle window as above.

The cache is rebuilt from the store by itself: when a window starts before what it holds (a
longer lookback, a new rule configuration), when time goes backwards, or after `clear` (the
engine's registry or rules changed). The mould models' state, which reaches further back than
any window, is checkpointed in the alert state (`alerts.rules.mould.Checkpoint`), as before.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np

from repoclimate.alerts.evaluate import StoreSource
from repoclimate.alerts.model import from_epoch
from repoclimate.alerts.series import FloatArray, HourlySeries, IntArray, SensorSeries
from repoclimate.history.influxmeans import fill_from_held
from repoclimate.history.ranges import search_ranges
from repoclimate.history.store import Arrivals, ReadsArrivals, ReadsBlocks, SensorBlocks, Store
from repoclimate.history.timestamps import to_ns

DEFAULT_SETTLE_S = 3600.0
"""Readings this long before the newest window's end are read again each cycle [s]."""

DEFAULT_KEEP_S = 86400.0
"""What is kept before the earliest start asked for, so that windows of different classes
(which reach back differently) are served from one buffer [s]."""

_HOUR = timedelta(hours=1)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class _Raw:
    series: SensorSeries
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class _Means:
    hours: FloatArray
    temperature: FloatArray
    humidity: FloatArray
    start: float
    """The first hour held [epoch s, hour-aligned]."""
    end: float
    lookback: float | None = None
    """How far before its end the last window asked began [s], and its ``max_gap_h``: the next
    cycle's window is prepared from them (and served only if it is the one asked)."""
    gap: int = 0


@dataclass(frozen=True, slots=True)
class _Ready:
    """A window prepared with the others of its batch: served if ``first`` and ``gap`` are
    those asked."""

    first: float
    gap: int
    means: _Means
    series: HourlySeries


@dataclass(slots=True)
class _Batch:
    """What one query read for the sensors held up to the same end: rows from ``since`` to
    ``end``; ``waiting`` maps each sensor not yet served to its block."""

    end: float
    since: float
    blocks: SensorBlocks
    times: FloatArray
    """`blocks`' times in epoch seconds (`Reading.time.timestamp()`'s values)."""
    waiting: dict[str, int]
    ready: dict[str, _Ready] = field(default_factory=dict)
    """Means batches: each sensor's next window, merged and filled for all in one pass."""

    def take(self, sensor: str) -> tuple[int, int] | None:
        """The sensor's rows (``lo:hi``), once: None when it has none here or had them."""
        i = self.waiting.pop(sensor, None)
        if i is None:
            return None
        return int(self.blocks.offsets[i]), int(self.blocks.offsets[i + 1])


def _seconds(times_ns: np.ndarray) -> FloatArray:
    """Epoch seconds of UTC nanoseconds as `Reading.time.timestamp()` gives them: whole
    microseconds (as `history.timestamps.from_ns` keeps), divided once, correctly rounded."""
    seconds: FloatArray = (times_ns // 1000).astype(np.float64) / 1e6
    return seconds


def _cut(seconds: float) -> float:
    """``seconds`` at the microsecond `from_epoch` rounds it to, as the stores compare it."""
    return from_epoch(seconds).timestamp()


@dataclass(frozen=True, slots=True)
class _Flat:
    """What `IncrementalStoreSource.raw_many` holds: every sensor's readings end to end
    (sensor ``sensors[i]``'s at ``offsets[i]:offsets[i + 1]``, from ``held_from[i]`` to
    ``end``)."""

    sensors: tuple[str, ...]
    index: dict[str, int]
    offsets: IntArray
    times: FloatArray
    temperature: FloatArray
    humidity: FloatArray
    battery: FloatArray
    held_from: FloatArray
    end: float
    mark: int | None = None
    """The store's arrivals mark taken before these were read (`ReadsArrivals`; None: the
    store keeps no log)."""
    longest: FloatArray | None = None
    """Per sensor, the longest window asked so far (end less start) [s]: what is kept."""


@dataclass(frozen=True, slots=True)
class _HeldMeans:
    """What `IncrementalStoreSource.hour_means` holds per key: the store's means of the hours
    from ``first`` (whole hours since the epoch) ``(sensors, hours)``, read up to ``end``."""

    first: int
    temperature: FloatArray
    humidity: FloatArray
    end: float
    mark: int | None = None
    """As `_Flat.mark`."""


_MEANS_KEPT = 8
"""Hourly mean matrices `IncrementalStoreSource.hour_means` keeps (one per key)."""


class IncrementalStoreSource(StoreSource):
    """`StoreSource` reading each sensor's new readings only (see the module's docstring)."""

    def __init__(
        self,
        store: Store,
        settle_s: float = DEFAULT_SETTLE_S,
        keep_s: float = DEFAULT_KEEP_S,
        *,
        bulk: bool = True,
    ) -> None:
        """``bulk``: read the held sensors together when the store can (`ReadsBlocks`);
        False reads them one by one (the way it read before, kept as a baseline)."""
        super().__init__(store)
        if settle_s < 0 or keep_s < 0:
            raise ValueError(f"settle_s and keep_s must be ≥ 0, got {settle_s}, {keep_s}")
        self.settle_s = settle_s
        self.keep_s = keep_s
        self.bulk = bulk and isinstance(store, ReadsBlocks)
        self._raw: dict[str, _Raw] = {}
        self._means: dict[str, _Means] = {}
        self._raw_batches: dict[float, _Batch] = {}
        self._mean_batches: dict[float, _Batch] = {}
        self.readings_read = 0
        """Readings fetched from the store so far (for benchmarks and tests)."""
        self.queries = 0
        """Queries sent to the store so far (for benchmarks and tests)."""
        self.arrival_queries = 0
        """Of those, the questions what arrived (`ReadsArrivals.arrivals`)."""
        self.prepared = 0
        """Hourly windows served as prepared in bulk (`_prepare`) so far."""
        self._flat: _Flat | None = None
        self._held_means: dict[object, _HeldMeans] = {}
        self.logged = isinstance(store, ReadsArrivals)
        """The store says what arrived since a mark (`ReadsArrivals`): a cycle reads only the
        sensors written since the last and each from its earliest reading written."""
        self._rows_of: dict[object, tuple[tuple[str, ...], dict[str, int]]] = {}
        """Per `hour_means` key: its sensors and each one's row."""
        self._answer: tuple[int | None, float, Arrivals] | None = None
        """The last `ReadsArrivals.arrivals` answer ``(after, end, answer)``, taken by
        `raw_many` before its read, and reused by `hour_means` for the same ``after`` and
        ``end`` (the same fetch)."""

    def clear(self) -> None:
        """Forget everything held: the next windows are read whole."""
        self._raw.clear()
        self._means.clear()
        self._raw_batches.clear()
        self._mean_batches.clear()
        self._flat = None
        self._held_means.clear()
        self._rows_of.clear()
        self._answer = None

    def _arrivals(self, after: int | None, end: float, fresh: bool) -> Arrivals:
        """What arrived since the mark ``after`` (`ReadsArrivals.arrivals`); ``fresh`` False:
        the answer `raw_many` took for this ``end`` if it was for the same mark."""
        held = self._answer
        if not fresh and held is not None and held[0] == after and held[1] == end:
            return held[2]
        assert isinstance(self.store, ReadsArrivals)
        answer = self.store.arrivals(after)
        self.queries += 1
        self.arrival_queries += 1
        self._answer = (after, end, answer)
        return answer

    def raw(self, sensor: str, start: float, end: float) -> SensorSeries:
        held = self._raw.get(sensor)
        if held is None or start < held.start or end < held.end:
            fetched = self._read_raw(sensor, start, end)
            self._raw[sensor] = _Raw(fetched, start, end)
            return fetched
        since = max(start, held.end - self.settle_s)
        new_times, new_t, new_h, new_b = self._arrived(sensor, held.end, since, end)
        old = held.series
        keep_from = max(held.start, start - self.keep_s)
        lo = int(old.times.searchsorted(keep_from, side="left"))
        hi = int(old.times.searchsorted(since, side="left"))
        kept = SensorSeries(
            sensor,
            np.concatenate([old.times[lo:hi], new_times]),
            np.concatenate([old.temperature[lo:hi], new_t]),
            np.concatenate([old.humidity[lo:hi], new_h]),
            np.concatenate([old.battery[lo:hi], new_b]),
            keep_from,
        )
        self._raw[sensor] = _Raw(kept, keep_from, end)
        return kept.between(start, end)

    def raw_many(
        self, sensors: Sequence[str], starts: FloatArray, end: float
    ) -> list[SensorSeries]:
        """`raw` of many sensors at once, ``raw(sensors[i], starts[i], end)`` each (the fleet
        evaluator's fetch, `alerts.fleet_mould.fetch_store`): from a `ReadsBlocks` store, the
        held sensors' new readings in one query and merged into what is held in a few array
        operations over all of them (no Python per sensor but the views returned); sensors not
        held, or asked from before what is held, read whole (one query per start). Kept apart
        from what `raw` holds: an evaluator asks one way or the other. Each sensor keeps what
        the longest window asked of it so far needs (``keep_s`` is `raw`'s). The series are
        views of one buffer, made anew by each call (read, do not write)."""
        n = len(sensors)
        ids = tuple(sensors)
        if not self.bulk or len(set(ids)) != n:
            return [self.raw(s, float(a), end) for s, a in zip(ids, starts.tolist(), strict=True)]
        assert isinstance(self.store, ReadsBlocks)
        flat = self._flat
        rows = np.full(n, -1, dtype=np.int64)
        if flat is not None and end >= flat.end:
            if flat.sensors == ids:
                rows = np.arange(n, dtype=np.int64)
            else:
                rows = np.array([flat.index.get(s, -1) for s in ids], dtype=np.int64)
        held = rows >= 0
        if flat is not None:
            held[held] = starts[held] >= flat.held_from[rows[held]]
        keep_from = starts.copy()
        longest = end - starts
        cut = np.full(n, -np.inf)
        batches: list[tuple[IntArray, SensorBlocks]] = []
        inc = np.flatnonzero(held)
        # asked before anything is read: what is written later is found next time
        arrived = (
            self._arrivals(None if flat is None else flat.mark, end, fresh=True)
            if self.logged
            else None
        )
        if flat is not None and inc.size:
            since = flat.end - self.settle_s
            # kept: what the longest window asked so far would need at the next end (classes
            # due in other cycles reach back further; `keep_s` more kept the buffer ≈ 24 h
            # longer than any window, copied whole at every cycle)
            if flat.longest is not None:
                longest[inc] = np.maximum(longest[inc], flat.longest[rows[inc]])
            keep_from[inc] = np.maximum(flat.held_from[rows[inc]], end - longest[inc])
            inc_ids = [ids[i] for i in inc.tolist()]
            if arrived is not None and arrived.complete and flat.mark is not None:
                assert isinstance(self.store, ReadsArrivals)
                read_ns = _read_starts(flat, rows, inc, arrived, since)
                blocks = self.store.history_blocks_from(
                    inc_ids, read_ns, from_epoch(end) + _MICROSECOND
                )
                # readings before the cut are those held, from it on the batch's
                cut[inc] = np.maximum(_cuts(starts[inc]), _seconds(read_ns))
            else:
                blocks = self.store.history_blocks(
                    inc_ids, from_epoch(since), from_epoch(end) + _MICROSECOND
                )
                # readings before the cut are those held, from it on the batch's (the store
                # compares at the microsecond `from_epoch` rounds to)
                cut[inc] = _cuts(np.maximum(starts[inc], since))
            batches.append((inc, blocks))
        whole = np.flatnonzero(~held)
        for start in np.unique(starts[whole]).tolist():
            group = whole[starts[whole] == start]
            blocks = self.store.history_blocks(
                [ids[i] for i in group.tolist()], from_epoch(start), from_epoch(end) + _MICROSECOND
            )
            batches.append((group, blocks))
        self.queries += len(batches)
        self.readings_read += sum(len(b) for _, b in batches)
        # per sensor: the held readings kept, [keep_from, cut), then the ones read, from the
        # cut on (the store compares at the microsecond `from_epoch` rounds to)
        old_lo = np.zeros(n, dtype=np.int64)
        old_hi = np.zeros(n, dtype=np.int64)
        if flat is not None and inc.size:
            old_lo[inc] = flat.offsets[rows[inc]]
            old_hi[inc] = flat.offsets[rows[inc] + 1]
            old_lo = search_ranges(flat.times, old_lo, old_hi, _cuts(keep_from))
            old_hi = search_ranges(flat.times, old_lo, old_hi, cut)
        new_lo = np.zeros(n, dtype=np.int64)
        new_hi = np.zeros(n, dtype=np.int64)
        base = 0
        for group, blocks in batches:
            new_lo[group] = base + blocks.offsets[:-1]
            new_hi[group] = base + blocks.offsets[1:]
            base += len(blocks)
        new_times = (
            np.concatenate([_seconds(b.times_ns) for _, b in batches]) if batches else np.empty(0)
        )
        new_lo = search_ranges(new_times, new_lo, new_hi, cut)
        new_hi = search_ranges(new_times, new_lo, new_hi, np.full(n, _cut(end)), "right")
        n_old = old_hi - old_lo
        held_rows = 0 if flat is None else int(flat.times.size)
        # one gather per column from the held column and the read one, end to end
        source_index = _ranges(
            np.column_stack((old_lo, new_lo + held_rows)).reshape(2 * n),
            np.column_stack((n_old, new_hi - new_lo)).reshape(2 * n),
        )
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(n_old + new_hi - new_lo, out=offsets[1:])
        columns = []
        for k, name in enumerate(("times", "temperature", "humidity", "battery")):
            read = (
                new_times
                if k == 0
                else np.concatenate([b.values[k - 1] for _, b in batches])
                if batches
                else np.empty(0)
            )
            held_column = getattr(flat, name) if flat is not None else np.empty(0)
            columns.append(np.concatenate((held_column, read))[source_index])
        times, temperature, humidity, battery = columns
        self._flat = _Flat(
            ids,
            flat.index if flat is not None and flat.sensors == ids else _positions(list(ids)),
            offsets,
            times,
            temperature,
            humidity,
            battery,
            keep_from,
            end,
            None if arrived is None else arrived.mark,
            longest,
        )
        # each window: the readings from its start on (as the store compares it), all up to
        # ``end``
        lo = search_ranges(times, offsets[:-1], offsets[1:], _cuts(starts)).tolist()
        hi = offsets[1:].tolist()
        return [
            SensorSeries(s, times[a:b], temperature[a:b], humidity[a:b], battery[a:b], start)
            for s, a, b, start in zip(ids, lo, hi, starts.tolist(), strict=True)
        ]

    def hour_means(
        self,
        key: object,
        sensors: tuple[str, ...],
        first: int,
        last: int,
        end: float,
        after: float | None = None,
    ) -> tuple[FloatArray, FloatArray, int]:
        """The store's hourly means of ``sensors`` (`Store.aggregate`'s over 1 h, as
        `StoreSource.hourly` reads them: from the hour ``first`` to ``end``, ``end`` not
        included) on the hours ``first`` … ``last`` (whole hours since the epoch), as
        ``(sensors, hours)`` matrices of temperature and humidity, NaN where an hour has none;
        and the first column read from the store now (0: all). The columns before it are
        those the last call with ``key`` read: only the hours from the settle window before
        that call's end are read again (one query for all sensors, `ReadsBlocks`) — or from
        the settle window before ``after``, the end of the caller's own last read, when that
        is earlier (None: the caller holds nothing, all are read), so that the columns before
        the one returned are also those the caller read then. The matrices are the last
        call's, written in place, when the hours are the same: valid until the next call
        with ``key`` (read, do not write)."""
        columns = max(last - first + 1, 0)
        held = self._held_means.pop(key, None)
        # asked before anything is read (the answer `raw_many` took in this fetch)
        arrived = (
            self._arrivals(None if held is None else held.mark, end, fresh=False)
            if self.bulk and self.logged
            else None
        )
        read_from = 0
        if (
            held is not None
            and after is not None
            and held.temperature.shape[0] == len(sensors)
            and first >= held.first
            and end >= held.end
        ):
            since = min(held.end, after) - self.settle_s
            read_from = max(math.floor(since / 3600.0) - first, 0)
            read_from = min(read_from, columns)
        # per sensor, the first column read again: only the hours written since the held
        # means' mark and the one their end fell in (None: from ``read_from`` for all)
        dirty = None
        if (
            arrived is not None
            and arrived.complete
            and held is not None
            and held.mark is not None
            and read_from > 0
        ):
            rows_of = self._rows_of.get(key)
            if rows_of is None or rows_of[0] != sensors:
                rows_of = self._rows_of[key] = (sensors, _positions(list(sensors)))
            dirty = _dirty_from(held.end, rows_of[1], arrived, first, read_from, columns)
        if (
            held is not None
            and read_from > 0
            and first == held.first
            and held.temperature.shape[1] == columns
        ):
            t, h = held.temperature, held.humidity  # the same hours: written in place
            _clear_from(t, h, read_from, dirty)
        else:
            t = np.full((len(sensors), columns), np.nan)
            h = np.full((len(sensors), columns), np.nan)
            if held is not None and read_from > 0:
                shift = first - held.first
                upto = read_from
                if dirty is not None:
                    upto = max(min(columns, held.temperature.shape[1] - shift), 0)
                t[:, :upto] = held.temperature[:, shift : shift + upto]
                h[:, :upto] = held.humidity[:, shift : shift + upto]
                _clear_from(t, h, read_from, dirty)
        since = float((first + read_from) * 3600)
        if dirty is not None:
            assert isinstance(self.store, ReadsArrivals)
            need = np.flatnonzero(dirty < columns)
            if need.size:
                asked = sensors if need.size == len(sensors) else [sensors[r] for r in need]
                starts_ns = (first + dirty[need]) * _HOUR_NS
                blocks = self.store.hourly_blocks_from(asked, starts_ns, from_epoch(end))
                self.queries += 1
                row = np.repeat(need, np.diff(blocks.offsets))
                column = blocks.times_ns // _HOUR_NS - first
                inside = (column >= dirty[row]) & (column < columns)
                t[row[inside], column[inside]] = blocks.values[0, inside]
                h[row[inside], column[inside]] = blocks.values[1, inside]
        elif self.bulk:
            assert isinstance(self.store, ReadsBlocks)
            rows = np.arange(len(sensors), dtype=np.int64)
            if read_from > 0:  # InfluxDB 1.6: the hours read again computed from the readings
                # held, for the sensors whose means they are bit for bit (`history.influxmeans`)
                fresh = (first + read_from, end, t[:, read_from:], h[:, read_from:])
                rows = fill_from_held(self.store, self._flat, sensors, *fresh)
            if rows.size:
                asked = sensors if rows.size == len(sensors) else [sensors[r] for r in rows]
                blocks = self.store.hourly_blocks(asked, from_epoch(since), from_epoch(end))
                self.queries += 1
                row = np.repeat(rows, np.diff(blocks.offsets))
                column = blocks.times_ns // _HOUR_NS - first
                inside = (column >= read_from) & (column < columns)
                t[row[inside], column[inside]] = blocks.values[0, inside]
                h[row[inside], column[inside]] = blocks.values[1, inside]
        else:
            for r, sensor in enumerate(sensors):
                hours, mean_t, mean_h = self._points(sensor, since, end)
                column = np.round(hours / 3600.0).astype(np.int64) - first
                inside = (column >= read_from) & (column < columns)
                t[r, column[inside]] = mean_t[inside]
                h[r, column[inside]] = mean_h[inside]
        mark = None if arrived is None else arrived.mark
        self._held_means[key] = _HeldMeans(first, t, h, end, mark)
        while len(self._held_means) > _MEANS_KEPT:
            oldest = next(iter(self._held_means))
            del self._held_means[oldest]
            self._rows_of.pop(oldest, None)
        return t, h, read_from

    def _read_raw(self, sensor: str, start: float, end: float) -> SensorSeries:
        fetched = super().raw(sensor, start, end)
        self.readings_read += len(fetched)
        self.queries += 1
        return fetched

    def _arrived(
        self, sensor: str, held_end: float, since: float, end: float
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """The sensor's readings with ``since <= time <= end``: from the batch of the sensors
        held up to ``held_end`` (read now if there is none for ``end``), else by one query."""
        if not self.bulk:
            new = self._read_raw(sensor, since, end)
            return new.times, new.temperature, new.humidity, new.battery
        batch = self._raw_batches.get(held_end)
        if batch is None or batch.end != end or sensor not in batch.waiting:
            batch = self._read_raw_batch(held_end, end)
        rows = batch.take(sensor)
        if rows is None:  # not held when the batch was read (cannot happen: it was)
            new = self._read_raw(sensor, since, end)
            return new.times, new.temperature, new.humidity, new.battery
        lo, hi = rows
        times = batch.times[lo:hi]
        if since > batch.since:
            lo += int(times.searchsorted(_cut(since), side="left"))
            times = batch.times[lo:hi]
        values = batch.blocks.values
        return times, values[0, lo:hi], values[1, lo:hi], values[2, lo:hi]

    def _read_raw_batch(self, held_end: float, end: float) -> _Batch:
        """One query for the new readings of every sensor held up to ``held_end``."""
        assert isinstance(self.store, ReadsBlocks)
        sensors = [sid for sid, held in self._raw.items() if held.end == held_end]
        since = held_end - self.settle_s
        blocks = self.store.history_blocks(
            sensors, from_epoch(since), from_epoch(end) + _MICROSECOND
        )
        self.readings_read += len(blocks)
        self.queries += 1
        batch = _Batch(end, since, blocks, _seconds(blocks.times_ns), _positions(sensors))
        # batches of earlier ends will not be asked again
        self._raw_batches = {k: b for k, b in self._raw_batches.items() if b.end == end}
        self._raw_batches[held_end] = batch
        return batch

    def hourly(self, sensor: str, start: float, end: float, max_gap_h: int) -> HourlySeries:
        first = float(np.floor(start / 3600.0) * 3600.0)
        held = self._means.get(sensor)
        if held is None or first < held.start or end < held.end:
            hours, t, h = self._points(sensor, first, end)
            keep_from = first
        else:
            ready = self._ready(sensor, held.end, first, end, max_gap_h)
            if ready is not None:
                means = ready.means
                self._means[sensor] = _Means(
                    means.hours,
                    means.temperature,
                    means.humidity,
                    means.start,
                    end,
                    end - start,
                    max_gap_h,
                )
                return ready.series
            since = float(np.floor((held.end - self.settle_s) / 3600.0) * 3600.0)
            since = max(since, first)
            new_hours, new_t, new_h = self._new_points(sensor, held.end, since, end)
            keep_from = max(held.start, float(np.floor((first - self.keep_s) / 3600.0) * 3600.0))
            lo = int(held.hours.searchsorted(keep_from, side="left"))
            hi = int(held.hours.searchsorted(since, side="left"))
            hours = np.concatenate([held.hours[lo:hi], new_hours])
            t = np.concatenate([held.temperature[lo:hi], new_t])
            h = np.concatenate([held.humidity[lo:hi], new_h])
        self._means[sensor] = _Means(hours, t, h, keep_from, end, end - start, max_gap_h)
        lo = int(hours.searchsorted(first, side="left"))
        return HourlySeries.from_means(hours[lo:], t[lo:], h[lo:], start, end, max_gap_h)

    def _ready(
        self, sensor: str, held_end: float, first: float, end: float, gap: int
    ) -> _Ready | None:
        """The window prepared by the sensor's means batch, if it is the one asked."""
        if not self.bulk:
            return None
        batch = self._mean_batches.get(held_end)
        if batch is None or batch.end != end or sensor not in batch.waiting:
            batch = self._read_mean_batch(held_end, end)
        ready = batch.ready.pop(sensor, None)
        if ready is None or ready.first != first or ready.gap != gap:
            return None  # `_new_points` takes the sensor's rows from the batch
        batch.waiting.pop(sensor, None)
        self.prepared += 1
        return ready

    def _new_points(
        self, sensor: str, held_end: float, since: float, end: float
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """`_points` from the hour ``since``: from the batch of the sensors whose means are
        held up to ``held_end`` (read now if there is none for ``end``), else by one query."""
        if not self.bulk:
            return self._points(sensor, since, end)
        batch = self._mean_batches.get(held_end)
        if batch is None or batch.end != end or sensor not in batch.waiting:
            batch = self._read_mean_batch(held_end, end)
        rows = batch.take(sensor)
        if rows is None:  # not held when the batch was read (cannot happen: it was)
            return self._points(sensor, since, end)
        lo, hi = rows
        hours = batch.times[lo:hi]
        if since > batch.since:
            lo += int(hours.searchsorted(since, side="left"))
            hours = batch.times[lo:hi]
        values = batch.blocks.values
        return hours, values[0, lo:hi], values[1, lo:hi]

    def _read_mean_batch(self, held_end: float, end: float) -> _Batch:
        """One query for the new hourly means of every sensor held up to ``held_end``."""
        assert isinstance(self.store, ReadsBlocks)
        sensors = [sid for sid, held in self._means.items() if held.end == held_end]
        since = float(np.floor((held_end - self.settle_s) / 3600.0) * 3600.0)
        blocks = self.store.hourly_blocks(sensors, from_epoch(since), from_epoch(end))
        self.queries += 1
        batch = _Batch(end, since, blocks, _seconds(blocks.times_ns), _positions(sensors))
        batch.ready = self._prepare(sensors, batch)
        self._mean_batches = {k: b for k, b in self._mean_batches.items() if b.end == end}
        self._mean_batches[held_end] = batch
        return batch

    def _prepare(self, sensors: list[str], batch: _Batch) -> dict[str, _Ready]:
        """Each sensor's next window as its last one was asked (as long before the new end,
        the same ``max_gap_h``): the held means and the batch's new ones merged as `hourly`
        merges them, and `HourlySeries.from_means` of all of them in one array pass."""
        end = batch.end
        offsets = batch.blocks.offsets
        values = batch.blocks.values
        pieces: tuple[list[FloatArray], list[FloatArray], list[FloatArray]] = ([], [], [])
        asked: list[tuple[str, float, int, float]] = []
        sizes: list[int] = []
        bounds = offsets.tolist()
        means_of = self._means
        for i, sensor in enumerate(sensors):
            held = means_of[sensor]
            if held.lookback is None:
                continue
            # math.floor: the same whole hours as np.floor, without a NumPy scalar per sensor
            first = math.floor((end - held.lookback) / 3600.0) * 3600.0
            if first < held.start:
                continue
            since = max(batch.since, first)
            keep_from = max(held.start, math.floor((first - self.keep_s) / 3600.0) * 3600.0)
            lo, hi = held.hours.searchsorted((keep_from, since), side="left").tolist()
            a, b = bounds[i], bounds[i + 1]
            if since > batch.since:
                a += int(batch.times[a:b].searchsorted(since, side="left"))
            pieces[0].extend((held.hours[lo:hi], batch.times[a:b]))
            pieces[1].extend((held.temperature[lo:hi], values[0, a:b]))
            pieces[2].extend((held.humidity[lo:hi], values[1, a:b]))
            asked.append((sensor, first, held.gap, keep_from))
            sizes.append(hi - lo + b - a)
        if not asked:
            return {}
        hours, t, h = (np.concatenate(p) for p in pieces)
        merged = np.zeros(len(asked) + 1, dtype=np.int64)
        np.cumsum(sizes, out=merged[1:])
        firsts = np.array([a[1] for a in asked])
        gaps = np.array([a[2] for a in asked], dtype=np.float64)
        last = float(np.floor(end / 3600.0) * 3600.0)
        filled = _fill_many(hours, (t, h), merged, firsts, last, gaps)
        if filled is None:
            return {}
        grid, (out_t, out_h), grid_offsets = filled
        ready: dict[str, _Ready] = {}
        for k, (sensor, first, gap, keep_from) in enumerate(asked):
            m0, m1 = int(merged[k]), int(merged[k + 1])
            g0, g1 = int(grid_offsets[k]), int(grid_offsets[k + 1])
            means = _Means(hours[m0:m1], t[m0:m1], h[m0:m1], keep_from, end)
            series = HourlySeries(grid[g0:g1], out_t[g0:g1], out_h[g0:g1])
            ready[sensor] = _Ready(first, gap, means, series)
        return ready

    def _points(
        self, sensor: str, first: float, end: float
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """The store's hourly means from the hour ``first`` to ``end``, as arrays (NaN where a
        quantity has none), as `alerts.evaluate.hourly_from_points` reads them."""
        points = self.store.aggregate(sensor, from_epoch(first), from_epoch(end), _HOUR)
        self.queries += 1
        n = len(points)
        hours = np.empty(n)
        t = np.full(n, np.nan)
        h = np.full(n, np.nan)
        for i, point in enumerate(points):
            hours[i] = point.time.timestamp()
            if point.temperature_mean is not None:
                t[i] = point.temperature_mean
            if point.humidity_mean is not None:
                h[i] = point.humidity_mean
        return hours, t, h


_KEY_HOURS = 2.0**21
"""Hours per sensor in the keys of `_fill_many` (sensor × this + hour): 239 years."""


def _fill_many(
    hours: FloatArray,
    quantities: tuple[FloatArray, ...],
    offsets: np.ndarray,
    firsts: FloatArray,
    last: float,
    gaps: FloatArray,
) -> tuple[FloatArray, list[FloatArray], np.ndarray] | None:
    """`alerts.series.fill_hourly` of many sensors in one pass, for each of ``quantities``
    (their values at ``hours``): sensor ``k``'s means are ``hours[offsets[k]:offsets[k + 1]]``
    (ascending, hour starts) and its grid the hours from ``firsts[k]`` to ``last``, each value
    carried over gaps up to ``gaps[k]`` hours; means before ``firsts[k]`` are not used
    (`HourlySeries.from_means` is given none). Returns the grids, one after the other, each
    quantity's values on them, and where each sensor's begin; None when the hours do not fit
    the keys. The same values, bit for bit: each grid hour takes the value of the latest valid
    mean at or before it, as `fill_hourly`'s ``searchsorted`` finds it."""
    n = firsts.size
    counts = np.maximum(((last - firsts) // 3600.0).astype(np.int64) + 1, 0)
    grid_offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=grid_offsets[1:])
    size = int(grid_offsets[-1])
    if n and bool((counts == counts[0]).all()):  # one length: the same sums, laid out as rows
        steps = 3600.0 * np.arange(int(counts[0]), dtype=np.int64)
        grid = (firsts[:, None] + steps[None, :]).reshape(size)
    else:
        owner = np.repeat(np.arange(n), counts)
        grid = firsts[owner] + 3600.0 * (np.arange(size) - grid_offsets[owner])
    base = float(firsts.min())
    if (last - base) / 3600.0 >= _KEY_HOURS:
        return None
    of_mean = np.repeat(np.arange(n), np.diff(offsets))
    in_window = hours >= firsts[of_mean]
    whole = _whole(hours) and _whole(firsts) and _whole(gaps)
    outs: list[FloatArray] = []
    for values in quantities:
        ok = ~np.isnan(values) & in_window
        valid_hours, valid_values, valid_of = hours[ok], values[ok], of_mean[ok]
        out = np.full(size, np.nan)
        outs.append(out)
        if valid_values.size == 0 or size == 0:
            continue
        spans = _spans(valid_hours, valid_of, firsts, counts, grid_offsets, gaps) if whole else None
        if spans is not None:
            where, taken = spans
            out[where] = valid_values[taken]
            continue
        owner = np.repeat(np.arange(n), counts)
        keys = valid_of * _KEY_HOURS + (valid_hours - base) / 3600.0
        wanted = owner * _KEY_HOURS + (grid - base) / 3600.0
        latest = np.searchsorted(keys, wanted, side="right") - 1
        safe = np.maximum(latest, 0)
        found = (latest >= 0) & (valid_of[safe] == owner)
        found &= grid - valid_hours[safe] <= gaps[owner] * 3600.0
        out[found] = valid_values[safe[found]]
    return grid, outs, grid_offsets


def _whole(values: FloatArray) -> bool:
    """Every value a whole number (then the hours' differences below are exact)."""
    return bool((np.floor(values) == values).all())


def _spans(
    hours: FloatArray,
    of: np.ndarray,
    firsts: FloatArray,
    counts: np.ndarray,
    grid_offsets: np.ndarray,
    gaps: FloatArray,
) -> tuple[np.ndarray, np.ndarray] | None:
    """For `_fill_many` (whole-second hours, firsts and gaps): the grid points that take a
    mean and the mean each takes — from the mean's own hour to the hour before the sensor's
    next mean, at most ``gaps`` hours on, within its grid: what the search finds, point by
    point, without searching the whole grid (mostly hours without readings). None when a
    mean is not on its sensor's grid hours, or the means are not in (sensor, hour) order:
    the caller searches then."""
    steps = (hours - firsts[of]) / 3600.0
    column = steps.astype(np.int64)
    if not np.array_equal(column, steps):
        return None
    taken = np.flatnonzero(column < counts[of])
    column, of = column[taken], of[taken]
    where = grid_offsets[of] + column
    if where.size > 1 and not bool((np.diff(where) > 0).all()):
        return None
    stop = np.minimum(counts[of], column + gaps[of].astype(np.int64) + 1)
    same = of[1:] == of[:-1]
    stop[:-1] = np.where(same, np.minimum(stop[:-1], column[1:]), stop[:-1])
    lengths = np.maximum(stop - column, 0)
    starts = np.zeros(lengths.size, dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    total = int(lengths.sum())
    at = np.repeat(where - starts, lengths) + np.arange(total, dtype=np.int64)
    return at, np.repeat(taken, lengths)


def _positions(sensors: list[str]) -> dict[str, int]:
    return {sensor: i for i, sensor in enumerate(sensors)}


def _read_starts(
    flat: _Flat, rows: IntArray, inc: IntArray, arrived: Arrivals, since: float
) -> IntArray:
    """Where `raw_many` reads each held sensor ``inc`` (positions asked; ``rows``: their
    rows in ``flat``) from [UTC ns, whole microseconds]: after what is held (the readings up to
    ``flat.end``), or from the earliest reading written since ``flat``'s mark (`arrived`), not
    before ``since`` (the settle window: older changes are not seen, as before the log)."""
    after_end = to_ns(from_epoch(flat.end) + _MICROSECOND)
    starts = np.full(inc.size, after_end, dtype=np.int64)
    if not arrived.sensors:
        return starts
    at_row = np.full(len(flat.sensors), -1, dtype=np.int64)
    at_row[rows[inc]] = np.arange(inc.size, dtype=np.int64)
    index = flat.index
    written = np.array([index.get(s, -1) for s in arrived.sensors], dtype=np.int64)
    known = written >= 0
    at = at_row[written[known]]
    mine = at >= 0
    first = arrived.first_ns[known][mine] // 1000 * 1000
    from_settle = max(to_ns(from_epoch(since)), 0)
    starts[at[mine]] = np.minimum(after_end, np.maximum(first, from_settle))
    return starts


_HOUR_NS = 3_600_000_000_000


def _dirty_from(
    held_end: float,
    positions: dict[str, int],
    arrived: Arrivals,
    first: int,
    read_from: int,
    columns: int,
) -> IntArray:
    """For `IncrementalStoreSource.hour_means`: per sensor, the first column (hours from
    ``first``) whose mean can differ from the held one — the hour the held means' end fell in
    (its mean now takes the readings up to the new end), or the earliest hour written since
    their mark (`arrived`), whichever is earlier; never before ``read_from`` (older hours are
    not read again, as before the log), ``columns`` when none."""
    dirty = np.full(len(positions), math.floor(held_end / 3600.0) - first, dtype=np.int64)
    if arrived.sensors:
        at = np.array([positions.get(s, -1) for s in arrived.sensors], dtype=np.int64)
        known = at >= 0
        hours = arrived.first_ns[known] // _HOUR_NS - first
        np.minimum.at(dirty, at[known], hours)
    return np.clip(dirty, read_from, columns)


def _clear_from(t: FloatArray, h: FloatArray, read_from: int, dirty: IntArray | None) -> None:
    """NaN in every row of ``t`` and ``h`` from column ``read_from`` on, or from each row's
    ``dirty`` column on (the columns to be read again)."""
    if dirty is None:
        t[:, read_from:] = np.nan
        h[:, read_from:] = np.nan
        return
    lo = int(dirty.min()) if dirty.size else t.shape[1]
    tail = np.arange(lo, t.shape[1])[None, :] >= dirty[:, None]
    t[:, lo:][tail] = np.nan
    h[:, lo:][tail] = np.nan


def _cuts(seconds: FloatArray) -> FloatArray:
    """`_cut` of each of ``seconds`` (few distinct values: each computed once)."""
    values, inverse = np.unique(seconds, return_inverse=True)
    cut: FloatArray = np.array([_cut(v) for v in values.tolist()])[inverse]
    return cut


def _ranges(starts: IntArray, lengths: IntArray) -> IntArray:
    """The indices ``starts[k]``, ``starts[k] + 1`` … ``starts[k] + lengths[k] - 1`` of every
    ``k``, one range after the other."""
    total = int(lengths.sum())
    first = np.zeros(lengths.size, dtype=np.int64)
    np.cumsum(lengths[:-1], out=first[1:])
    index: IntArray = np.repeat(starts - first, lengths) + np.arange(total, dtype=np.int64)
    return index
