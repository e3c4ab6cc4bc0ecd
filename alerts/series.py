"""Numeric helpers the rules share: a sensor's history as arrays, hysteresis, episode starts,
rolling spans over irregular time stamps, hourly means.

Everything here is vectorised NumPy on epoch seconds, so one call serves the live engine (a window
ending now) and the backtest (a year of history) alike.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from repoclimate.sensors.reading import Reading

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class SensorSeries:
    """One sensor's readings as arrays, oldest first; missing quantities are NaN.

    ``start`` is where the window begins (epoch s): a condition already present at the first
    reading is taken to have begun at or before it.
    """

    sensor: str
    times: FloatArray
    temperature: FloatArray
    humidity: FloatArray
    battery: FloatArray
    start: float

    @classmethod
    def empty(cls, sensor: str, start: float) -> SensorSeries:
        nothing = np.empty(0, dtype=np.float64)
        return cls(sensor, nothing, nothing, nothing, nothing, start)

    @classmethod
    def from_readings(cls, sensor: str, readings: Sequence[Reading], start: float) -> SensorSeries:
        n = len(readings)
        times = np.empty(n, dtype=np.float64)
        temperature = np.full(n, np.nan)
        humidity = np.full(n, np.nan)
        battery = np.full(n, np.nan)
        for i, reading in enumerate(readings):
            times[i] = reading.time.timestamp()
            if reading.temperature is not None:
                temperature[i] = reading.temperature
            if reading.humidity is not None:
                humidity[i] = reading.humidity
            if reading.battery is not None:
                battery[i] = reading.battery
        order = np.argsort(times, kind="stable")
        if n and not np.all(order == np.arange(n)):
            times, temperature, humidity, battery = (
                times[order],
                temperature[order],
                humidity[order],
                battery[order],
            )
        return cls(sensor, times, temperature, humidity, battery, start)

    def between(self, start: float, end: float) -> SensorSeries:
        """The readings with ``start <= time <= end`` (a view, not a copy)."""
        lo = int(np.searchsorted(self.times, start, side="left"))
        hi = int(np.searchsorted(self.times, end, side="right"))
        return SensorSeries(
            self.sensor,
            self.times[lo:hi],
            self.temperature[lo:hi],
            self.humidity[lo:hi],
            self.battery[lo:hi],
            start,
        )

    def quantity(self, name: str) -> FloatArray:
        values: FloatArray = getattr(self, name)
        return values

    def __len__(self) -> int:
        return int(self.times.size)


def hysteresis_above(
    values: FloatArray, enter: float, clear: float, initially_active: bool = False
) -> BoolArray:
    """Where a condition "value above ``enter``" holds, clearing only below ``clear``.

    Between the two levels the previous state carries on, so noise around ``enter`` neither
    starts nor ends an episode on every sample. NaN carries the previous state too.
    """
    if clear > enter:
        raise ValueError(f"clear level {clear} must not be above enter level {enter}")
    n = values.size
    events = np.zeros(n, dtype=np.int8)
    with np.errstate(invalid="ignore"):
        events[values > enter] = 1
        events[values < clear] = -1
    return _carry(events, initially_active)


def hysteresis_below(
    values: FloatArray, enter: float, clear: float, initially_active: bool = False
) -> BoolArray:
    """Where "value below ``enter``" holds, clearing only above ``clear``."""
    return hysteresis_above(-values, -enter, -clear, initially_active)


def hysteresis_mask(
    enter_mask: BoolArray, clear_mask: BoolArray, initially_active: bool = False
) -> BoolArray:
    """Hysteresis from two precomputed masks: enter where ``enter_mask``, leave where
    ``clear_mask`` (enter wins when both hold)."""
    events = np.zeros(enter_mask.size, dtype=np.int8)
    events[clear_mask] = -1
    events[enter_mask] = 1
    return _carry(events, initially_active)


def _carry(events: NDArray[np.int8], initially_active: bool) -> BoolArray:
    n = events.size
    index = np.arange(n)
    last = np.maximum.accumulate(np.where(events != 0, index, -1)) if n else index
    active = np.where(last >= 0, events[np.maximum(last, 0)] > 0, initially_active)
    return np.asarray(active, dtype=np.bool_)


def episode_starts(active: BoolArray, initially_active: bool = False) -> IntArray:
    """For each sample, the index where its run of ``active`` began; −1 when the run began before
    the first sample (the condition was already active then) or the sample is inactive."""
    n = active.size
    if n == 0:
        return np.empty(0, dtype=np.int64)
    previous = np.empty(n, dtype=np.bool_)
    previous[0] = initially_active
    previous[1:] = active[:-1]
    starts = active & ~previous
    index = np.arange(n, dtype=np.int64)
    began = np.maximum.accumulate(np.where(starts, index, -1))
    result: IntArray = np.where(active, began, -1)
    return result


def hourly_means(times: FloatArray, values: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Mean of the valid values in each clock hour (UTC, epoch-aligned) that has any.

    Returns the hour starts [epoch s] and the means; hours without data are left out.
    """
    valid = ~np.isnan(values)
    if not np.any(valid):
        return np.empty(0), np.empty(0)
    hours = np.floor(times[valid] / 3600.0) * 3600.0
    unique, inverse = np.unique(hours, return_inverse=True)
    sums = np.bincount(inverse, weights=values[valid])
    counts = np.bincount(inverse)
    means: FloatArray = sums / counts
    return unique, means


def fill_hourly(
    hours: FloatArray, values: FloatArray, start: float, end: float, max_gap_h: int
) -> tuple[FloatArray, FloatArray]:
    """A regular hourly grid from ``start`` to ``end`` (hour-aligned, inclusive), with each hour's
    value carried forward over gaps of up to ``max_gap_h`` hours; longer gaps stay NaN."""
    first = np.floor(start / 3600.0) * 3600.0
    last = np.floor(end / 3600.0) * 3600.0
    grid = np.arange(first, last + 1.0, 3600.0)
    out = np.full(grid.size, np.nan)
    if hours.size == 0 or grid.size == 0:
        return grid, out
    idx = np.searchsorted(hours, grid, side="right") - 1
    ok = idx >= 0
    age = np.where(ok, grid - hours[np.maximum(idx, 0)], np.inf)
    ok &= age <= max_gap_h * 3600.0
    out[ok] = values[idx[ok]]
    return grid, out


def resample_ffill(
    src_times: FloatArray, src_values: FloatArray, dst_times: FloatArray, max_age_s: float
) -> FloatArray:
    """``src`` values at ``dst`` times: the latest valid source value not older than
    ``max_age_s``, NaN otherwise."""
    valid = ~np.isnan(src_values)
    times = src_times[valid]
    values = src_values[valid]
    out = np.full(dst_times.size, np.nan)
    if times.size == 0:
        return out
    idx = np.searchsorted(times, dst_times, side="right") - 1
    ok = idx >= 0
    age = np.where(ok, dst_times - times[np.maximum(idx, 0)], np.inf)
    ok &= age <= max_age_s
    out[ok] = values[idx[ok]]
    return out


@dataclass(frozen=True, slots=True)
class HourlySeries:
    """Hourly means of temperature [°C] and RH [%] on a regular grid of hour starts (epoch s),
    NaN where an hour has no data (after carrying values over short gaps)."""

    hours: FloatArray
    temperature: FloatArray
    humidity: FloatArray

    @classmethod
    def from_series(
        cls, series: SensorSeries, start: float, end: float, max_gap_h: int
    ) -> HourlySeries:
        """Hourly means of the readings, on the grid of hours from ``start`` to ``end``."""
        hours_t, mean_t = hourly_means(series.times, series.temperature)
        hours_h, mean_h = hourly_means(series.times, series.humidity)
        grid, t = fill_hourly(hours_t, mean_t, start, end, max_gap_h)
        _, h = fill_hourly(hours_h, mean_h, start, end, max_gap_h)
        return cls(grid, t, h)

    @classmethod
    def from_means(
        cls,
        hours: FloatArray,
        temperature: FloatArray,
        humidity: FloatArray,
        start: float,
        end: float,
        max_gap_h: int,
    ) -> HourlySeries:
        """From already-aggregated hourly means (e.g. the store's ``aggregate``)."""
        ok_t = ~np.isnan(temperature)
        ok_h = ~np.isnan(humidity)
        grid, t = fill_hourly(hours[ok_t], temperature[ok_t], start, end, max_gap_h)
        _, h = fill_hourly(hours[ok_h], humidity[ok_h], start, end, max_gap_h)
        return cls(grid, t, h)

    @classmethod
    def mean_of(cls, members: Sequence[HourlySeries]) -> HourlySeries:
        """The hour-by-hour mean of several series on the same grid (a room's air)."""
        if not members:
            raise ValueError("mean_of needs at least one series")
        with warnings.catch_warnings():
            # all-NaN hours stay NaN, as meant: no "mean of empty slice" warning
            warnings.simplefilter("ignore", category=RuntimeWarning)
            t = np.nanmean(np.vstack([m.temperature for m in members]), axis=0)
            h = np.nanmean(np.vstack([m.humidity for m in members]), axis=0)
        return cls(members[0].hours, t, h)

    def complete_before(self, at: FloatArray) -> IntArray:
        """Per evaluation time, the index of the last hour that had ended by then (−1: none)."""
        result: IntArray = (
            np.searchsorted(self.hours + 3600.0, at, side="right").astype(np.int64) - 1
        )
        return result
