"""The `Store` interface: what the collector writes to and what alerts, pages and reports read.

Errors a store raises, and what the collector does with them:

- `StoreUnavailable`: the store cannot take the write now (down, timeout, 5xx, locked file, or a
  configuration fault such as bad credentials or a missing database); the collector spools the
  readings and retries later.
- `StoreRejected`: the store refused the data itself (4xx: field type conflict, unparseable
  line); retrying cannot help, so the collector dead-letters the readings.
  `InvalidPoint` is the same refusal made before anything is sent (a newline in a sensor id, a
  NaN): nothing of that call was written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from repoclimate.sensors.reading import Reading

if TYPE_CHECKING:
    from repoclimate.history.derived import DerivedRow
    from repoclimate.history.rollups import Period


class StoreUnavailable(RuntimeError):  # noqa: N818 (contract name)
    """The store cannot be reached or refused the write for a transient reason.

    The collector spools on this and retries later; any other exception from ``write`` is a bug or
    a permanent refusal and is reported, not retried forever.
    """


class StoreRejected(RuntimeError):  # noqa: N818 (contract name)
    """The store refused the data itself; sending the same data again will fail again.

    ``status`` is the HTTP status when there was one; ``partial`` is true when the server wrote
    the rest of the batch and dropped only some points (InfluxDB's ``partial write: …``), with
    ``dropped`` the number it dropped when the server said so. The message is the server's own.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        partial: bool = False,
        dropped: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.partial = partial
        self.dropped = dropped


class InvalidPoint(StoreRejected, ValueError):  # noqa: N818 (contract name)
    """A reading or derived row that no store can hold as given (checked before sending).

    Raised for tag values with newlines or other control characters, a trailing backslash, an
    empty sensor id, a non-finite number, or a point with no fields. ``index`` is the position of
    the offending item in the sequence passed to the write call.
    """

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


@dataclass(frozen=True, slots=True)
class AggregatePoint:
    """One interval of an aggregated history: mean, min and max of each quantity [°C, %RH].

    ``time`` is the start of the interval; intervals are aligned to the Unix epoch (so an hourly
    interval starts on the hour, UTC) and only intervals holding readings are returned. ``count``
    is the number of samples of the better-sampled quantity (the larger of the temperature and
    humidity counts) in the interval.
    """

    time: datetime
    temperature_mean: float | None
    temperature_min: float | None
    temperature_max: float | None
    humidity_mean: float | None
    humidity_min: float | None
    humidity_max: float | None
    count: int
    temperature_count: int | None = None
    """Temperature samples in the interval (None where a store did not say)."""
    humidity_count: int | None = None
    derived: Mapping[str, SeriesStats] = field(default_factory=dict)
    """Rollups only: the derived series (`repoclimate.history.rollups.DERIVED_FIELDS`) that
    have values in the interval, by field name."""


@dataclass(frozen=True, slots=True)
class SeriesStats:
    """Mean, minimum, maximum and number of values of one derived series over an interval."""

    mean: float
    min: float
    max: float
    count: int


class Store(Protocol):
    """A time-series store of readings, tagged by site, room and sensor.

    Writes are idempotent: a reading with the same sensor and time as a stored one replaces it
    (fields merge), so redelivered messages never make duplicates. One difference between the
    stores: in InfluxDB site and room are tags, part of the series, so a reading replayed
    *after its sensor was moved* in the registry lands in the new placement's series beside the
    old point; the SQLite store keys on sensor and time and keeps one point, newly placed.
    """

    def write(self, readings: Sequence[Reading]) -> None:
        """Store readings durably, or raise.

        `StoreUnavailable`: the store cannot take them now (spool and retry); `StoreRejected`:
        the store refused them (dead-letter); nothing is known stored unless this returns.
        """

    def latest(self) -> list[Reading]:
        """The most recent reading of every sensor."""

    def history(self, sensor: str, start: datetime, end: datetime) -> list[Reading]:
        """A sensor's readings with ``start <= time < end``, oldest first."""

    def aggregate(
        self, sensor: str, start: datetime, end: datetime, every: timedelta
    ) -> list[AggregatePoint]:
        """A sensor's history between two times aggregated per interval of ``every``."""

    def count(self) -> int:
        """How many readings (points) the store holds."""

    def close(self) -> None:
        """Release connections and files."""


@runtime_checkable
class KnowsHeld(Protocol):
    """A store that can say which readings it already holds without reading them back."""

    def holds(self, readings: Sequence[Reading]) -> list[bool]:
        """For each reading, whether a point of its sensor at its time is stored with the same
        value of each quantity the reading carries and the same site and room."""


@dataclass(frozen=True, slots=True)
class HistoryArrays:
    """A sensor's readings as NumPy columns, oldest first: what `Store.history` returns,
    without a `Reading` per row. ``times_ns``: UTC nanoseconds since the epoch; the quantities
    NaN where a reading does not carry them."""

    times_ns: NDArray[np.int64]
    temperature: NDArray[np.float64]
    humidity: NDArray[np.float64]
    battery: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.times_ns.size)


@runtime_checkable
class ReadsArrays(Protocol):
    """A store that reads many sensors' raw history as arrays (the SQLite store)."""

    def history_arrays(
        self, sensors: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, HistoryArrays]:
        """For each of ``sensors``, its readings with ``start <= time < end`` (`history`'s),
        as `HistoryArrays`, read from one consistent snapshot."""


@dataclass(frozen=True, slots=True)
class SensorBlocks:
    """Rows of many sensors in one set of columns: sensor ``sensors[i]``'s rows are
    ``offsets[i]:offsets[i + 1]``, oldest first. ``times_ns``: UTC nanoseconds since the epoch
    (the start of the interval for means); ``values``: one column per name of ``fields``, NaN
    where a row has no value."""

    sensors: tuple[str, ...]
    offsets: NDArray[np.int64]
    times_ns: NDArray[np.int64]
    fields: tuple[str, ...]
    values: NDArray[np.float64]
    """Shape ``(len(fields), rows)``: ``values[k]`` is the column of ``fields[k]``."""

    def __len__(self) -> int:
        return int(self.times_ns.size)


READING_COLUMNS = ("temperature", "humidity", "battery")
"""The `SensorBlocks.fields` of `ReadsBlocks.history_blocks`."""

MEAN_COLUMNS = ("temperature_mean", "humidity_mean")
"""The `SensorBlocks.fields` of `ReadsBlocks.hourly_blocks`."""


@runtime_checkable
class ReadsBlocks(Protocol):
    """A store that reads many sensors' recent readings and hourly means in one query each
    (the incremental alert source, `repoclimate.alerts.incremental`)."""

    def history_blocks(
        self, sensors: Sequence[str], start: datetime, end: datetime
    ) -> SensorBlocks:
        """For each of ``sensors``, the readings `Store.history` returns (``start <= time <
        end``), as `READING_COLUMNS`, from one snapshot."""

    def hourly_blocks(self, sensors: Sequence[str], start: datetime, end: datetime) -> SensorBlocks:
        """For each of ``sensors``, the hours ``aggregate(sensor, start, end, 1 h)`` returns
        (only hours holding readings) with their means, as `MEAN_COLUMNS`, from one snapshot."""


@dataclass(frozen=True, slots=True)
class Arrivals:
    """What `ReadsArrivals.arrivals` found written since an earlier mark: ``sensors[i]``
    received readings from ``first_ns[i]`` (UTC nanoseconds) on — the earliest reading time
    of every write since then, new or changed. ``mark``: the newest write now, to ask from next
    time. ``complete`` False: the store cannot tell (no earlier mark given, the log no longer
    reaches back to it, or it is not this log's), and ``sensors`` is empty."""

    mark: int
    complete: bool
    sensors: tuple[str, ...] = ()
    first_ns: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, dtype=np.int64))


@runtime_checkable
class ReadsArrivals(ReadsBlocks, Protocol):
    """A `ReadsBlocks` store that also says which sensors received readings since a mark
    (arrival order, not reading time) and reads each sensor from its own start: a cycle then
    reads only what changed (`repoclimate.alerts.incremental`)."""

    def arrivals(self, after: int | None) -> Arrivals:
        """The sensors written since the mark ``after`` (an earlier answer's ``mark``; None:
        no earlier mark, an incomplete answer carrying only the mark). Ask before reading the
        data it covers: a write after the mark is found next time."""

    def history_blocks_from(
        self, sensors: Sequence[str], starts_ns: NDArray[np.int64], end: datetime
    ) -> SensorBlocks:
        """`history_blocks` with a start per sensor: ``sensors[i]``'s readings with
        ``starts_ns[i] <= time < end``."""

    def hourly_blocks_from(
        self, sensors: Sequence[str], starts_ns: NDArray[np.int64], end: datetime
    ) -> SensorBlocks:
        """`hourly_blocks` with a start per sensor (``starts_ns[i]``, an hour's start): the
        means of ``sensors[i]``'s hours from ``starts_ns[i]`` to ``end``."""


@runtime_checkable
class KnowsEarliest(Protocol):
    """A store that can say cheaply when a sensor's first raw reading is."""

    def earliest(self, sensor: str) -> datetime | None:
        """The time of the sensor's oldest stored reading, None when it has none."""


class HistoryStore(Store, KnowsHeld, Protocol):
    """What both concrete stores offer beyond `Store`: derived series, rollups, retention, a
    health check."""

    def rollups(
        self,
        period: Period,
        start: datetime,
        end: datetime,
        *,
        sensor: str | None = None,
        site: str | None = None,
        room: str | None = None,
    ) -> list[AggregatePoint]:
        """The hourly (``1h``) or daily (``1d``, UTC days) rollups of a sensor or of a room
        (``site`` and ``room``) with ``start <= time < end``, oldest first; see `rollups`.

        Points carry the per-quantity counts and, in ``derived``, the derived series with
        values in the bucket. A bucket may hold derived values only (``count`` 0) when its raw
        readings are gone. Site-local days: `repoclimate.history.localdays`."""

    def rebuild_rollups(self, start: datetime, end: datetime) -> int:
        """Recompute the rollups of the raw readings in whole UTC days around the range
        (idempotent); the number of hourly buckets recomputed."""

    def prune_raw(self, before: datetime) -> int:
        """Delete raw readings older than ``before`` (rollups stay); how many were deleted."""

    def write_derived(self, rows: Sequence[DerivedRow]) -> None:
        """Store derived series (measurement ``preservation``, ``climate_1h`` …) idempotently."""

    def healthy(self) -> bool:
        """Whether the store answers right now (never raises)."""
