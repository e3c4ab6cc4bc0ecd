"""Preloaded sensor histories as one flat buffer per quantity, for the fleet evaluator's bulk
fetch (`alerts.fleet_mould.fetch_arrays`, `HourlyCache`).

Every sensor's readings lie end to end (sensor ``k``: flat indices ``offsets[k]`` to
``offsets[k + 1]``, oldest first), so that the windows of all sensors are found by one
vectorised binary search (`FlatHistory.bounds`: the same indices as ``numpy.searchsorted`` of
each sensor's times) and gathered in one pass, not by a Python call per sensor. Sensors that
share one array of times (a synthetic network) share it here too: the times of sensor ``k``
are ``times[time_base[k]:]`` for its length, so a flat index ``i`` of row ``k`` has its time
at ``i - shift[k]``. The windows handed out (`FlatHistory.window`) are views of the buffers.

Joining the raw windows of all sensors (`alerts.fleet._Raw`) stays a concatenation of these
views: for windows of hundreds of readings a gather by flat indices was slower (the index
array is as large as the join, 250 MB per quantity at 100 000 sensors).
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from repoclimate.alerts.series import FloatArray, IntArray, SensorSeries

_VALUES = ("temperature", "humidity", "battery")


class FlatHistory:
    """Sensors' readings end to end (see the module's docstring).

    ``held`` are the series the buffer was built from, in its order: `current` tells whether a
    mapping of series still holds exactly those (a source whose series were replaced needs a
    new buffer)."""

    def __init__(
        self,
        sensors: Sequence[str],
        offsets: IntArray,
        times: FloatArray,
        values: tuple[FloatArray, FloatArray, FloatArray],
        starts: FloatArray,
        time_base: IntArray | None = None,
    ) -> None:
        """``values``: temperature, humidity and battery, flat (``offsets[-1]`` each);
        ``time_base``: where each sensor's times begin in ``times`` (None: ``times`` is flat
        too, laid out as the values)."""
        lengths = np.diff(offsets)
        if offsets.size != len(sensors) + 1 or (lengths < 0).any():
            raise ValueError(
                f"flat history: {len(sensors)} sensors need {len(sensors) + 1} ascending "
                f"offsets, got {offsets.size}"
            )
        total = int(offsets[-1])
        for name, column in zip(_VALUES, values, strict=True):
            if column.size != total:
                raise ValueError(f"flat history: {column.size} {name} values, {total} readings")
        if time_base is None:
            time_base = offsets[:-1]
        if time_base.size != len(sensors) or (
            lengths.size and int((time_base + lengths).max()) > times.size
        ):
            raise ValueError(
                f"flat history: the sensors' times run past the {times.size} times given"
            )
        self.sensors = tuple(sensors)
        self.offsets = offsets
        self.times = times
        self.temperature, self.humidity, self.battery = values
        self.shift: IntArray = offsets[:-1] - time_base
        """Per row, flat index minus time index."""
        self.shared = bool(self.shift.any())
        self.index = {sensor: k for k, sensor in enumerate(self.sensors)}
        self.held: tuple[SensorSeries, ...] = tuple(
            self.window(k, sensor, a, b, start)
            for k, (sensor, a, b, start) in enumerate(
                zip(
                    self.sensors,
                    offsets[:-1].tolist(),
                    offsets[1:].tolist(),
                    starts.tolist(),
                    strict=True,
                )
            )
        )

    @classmethod
    def of(cls, series: Mapping[str, SensorSeries]) -> FlatHistory:
        """The buffer of ``series`` (values copied, in the mapping's order; a times array
        shared by several series copied once), with ``held`` the very objects given (so
        that `current` holds for the mapping until one is replaced)."""
        items = list(series.items())
        lengths = np.array([len(s.times) for _, s in items], dtype=np.int64)
        offsets = np.zeros(lengths.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        bases: dict[int, int] = {}
        unique: list[FloatArray] = []
        time_base = np.empty(lengths.size, dtype=np.int64)
        used = 0
        for k, (_, s) in enumerate(items):
            base = bases.get(id(s.times))
            if base is None:
                base = bases[id(s.times)] = used
                unique.append(np.asarray(s.times, dtype=np.float64))
                used += len(s.times)
            time_base[k] = base

        def joined(arrays: Sequence[FloatArray]) -> FloatArray:
            return np.concatenate(arrays) if arrays else np.empty(0)

        flat = cls(
            [key for key, _ in items],
            offsets,
            joined(unique),
            (
                joined([np.asarray(s.temperature, dtype=np.float64) for _, s in items]),
                joined([np.asarray(s.humidity, dtype=np.float64) for _, s in items]),
                joined([np.asarray(s.battery, dtype=np.float64) for _, s in items]),
            ),
            np.array([s.start for _, s in items], dtype=np.float64),
            time_base,
        )
        flat.held = tuple(s for _, s in items)
        return flat

    def views(self) -> dict[str, SensorSeries]:
        """Each sensor's series: the objects of ``held`` (views of the buffers, unless built
        by `of`: then the series it copied)."""
        return dict(zip(self.sensors, self.held, strict=True))

    def current(self, series: Mapping[str, SensorSeries]) -> bool:
        """Whether ``series`` holds exactly the objects this buffer was built from."""
        return len(series) == len(self.held) and all(
            map(operator.is_, map(series.get, self.sensors), self.held)
        )

    def rows(self, sensors: Sequence[str]) -> IntArray:
        """Each sensor's row (−1: not held)."""
        get = self.index.get
        return np.fromiter((get(s, -1) for s in sensors), dtype=np.int64, count=len(sensors))

    def bounds(
        self, rows: IntArray, values: FloatArray | float, side: Literal["left", "right"]
    ) -> IntArray:
        """Per row, the flat index where ``values`` (per row, or one for all) would go among
        the row's times: ``offsets[row] + numpy.searchsorted(times of the row, value, side)``
        (0 for row −1, a sensor not held), by one binary search over all rows at once. The
        values are window bounds, never NaN."""
        if not self.sensors:
            return np.zeros(rows.size, dtype=np.int64)
        present = rows >= 0
        row = np.where(present, rows, 0)
        lo = np.where(present, self.offsets[row], 0)
        hi = np.where(present, self.offsets[row + 1], 0)
        shift = self.shift[row] if self.shared else 0
        wanted = np.broadcast_to(np.asarray(values, dtype=np.float64), lo.shape)
        times = self.times
        last = times.size - 1
        compare = np.less if side == "left" else np.less_equal
        active = lo < hi
        while active.any():
            mid = (lo + hi) >> 1
            probe = np.clip(mid - shift, 0, last)  # only the active ones' probes count
            after = compare(times[probe], wanted) & active
            lo = np.where(after, mid + 1, lo)
            hi = np.where(active & ~after, mid, hi)
            active = lo < hi
        found: IntArray = lo
        return found

    def gather(self, rows: IntArray, lo: IntArray, hi: IntArray) -> tuple[IntArray, IntArray]:
        """The flat indices of the readings ``lo[k]`` to ``hi[k]`` (``hi >= lo``) of each
        window (of row ``rows[k]``), end to end, and the indices of their times."""
        lengths = hi - lo
        starts = np.zeros(lengths.size, dtype=np.int64)
        if lengths.size:
            np.cumsum(lengths[:-1], out=starts[1:])
        total = int(lengths.sum()) if lengths.size else 0
        index: IntArray = np.arange(total, dtype=np.int64) + np.repeat(lo - starts, lengths)
        if not self.shared:
            return index, index
        at = np.maximum(rows, 0)
        time_index: IntArray = index - np.repeat(self.shift[at], lengths)
        return index, time_index

    def window(self, row: int, sensor: str, lo: int, hi: int, start: float) -> SensorSeries:
        """The readings ``lo`` to ``hi`` (flat indices of ``row``'s part) as a `SensorSeries`
        of views of the buffers; an empty one for row −1."""
        if row < 0:
            return SensorSeries.empty(sensor, start)
        hi = max(lo, hi)
        shift = int(self.shift[row]) if self.shared else 0
        return SensorSeries(
            sensor,
            self.times[lo - shift : hi - shift],
            self.temperature[lo:hi],
            self.humidity[lo:hi],
            self.battery[lo:hi],
            start,
        )
