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

The cache is rebuilt from the store by itself: when a window starts before what it holds (a
longer lookback, a new rule configuration), when time goes backwards, or after `clear` (the
engine's registry or rules changed). The mould models' state, which reaches further back than
any window, is checkpointed in the alert state (`alerts.rules.mould.Checkpoint`), as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from repoclimate.alerts.evaluate import StoreSource
from repoclimate.alerts.model import from_epoch
from repoclimate.alerts.series import FloatArray, HourlySeries, SensorSeries
from repoclimate.history.store import Store

DEFAULT_SETTLE_S = 3600.0
"""Readings this long before the newest window's end are read again each cycle [s]."""

DEFAULT_KEEP_S = 86400.0
"""What is kept before the earliest start asked for, so that windows of different classes
(which reach back differently) are served from one buffer [s]."""


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


class IncrementalStoreSource(StoreSource):
    """`StoreSource` reading each sensor's new readings only (see the module's docstring)."""

    def __init__(
        self, store: Store, settle_s: float = DEFAULT_SETTLE_S, keep_s: float = DEFAULT_KEEP_S
    ) -> None:
        super().__init__(store)
        if settle_s < 0 or keep_s < 0:
            raise ValueError(f"settle_s and keep_s must be ≥ 0, got {settle_s}, {keep_s}")
        self.settle_s = settle_s
        self.keep_s = keep_s
        self._raw: dict[str, _Raw] = {}
        self._means: dict[str, _Means] = {}
        self.readings_read = 0
        """Readings fetched from the store so far (for benchmarks and tests)."""

    def clear(self) -> None:
        """Forget everything held: the next windows are read whole."""
        self._raw.clear()
        self._means.clear()

    def raw(self, sensor: str, start: float, end: float) -> SensorSeries:
        held = self._raw.get(sensor)
        if held is None or start < held.start or end < held.end:
            fetched = super().raw(sensor, start, end)
            self.readings_read += len(fetched)
            self._raw[sensor] = _Raw(fetched, start, end)
            return fetched
        since = max(start, held.end - self.settle_s)
        new = super().raw(sensor, since, end)
        self.readings_read += len(new)
        old = held.series
        keep_from = max(held.start, start - self.keep_s)
        lo = int(np.searchsorted(old.times, keep_from, side="left"))
        hi = int(np.searchsorted(old.times, since, side="left"))
        kept = SensorSeries(
            sensor,
            np.concatenate([old.times[lo:hi], new.times]),
            np.concatenate([old.temperature[lo:hi], new.temperature]),
            np.concatenate([old.humidity[lo:hi], new.humidity]),
            np.concatenate([old.battery[lo:hi], new.battery]),
            keep_from,
        )
        self._raw[sensor] = _Raw(kept, keep_from, end)
        return kept.between(start, end)

    def hourly(self, sensor: str, start: float, end: float, max_gap_h: int) -> HourlySeries:
        first = float(np.floor(start / 3600.0) * 3600.0)
        held = self._means.get(sensor)
        if held is None or first < held.start or end < held.end:
            hours, t, h = self._points(sensor, first, end)
            keep_from = first
        else:
            since = float(np.floor((held.end - self.settle_s) / 3600.0) * 3600.0)
            since = max(since, first)
            new_hours, new_t, new_h = self._points(sensor, since, end)
            keep_from = max(held.start, float(np.floor((first - self.keep_s) / 3600.0) * 3600.0))
            lo = int(np.searchsorted(held.hours, keep_from, side="left"))
            hi = int(np.searchsorted(held.hours, since, side="left"))
            hours = np.concatenate([held.hours[lo:hi], new_hours])
            t = np.concatenate([held.temperature[lo:hi], new_t])
            h = np.concatenate([held.humidity[lo:hi], new_h])
        self._means[sensor] = _Means(hours, t, h, keep_from, end)
        lo = int(np.searchsorted(hours, first, side="left"))
        return HourlySeries.from_means(hours[lo:], t[lo:], h[lo:], start, end, max_gap_h)

    def _points(self, sensor: str, first: float, end: float) -> tuple[FloatArray, ...]:
        """The store's hourly means from the hour ``first`` to ``end``, as arrays (NaN where a
        quantity has none), as `alerts.evaluate.hourly_from_points` reads them."""
        points = self.store.aggregate(sensor, from_epoch(first), from_epoch(end), _HOUR)
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


_HOUR = from_epoch(3600.0) - from_epoch(0.0)
