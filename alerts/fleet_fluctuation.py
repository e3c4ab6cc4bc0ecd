"""The fluctuation rule class of `alerts.fleet.FleetEvaluator`: every air sensor in one array
pass, with the findings of `alerts.rules.fluctuation` (a reading further from the trailing mean
of the complete hours before it than the profile's short-term allowance).

Two things are kept between runs, each only while it gives the same findings as computing
whole (`tests/alerts/test_fleet_fluctuation_carry.py` compares with the reference evaluator
cycle for cycle):

- `RunningSums`, per quantity: each sensor's running sums and counts of its valid hourly means
  from the window's first hour (`alerts.rules.fluctuation.trailing_mean`'s cumulative sums).
  The hourly means are read from `HourlyCache`'s blocks (views, no copy when one block holds
  every sensor); a block written in place with the columns ``[head, recomputed_from)`` carried
  over is taken as unchanged there, and only the window's first and last hours are held here
  to compare bits with — no window of values. The sums are added up again from the first
  column that changed; another hour grid (the window's first hour moved: once an hour), other
  sensors or a block computed anew: computed whole. A live run holds the sums only from the
  first hour its trailing windows read (`_first_columns`; the same bits as from the first hour).
- `FluctuationCarry`, for single-time runs over preloaded arrays (the live cycle): per sensor
  and rule, what the hysteresis needs from the readings before a checkpoint (``settle_s`` of
  `HourlyCache` or the data's age limit, whichever is longer, before the run's time): the last
  decisive reading of the warning and of the critical level, the last clearing one, the one
  after it and the first entering one after that. The next run evaluates, per sensor, only the
  readings from the checkpoint on, from that state and the open alerts, when (1) the readings
  before the checkpoint are those seen then (their times compared), (2) no hourly mean in their
  trailing windows changed — a change before the windows (the window's first, partial hour,
  every cycle with dense readings) changes the running sums only in their last bits, which is
  allowed when every such reading's deviation lies further from each level than a bound on
  that rounding — and (3) the state is decided by the readings still in the window. Other
  sensors are evaluated whole in the same pass. A reading changed in place (same time, other
  value) before the checkpoint is not seen (readings are not rewritten). Rows hold their
  readings in time order, so a run finds each row's readings before a time by bisection
  (`history.ranges.search_ranges`) and reads the readings before the checkpoint once, to
  compare their times: what it evaluates is the readings from the checkpoint on.

Where the readings outnumber the hours (a backtest's year), the trailing means are computed
once per row and end of complete hours (`_trailing_means`) and each reading takes its own —
the same operands and operations as per reading. A backtest takes the findings as a
`alerts.replay.FindingRun` per row and rule (`_RowFindings`: the texts built when asked).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from numpy.typing import NDArray

from repoclimate.alerts.evaluate import Active, ArraySource, ClassResult
from repoclimate.alerts.fleet import (
    _array,
    _attribute,
    _common_grid,
    _Entry,
    _held,
    _Hits,
    _Member,
    _RunEntry,
)
from repoclimate.alerts.fleet_excursion import _ranges
from repoclimate.alerts.fleet_series import (
    Segments,
    episode_starts,
    fresh_steps,
)
from repoclimate.alerts.fleet_series import carry as carry_events
from repoclimate.alerts.incremental import IncrementalStoreSource
from repoclimate.alerts.model import EpochTimes, Finding, Severity, Subject, slot_writers
from repoclimate.alerts.replay import FindingRun
from repoclimate.alerts.rules import fluctuation
from repoclimate.alerts.series import BoolArray, FloatArray, HourlySeries, IntArray
from repoclimate.history.ranges import search_ranges

if TYPE_CHECKING:
    from repoclimate.alerts.fleet import FleetEvaluator, _Raw
    from repoclimate.alerts.fleet_mould import HourlyBlock

_SUM_CELLS = 1 << 20
"""Cells of full-width running sums added up at once when only their last columns are held
(`RunningSums`): the memory of a whole matrix is never needed."""

_LEAD = 12
"""The window's first hours of values held to compare bits with (the hourly cache computes
the first ``max_gap_h + 1`` again)."""

_TAIL = 24
"""The window's last hours of values held likewise (the settle window computed again)."""


_EMPTY = HourlySeries(np.empty(0), np.empty(0), np.empty(0))

_Levels = tuple[FloatArray, FloatArray, FloatArray, FloatArray]
"""Per row: warning level, its clear level, critical level, its clear level."""


def fluctuation_limits(members: Sequence[_Member], name: str) -> FloatArray:
    """Each member's fluctuation limit ``name``: its rules' or else its band's."""
    return _array(getattr(m.rules.fluctuation, name) or getattr(m.band, name) for m in members)


# -- the hourly means and their running sums ------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Hourly:
    """The members' hourly means on one hour grid ending at the same hour (row ``r`` holds the
    last ``grid.size - pad[r]`` hours of ``grid``): from the `HourlyCache` blocks of this run
    when every member has a row in one (with what each block carried over), else from the
    members' series."""

    grid: FloatArray
    pad: IntArray
    parts: list[tuple[HourlyBlock, IntArray, IntArray]]
    """Per block: the block, the rows it holds and their rows in the block."""
    series: list[HourlySeries] | None
    """The members' series, when not all are in the cache's blocks."""
    block_of: IntArray
    """Per row, its part (−1: none)."""
    kept_from: IntArray
    """Per row, the first column the block carried over from its previous run…"""
    kept_to: IntArray
    """… and the column after the last (both 0: none)."""

    @classmethod
    def of(cls, ev: FleetEvaluator, members: Sequence[_Member]) -> _Hourly:
        rows = len(members)
        blocks = ev.hourly_cache.blocks
        placed = _placement(tuple(b.sensors for b in blocks), tuple(m.sensor.id for m in members))
        if rows and placed is not None:
            used = np.unique(placed[:, 0])
            sizes = np.array([blocks[b].hours.size for b in used.tolist()], dtype=np.int64)
            longest = blocks[int(used[int(np.argmax(sizes))])].hours
            parts: list[tuple[HourlyBlock, IntArray, IntArray]] = []
            part_of = np.full(len(blocks), -1, dtype=np.int64)
            for b in used.tolist():
                block = blocks[b]
                n = block.hours.size
                if n and (block.hours[-1] != longest[-1] or block.hours[0] != longest[-n]):
                    raise ValueError("hourly series of one evaluation must end at the same hour")
                mine = np.flatnonzero(placed[:, 0] == b)
                part_of[b] = len(parts)
                parts.append((block, mine, placed[mine, 1]))
            pad = longest.size - np.array([blocks[b].hours.size for b in placed[:, 0].tolist()])
            carried = np.array(
                [(p[0].head, p[0].recomputed_from) for p in parts], dtype=np.int64
            ).reshape(len(parts), 2)
            block_of = part_of[placed[:, 0]]
            kept = carried[block_of]
            over = kept[:, 1] > kept[:, 0]
            return cls(
                longest,
                pad.astype(np.int64),
                parts,
                None,
                block_of,
                np.where(over, kept[:, 0] + pad, 0),
                np.where(over, kept[:, 1] + pad, 0),
            )
        return cls.of_series([m.data.hourly.get(m.sensor.id) or _EMPTY for m in members])

    @classmethod
    def of_series(cls, series: list[HourlySeries]) -> _Hourly:
        """The rows of ``series`` (nothing carried over)."""
        nothing = np.zeros(len(series), dtype=np.int64)
        longest, lengths = _common_grid(series)
        return cls(longest, longest.size - lengths, [], series, nothing - 1, nothing, nothing)

    def block(self, quantity: str, lo: int, hi: int) -> FloatArray:
        """Columns ``[lo, hi)`` of the rows' values of ``quantity`` ``(rows, hi - lo)``, NaN
        before each row's first hour (a view of the cache's block when it holds every row in
        order: read, do not write, and not past this run)."""
        width = hi - lo
        rows = self.pad.size
        if self.series is None and len(self.parts) == 1 and not self.pad.any():
            block, _, theirs = self.parts[0]
            if theirs.size == len(block.sensors) and np.array_equal(theirs, np.arange(theirs.size)):
                whole: FloatArray = getattr(block, quantity)
                return whole[:, lo:hi]
        if self.series is not None and not self.pad.any():
            if not self.series:
                return np.empty((0, width))
            return np.stack([getattr(s, quantity)[lo:hi] for s in self.series])
        out = np.full((rows, width), np.nan)
        if self.series is not None:
            for r, (s, pad) in enumerate(zip(self.series, self.pad.tolist(), strict=True)):
                first = max(lo, pad)
                if first < hi:
                    out[r, first - lo :] = getattr(s, quantity)[first - pad : hi - pad]
            return out
        size = self.grid.size
        for block, mine, theirs in self.parts:
            pad = size - block.hours.size
            first = max(lo, pad)
            if first < hi:
                matrix: FloatArray = getattr(block, quantity)
                out[mine, first - lo :] = matrix[theirs, first - pad : hi - pad]
        return out

    def matrices(self, quantity: str) -> list[FloatArray]:
        """The cache's matrices of ``quantity`` the rows come from, by part."""
        return [getattr(block, quantity) for block, _, _ in self.parts]


_PLACED: dict[tuple[tuple[tuple[str, ...], ...], tuple[str, ...]], IntArray | None] = {}
"""The last `_placement` (the blocks' sensors change only with the registry)."""


def _placement(blocks: tuple[tuple[str, ...], ...], sensors: tuple[str, ...]) -> IntArray | None:
    """Per sensor, its block and row among the blocks' sensors ``(sensors, 2)``; None when a
    sensor has none."""
    key = (blocks, sensors)
    if key in _PLACED:
        return _PLACED[key]
    found: dict[str, tuple[int, int]] = {}
    for b, block in enumerate(blocks):
        found.update((s, (b, k)) for k, s in enumerate(block))
    where = [found.get(s) for s in sensors]
    placed = (
        np.array(where, dtype=np.int64).reshape(len(sensors), 2)
        if all(w is not None for w in where)
        else None
    )
    _PLACED.clear()
    _PLACED[key] = placed
    return placed


def _tail_width(hourly: _Hourly) -> int:
    """How many last columns to hold: `_TAIL`, or more when the cache computes more again
    (from the first column it did not carry over; rows computed whole do not count)."""
    size = hourly.grid.size
    carried = hourly.kept_to[hourly.kept_to > hourly.kept_from]
    width = max(_TAIL, size - int(carried.min()) + 1) if carried.size else _TAIL
    return min(width, size)


class RunningSums:
    """The running sums and counts of one quantity's valid hourly values per row, from the
    window's first hour, kept between runs (see the module's docstring), with the window's
    first and last hours of values to compare bits with and which of the cache's matrices
    each row was summed from (a weak reference: the cache writes its matrices in place while
    the grid stays).

    Each row holds only its columns from ``first[r]`` on (the sum of its first
    ``first[r] + j`` hours at ``j``): a live run's trailing windows of a row reach back no
    further than its first reading's complete hours less its window, and the sums before that
    are never read — the columns held are those of the sums from the first hour, the same
    bits. Rows of one first column are held together, as one matrix ``(rows, grid + 1 −
    first)`` in one buffer (`_Group`); with every ``first`` 0, one matrix of them all."""

    def __init__(
        self,
        sids: tuple[str, ...],
        grid: FloatArray,
        pad: IntArray,
        values: FloatArray,
        hourly: _Hourly | None = None,
        quantity: str = "temperature",
        first: IntArray | int = 0,
    ) -> None:
        rows = values.shape[0]
        size = grid.size
        wanted = np.broadcast_to(np.asarray(first, dtype=np.int64), (rows,))
        self.first: IntArray = np.clip(wanted, 0, size)
        self.sids = sids
        self.grid = grid
        self.pad = pad
        # a quarter of the memory of int64 (a count never exceeds the grid's hours)
        dtype = np.int16 if size < 2**15 else np.int32
        starts = np.unique(self.first)
        members = [np.flatnonzero(self.first == f) for f in starts.tolist()]
        widths = size + 1 - starts
        cells = np.array([m.size for m in members], dtype=np.int64) * widths
        at = np.zeros(starts.size + 1, dtype=np.int64)
        np.cumsum(cells, out=at[1:])
        self.flat_sums = np.zeros(int(at[-1]))
        self.flat_counts: NDArray[np.integer] = np.zeros(int(at[-1]), dtype=dtype)
        self.groups: list[_Group] = []
        self.zero = np.zeros(rows, dtype=np.int64)
        """Per row, the flat index its column 0 would have (column ``c`` at ``zero + c``)."""
        for f, mine, w, lo, hi in zip(
            starts.tolist(),
            members,
            widths.tolist(),
            at[:-1].tolist(),
            at[1:].tolist(),
            strict=True,
        ):
            group = _Group(
                f,
                mine,
                self.flat_sums[lo:hi].reshape(mine.size, w),
                self.flat_counts[lo:hi].reshape(mine.size, w),
            )
            self.groups.append(group)
            self.zero[mine] = lo + np.arange(mine.size, dtype=np.int64) * w - f
            group.add_up(values, mine)
        self.changed = np.zeros(values.shape[0], dtype=np.int64)
        """Per row, the first column whose value changed in the last update (the grid's size:
        none); all 0 when computed whole."""
        self.lead_end = np.full(values.shape[0], grid.size, dtype=np.int64)
        """Per row, the end of the first columns changed in the last update (0: none)."""
        self.tail_start = np.zeros(values.shape[0], dtype=np.int64)
        """Per row, the first of the last columns changed in the last update."""
        self.lead = np.empty((values.shape[0], 0))
        self.tail = np.empty((values.shape[0], 0))
        self.sources: list[weakref.ReferenceType[FloatArray]] = []
        self.source_of = np.full(values.shape[0], -1, dtype=np.int64)
        self._hold(values[:, : min(_LEAD, grid.size)], values, hourly, quantity)

    def _hold(
        self, lead: FloatArray, values: FloatArray, hourly: _Hourly | None, quantity: str
    ) -> None:
        """Hold copies of the first and last columns (``values``: the columns from some
        column to the grid's end) and the matrices the rows come from."""
        rows = values.shape[0]
        if hourly is None or hourly.series is not None:  # nothing kept by a cache: no use
            self.lead = self.tail = np.empty((rows, 0))
            self.sources = []
            self.source_of = np.full(rows, -1, dtype=np.int64)
            return
        self.lead = lead.copy()
        width = min(_tail_width(hourly), values.shape[1])
        self.tail = values[:, values.shape[1] - width :].copy()
        self.sources = [weakref.ref(m) for m in hourly.matrices(quantity)]
        self.source_of = hourly.block_of.copy()

    @property
    def sums(self) -> FloatArray:
        """The sums ``(rows, columns held)`` when every row holds the same columns."""
        return self._whole().sums

    @property
    def counts(self) -> NDArray[np.integer]:
        """The counts likewise."""
        return self._whole().counts

    def _whole(self) -> _Group:
        if len(self.groups) != 1:
            raise ValueError("rows hold different columns: read them with columns(k)")
        return self.groups[0]

    def columns(self, k: int) -> tuple[FloatArray, NDArray[np.integer]]:
        """Every row's sums and counts from column ``k`` on (held by every row), a copy."""
        if self.first.size and k < int(self.first.max()):
            raise ValueError(f"column {k} is not held by every row (from {int(self.first.max())})")
        index = self.zero[:, None] + np.arange(k, self.grid.size + 1, dtype=np.int64)[None, :]
        return self.flat_sums[index], self.flat_counts[index]

    def fits(
        self, sids: tuple[str, ...], grid: FloatArray, pad: IntArray, first: IntArray | int = 0
    ) -> bool:
        """Whether these are the rows and hour grid the sums were computed over, each row
        holding its columns from ``first`` on."""
        return (
            sids == self.sids
            and bool(np.all(self.first <= first))
            and np.array_equal(grid, self.grid)
            and np.array_equal(pad, self.pad)
        )

    def first_changed(self, hourly: _Hourly, quantity: str) -> tuple[IntArray, IntArray]:
        """Per row, the end of the first columns whose values may differ from the ones summed
        (0: none) and the first of the last such columns (the grid's size: none): outside the
        columns the cache carried over (from the same matrix as summed), compared in bits with
        the first and last columns held."""
        size = self.grid.size
        rows = self.first.size
        lead_end = np.zeros(rows, dtype=np.int64)
        out = np.full(rows, size, dtype=np.int64)
        if rows == 0:
            return lead_end, out
        same = np.zeros(len(hourly.parts), dtype=np.bool_)
        previous = np.full(len(hourly.parts), -2, dtype=np.int64)
        for p, matrix in enumerate(hourly.matrices(quantity)):
            for j, ref in enumerate(self.sources):
                if ref() is matrix:
                    same[p], previous[p] = True, j
        reused = np.zeros(rows, dtype=np.bool_)
        if hourly.series is None:
            reused = same[hourly.block_of] & (previous[hourly.block_of] == self.source_of)
        reused &= hourly.kept_to > hourly.kept_from
        n_lead, n_tail = self.lead.shape[1], self.tail.shape[1]
        lead = hourly.block(quantity, 0, n_lead)
        tail = hourly.block(quantity, size - n_tail, size)
        if n_lead:
            differs = self.lead.view(np.int64) != lead.view(np.int64)
            last = n_lead - np.argmax(differs[:, ::-1], axis=1)
            lead_end = np.where(differs.any(axis=1), last, 0)
        if n_tail:
            differs = self.tail.view(np.int64) != tail.view(np.int64)
            out = np.where(differs.any(axis=1), differs.argmax(axis=1) + size - n_tail, size)
        # computed again where nothing is held to compare with: changed, for all we know
        # (a row's first columns ``[pad, kept_from)``; none when its block computed no head)
        recomputed = hourly.kept_from > np.maximum(n_lead, hourly.pad)
        lead_end = np.where(recomputed, hourly.kept_from, lead_end)
        np.minimum(out, np.where(hourly.kept_to < size - n_tail, hourly.kept_to, size), out=out)
        lead_end[~reused] = size
        out[~reused] = 0
        return lead_end, out

    def add_up_again(self, values: FloatArray, hourly: _Hourly, quantity: str) -> None:
        """Add every row up again from the first hour with ``values`` (the whole grid), the
        same columns held."""
        for group in self.groups:
            group.add_up(values, group.rows)
        self._hold(values[:, : min(_LEAD, self.grid.size)], values, hourly, quantity)

    def update(self, k0: int, values: FloatArray, hourly: _Hourly, quantity: str) -> None:
        """Add up again from column ``k0`` with ``values`` (the rows' columns ``[k0, grid)``),
        continuing each row's sequential sum from the kept one at ``k0``: the same additions
        in the same order as a cumulative sum from the first hour."""
        size = self.grid.size
        if self.first.size and k0 < int(self.first.min()):
            raise ValueError(
                f"running sums held from hour {int(self.first.min())}: cannot add up from {k0}"
            )
        if k0 < size:
            for group in self.groups:
                # a row holding later columns only goes on from its first (none changed
                # before it: `running_sums` adds up anew otherwise)
                j0 = max(k0, group.first)
                if j0 < size:
                    group.update(j0, values[group.rows, j0 - k0 :])
        width = _tail_width(hourly)
        if values.shape[1] < width:
            values = hourly.block(quantity, size - width, size)
        self._hold(hourly.block(quantity, 0, min(_LEAD, size)), values, hourly, quantity)


@dataclass(frozen=True, slots=True)
class _Group:
    """The rows of a `RunningSums` holding the same columns, from ``first`` on."""

    first: int
    rows: IntArray
    sums: FloatArray
    counts: NDArray[np.integer]

    def add_up(self, values: FloatArray, rows: IntArray) -> None:
        """The sums of ``values[rows]`` from the first hour, by batches of rows, the columns
        from ``first`` on kept."""
        size = values.shape[1]
        if self.first == 0 and rows.size == values.shape[0]:  # all of them, from the first
            valid = ~np.isnan(values)
            np.cumsum(np.where(valid, values, 0.0), axis=1, out=self.sums[:, 1:])
            np.cumsum(valid, axis=1, out=self.counts[:, 1:])
            return
        step = max(_SUM_CELLS // max(size, 1), 1)
        whole = np.zeros((min(step, rows.size), size + 1))
        counted = np.zeros(whole.shape, dtype=self.counts.dtype)
        for lo in range(0, rows.size, step):
            part = values[rows[lo : lo + step]]
            n = part.shape[0]
            valid = ~np.isnan(part)
            np.cumsum(np.where(valid, part, 0.0), axis=1, out=whole[:n, 1:])
            np.cumsum(valid, axis=1, out=counted[:n, 1:])
            self.sums[lo : lo + n] = whole[:n, self.first :]
            self.counts[lo : lo + n] = counted[:n, self.first :]

    def update(self, k0: int, values: FloatArray) -> None:
        """Add up again from column ``k0`` (at or after ``first``) with ``values`` (the rows'
        columns ``[k0, grid)``), continuing each row's sequential sum from the kept one."""
        j0 = k0 - self.first
        valid = ~np.isnan(values)
        seeded = np.empty((values.shape[0], values.shape[1] + 1))
        seeded[:, 0] = self.sums[:, j0]
        seeded[:, 1:] = np.where(valid, values, 0.0)
        np.cumsum(seeded, axis=1, out=self.sums[:, j0:])
        counted = np.empty((values.shape[0], values.shape[1] + 1), dtype=self.counts.dtype)
        counted[:, 0] = self.counts[:, j0]
        counted[:, 1:] = valid
        np.cumsum(counted, axis=1, out=self.counts[:, j0:])


def running_sums(
    ev: FleetEvaluator,
    quantity: str,
    members: Sequence[_Member],
    hourly: _Hourly,
    sids: tuple[str, ...] | None = None,
    first: IntArray | int = 0,
) -> tuple[RunningSums, bool]:
    """The members' `RunningSums` of ``quantity`` brought up to this run's hourly means, and
    whether they were computed whole (not continued); ``first``: per row, the first column
    this run reads (`_first_columns`)."""
    if sids is None:
        sids = tuple(map(_SID, members))
    held = ev.running_sums.get(quantity)
    size = hourly.grid.size
    if held is None or not held.fits(sids, hourly.grid, hourly.pad, first):
        values = hourly.block(quantity, 0, size)
        held = RunningSums(sids, hourly.grid, hourly.pad, values, hourly, quantity, first)
        ev.running_sums[quantity] = held
        return held, True
    lead_end, tail_start = held.first_changed(hourly, quantity)
    changed = np.where(lead_end > 0, 0, tail_start)
    k0 = int(changed.min()) if changed.size else size
    if bool(np.any(changed < held.first)):  # from a column not held: from the first hour
        held.add_up_again(hourly.block(quantity, 0, size), hourly, quantity)
    else:
        values = hourly.block(quantity, k0, size)
        held.update(k0, values, hourly, quantity)
    held.changed, held.lead_end, held.tail_start = changed, lead_end, tail_start
    return held, False


# -- the hysteresis carried between runs ----------------------------------------------------
@dataclass(frozen=True, slots=True)
class _RuleCarry:
    """Per row, about a rule's valid readings before the checkpoint (times, NaN: none): the
    last one of an event of the warning level and whether it entered, likewise of the critical
    level, the last clearing one of the warning level, the reading after that (NaN: at or
    after the checkpoint), and the first entering one after the last clearing one."""

    t_event: FloatArray
    entered: BoolArray
    t_critical: FloatArray
    entered_critical: BoolArray
    t_clear: FloatArray
    t_after_clear: FloatArray
    t_enter: FloatArray


@dataclass(frozen=True, slots=True)
class FluctuationCarry:
    """The fluctuation's state as of a checkpoint per row, from one single-time run."""

    sids: tuple[str, ...]
    at: float
    checkpoint: FloatArray
    """Per row [epoch s]: the next run evaluates the readings from here on."""
    times: FloatArray
    """The times of the run's readings, rows end to end (a copy)…"""
    offsets: IntArray
    """… row ``r`` at ``times[offsets[r]:offsets[r + 1]]``…"""
    before: IntArray
    """… of which the first ``before[r]`` are before the checkpoint."""
    rules: dict[str, _RuleCarry]


def _segment_last(mask: BoolArray, segs: Segments) -> IntArray:
    """Per segment, the flat index of the last element ``mask`` selects (−1: none)."""
    index = np.where(mask, np.arange(mask.size, dtype=np.int64), -1)
    out = np.full(segs.count, -1, dtype=np.int64)
    nonempty = segs.lengths > 0
    if mask.size:
        out[nonempty] = np.maximum.reduceat(index, segs.starts[nonempty])
    return out


def _segment_first(mask: BoolArray, segs: Segments) -> IntArray:
    """Per segment, the flat index of the first element ``mask`` selects (−1: none)."""
    big = np.iinfo(np.int64).max
    index = np.where(mask, np.arange(mask.size, dtype=np.int64), big)
    out = np.full(segs.count, -1, dtype=np.int64)
    nonempty = segs.lengths > 0
    if mask.size:
        found = np.minimum.reduceat(index, segs.starts[nonempty])
        out[nonempty] = np.where(found == big, -1, found)
    return out


def _at(times: FloatArray, index: IntArray) -> FloatArray:
    """``times[index]``, NaN where ``index`` is −1."""
    if times.size == 0:
        return np.full(index.size, np.nan)
    return np.where(index >= 0, times[np.maximum(index, 0)], np.nan)


def _carried(
    times: FloatArray,
    size: FloatArray,
    judged: _Judged,
    segs: Segments,
    levels: _Levels,
    checkpoint: FloatArray,
    base: _RuleCarry | None,
) -> _RuleCarry:
    """The rule's state as of ``checkpoint`` from its readings ``times``/``size`` before it,
    continuing ``base`` (the state as of the readings before these) when given."""
    warning, warning_clear, critical, critical_clear = (lv[segs.seg] for lv in levels)
    before = times < checkpoint[segs.seg]
    with np.errstate(invalid="ignore"):
        enters = size > warning
        clears = size < warning_clear
        events = (enters | clears) & before
        critical_events = ((size > critical) | (size < critical_clear)) & before
    last = _segment_last(events, segs)
    last_critical = _segment_last(critical_events, segs)
    last_clear = _segment_last(clears & before, segs)
    ends = segs.offsets[1:]
    after = last_clear + 1
    has_after = (last_clear >= 0) & (after < ends)
    t_after = np.where(has_after, _at(times, np.where(has_after, after, -1)), np.nan)
    t_after = np.where(t_after < checkpoint, t_after, np.nan)
    entering = enters & before & (np.arange(times.size, dtype=np.int64) > last_clear[segs.seg])
    t_enter = _at(times, _segment_first(entering, segs))
    t_event = _at(times, last)
    entered = np.zeros(segs.count, dtype=np.bool_)
    entered[last >= 0] = enters[last[last >= 0]]
    t_critical = _at(times, last_critical)
    entered_critical = np.zeros(segs.count, dtype=np.bool_)
    with np.errstate(invalid="ignore"):
        entered_critical[last_critical >= 0] = (size > critical)[last_critical[last_critical >= 0]]
    t_clear = _at(times, last_clear)
    if base is None:
        return _RuleCarry(t_event, entered, t_critical, entered_critical, t_clear, t_after, t_enter)
    first = _at(times, _segment_first(before, segs))  # the first reading after the base's
    no_event = last < 0
    no_critical = last_critical < 0
    no_clear = last_clear < 0
    base_after = np.where(np.isnan(base.t_after_clear), first, base.t_after_clear)
    return _RuleCarry(
        np.where(no_event, base.t_event, t_event),
        np.where(no_event, base.entered, entered),
        np.where(no_critical, base.t_critical, t_critical),
        np.where(no_critical, base.entered_critical, entered_critical),
        np.where(no_clear, base.t_clear, t_clear),
        np.where(no_clear, base_after, t_after),
        np.where(no_clear & ~np.isnan(base.t_enter), base.t_enter, t_enter),
    )


def _spans(lengths: IntArray, parts: Sequence[IntArray], chosen: int) -> BoolArray:
    """A mask over rows end to end (row ``r`` ``lengths[r]`` long) split per row into
    consecutive spans of ``parts[0][r]``, ``parts[1][r]``, … elements (the rest of the row
    after them last): True in the spans numbered ``chosen``."""
    rest = lengths - sum(parts)
    counts = np.stack([*parts, rest], axis=1).reshape(-1)
    pattern = np.zeros(len(parts) + 1, dtype=np.bool_)
    pattern[chosen] = True
    mask: BoolArray = np.repeat(np.tile(pattern, lengths.size), counts)
    return mask


def _same_before(carry: FluctuationCarry, raw: _Raw) -> tuple[BoolArray, FloatArray, IntArray]:
    """Per row, whether its readings before its checkpoint are those the carry saw, less the
    ones that left the window at its start; per row the window's first reading's time; and
    per row the flat index of its first reading at or after the checkpoint.

    Rows hold their readings in time order: the ones before a time are a row's first, found
    by bisection (`history.ranges.search_ranges`); only the times to compare are read, once."""
    segs = raw.segs
    starts, ends = segs.offsets[:-1], segs.offsets[1:]
    first = np.full(segs.count, np.inf)
    nonempty = ends > starts
    first[nonempty] = raw.times[starts[nonempty]]
    upto = search_ranges(raw.times, starts, ends, carry.checkpoint)
    held_starts = carry.offsets[:-1]
    held_upto = held_starts + carry.before
    # the held readings before the window's first: those that left it
    stays = search_ranges(carry.times, held_starts, held_upto, first)
    count = held_upto - stays
    same: BoolArray = upto - starts == count
    compared = np.where(same, count, 0)
    if compared.any():
        mine = raw.times[_spans(segs.lengths, [compared], 0)]
        held = carry.times[_spans(np.diff(carry.offsets), [stays - held_starts, compared], 1)]
        differs = np.flatnonzero(mine != held)
        if differs.size:
            ends_compared = np.cumsum(compared)
            same[np.searchsorted(ends_compared, differs, side="right")] = False
    return same, first, upto


_DAY_COLUMNS = 24
"""The first columns of the running sums held are whole days from the grid's start (a few
groups of rows, `RunningSums`)."""


def _first_columns(raw: _Raw, grid: FloatArray, n_window: IntArray) -> IntArray:
    """Per row, the first column of the running sums a trailing window of its readings in
    ``raw`` reads (`_evaluate`): its first reading's complete hours less its window, down to
    a whole day from the grid's start (a row with no reading: the grid's last)."""
    starts, ends = raw.segs.offsets[:-1], raw.segs.offsets[1:]
    out = np.full(raw.segs.count, grid.size, dtype=np.int64)
    rows = np.flatnonzero(ends > starts)
    if rows.size:
        hour_end = np.searchsorted(grid + 3600.0, raw.times[starts[rows]], side="right")
        out[rows] = np.maximum(hour_end - n_window[rows], 0)
    out -= out % _DAY_COLUMNS
    return out


_FEW_ROWS = 64
"""Up to this many rows whose first reading lacks a quantity are searched one by one
(`_first_valid`); beyond, every reading is looked at in one pass."""


def _first_valid(
    times: FloatArray, values: FloatArray, segs: Segments, judged: BoolArray
) -> FloatArray:
    """Per row, the time of its first reading with a value, NaN: none or the row not judged
    (``times`` of `_segment_first` of the valid readings), from each row's first reading,
    looking further only in the rows where that one lacks the value."""
    starts, ends = segs.offsets[:-1], segs.offsets[1:]
    out = np.full(segs.count, np.nan)
    look = judged & (ends > starts)
    if times.size == 0:
        return out
    ok = look & ~np.isnan(values[np.minimum(starts, times.size - 1)])
    out[ok] = times[starts[ok]]
    rest = np.flatnonzero(look & ~ok)
    if rest.size > _FEW_ROWS:
        valid = ~np.isnan(values) & _per_reading(judged, segs)
        return _at(times, _segment_first(valid, segs))
    for r in rest.tolist():
        lo, hi = int(starts[r]), int(ends[r])
        found = np.flatnonzero(~np.isnan(values[lo:hi]))
        if found.size:
            out[r] = times[lo + int(found[0])]
    return out


def _valid_from(values: FloatArray, segs: Segments, judged: BoolArray, lo: IntArray) -> IntArray:
    """The flat indices of each judged row's readings with a value from ``lo[r]`` (a flat
    index in the row) to the row's end, in order (what `Segments.compact` keeps of them)."""
    ends = segs.offsets[1:]
    index = _ranges(lo, ends)
    if index.size == 0:
        return index
    ok = ~np.isnan(values[index])
    if not judged.all():
        ok &= np.repeat(judged, np.maximum(ends - lo, 0))
    kept: IntArray = index[ok]
    return kept


def _start_state(
    rc: _RuleCarry,
    first: FloatArray,
    first_valid: FloatArray,
    was: BoolArray,
    was_critical: BoolArray,
) -> tuple[BoolArray, BoolArray, FloatArray, BoolArray]:
    """Per row, the hysteresis of the warning and the critical level at the checkpoint, the
    start of the episode under way there, and whether that start is decided (the readings
    still in the window, ``first`` on, tell it)."""
    with np.errstate(invalid="ignore"):
        in_event = rc.t_event >= first
        in_critical = rc.t_critical >= first
        in_clear = rc.t_clear >= first
        in_enter = rc.t_enter >= first
    on = np.where(in_event, rc.entered, was)
    critical = np.where(in_critical, rc.entered_critical, was_critical)
    entered = in_event & rc.entered
    since = np.where(
        entered,
        np.where(
            in_clear,
            rc.t_after_clear,
            np.where(was, first_valid, np.where(in_enter, rc.t_enter, np.nan)),
        ),
        np.where(~in_event & was, first_valid, np.nan),
    )
    decided = ~on | ~np.isnan(since) | np.isnan(first_valid)
    return on, critical, since, decided


_SID = attrgetter("sid")

_ROWS: dict[tuple[str, ...], dict[str, int]] = {}
"""The last `_rows_of` (the members change only with the registry)."""


def _rows_of(sids: tuple[str, ...]) -> dict[str, int]:
    """Subject id → row (kept for the last ``sids``: read, do not write)."""
    found = _ROWS.get(sids)
    if found is None:
        found = {sid: k for k, sid in enumerate(sids)}
        _ROWS.clear()
        _ROWS[sids] = found
    return found


def _open(rows: Mapping[str, int], active: Active, rule: str) -> tuple[BoolArray, BoolArray]:
    """`alerts.fleet._was` from the open alerts (few) rather than the members (many): per row
    (``rows``: subject id → row), whether ``rule`` has an open alert, and whether it is
    critical."""
    was = np.zeros(len(rows), dtype=np.bool_)
    critical = np.zeros(len(rows), dtype=np.bool_)
    for sid, states in active.items():
        k = rows.get(sid)
        severity = states.get(rule) if k is not None else None
        if k is not None and severity is not None:
            was[k] = True
            critical[k] = severity == Severity.CRITICAL
    return was, critical


_CHECKS = (
    ("temperature", "K", "Temperature", "t_deviation_max", "t_margin"),
    ("humidity", "%RH", "RH", "rh_deviation_max", "rh_margin"),
)
"""Per rule of `fluctuation.RULES`: quantity, unit, name, its limit's and margin's names."""


def _parameters(members: Sequence[_Member]) -> FloatArray:
    """Per member: enabled (1/0), window [h], window in whole hours, least coverage, critical
    factor, then per rule its limit and margin ``(members, 9)``."""
    columns = [
        _array(1.0 if m.rules.fluctuation.enabled else 0.0 for m in members),
        _array(fluctuation.window_hours(m.band, m.rules.fluctuation) for m in members),
    ]
    columns.append(_array(max(round(h), 1) for h in columns[1].tolist()))
    columns.append(_array(m.rules.fluctuation.min_coverage for m in members))
    columns.append(_array(m.rules.fluctuation.critical_factor for m in members))
    params = [m.rules.fluctuation for m in members]
    for _, _, _, limit_name, margin_name in _CHECKS:
        columns.append(fluctuation_limits(members, limit_name))
        columns.append(_attribute(params, margin_name))
    return np.stack(columns, axis=1) if members else np.empty((0, 9))


# -- the rule --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Judged:
    """A rule's readings evaluated: hits, fresh steps and the deviation per reading."""

    hits: _Hits
    fresh: BoolArray
    values: FloatArray
    deviation: FloatArray
    mean: FloatArray


_LONG_ROWS = 512
"""From how many readings a row on average (a backtest's year) `_per_reading` and `_events`
work row by row rather than per reading."""


_T = TypeVar("_T", bound=np.generic)


def _events(
    size: FloatArray, enter: FloatArray, clear: FloatArray, segs: Segments
) -> NDArray[np.int8]:
    """`fleet_series.hysteresis_above`'s events (1 above ``enter``, −1 below ``clear``, levels
    per row), long rows compared row by row with their levels (no level per reading)."""
    events = np.zeros(size.size, dtype=np.int8)
    with np.errstate(invalid="ignore"):
        if segs.count == 0 or size.size < _LONG_ROWS * segs.count:
            events[size > enter[segs.seg]] = 1
            events[size < clear[segs.seg]] = -1
            return events
        bounds = segs.offsets.tolist()
        for k, (up, down) in enumerate(zip(enter.tolist(), clear.tolist(), strict=True)):
            part, mine = size[bounds[k] : bounds[k + 1]], events[bounds[k] : bounds[k + 1]]
            mine[part > up] = 1
            mine[part < down] = -1
    return events


def _per_reading(per_row: NDArray[_T], segs: Segments) -> NDArray[_T]:
    """``per_row[segs.seg]``: each row's value at each of its readings (long rows, a backtest's
    year: filled row by row, at the speed of a fill rather than of a gather)."""
    if segs.count == 0 or segs.offsets[-1] < _LONG_ROWS * segs.count:
        return per_row[segs.seg]
    out = np.empty(int(segs.offsets[-1]), dtype=per_row.dtype)
    bounds = segs.offsets.tolist()
    for k, value in enumerate(per_row.tolist()):
        out[bounds[k] : bounds[k + 1]] = value
    return out


def _evaluate(
    times: FloatArray,
    values: FloatArray,
    segs: Segments,
    sums: RunningSums,
    grid: FloatArray,
    n_window: IntArray,
    coverage: FloatArray,
    at: FloatArray,
    max_age: FloatArray,
    start: tuple[BoolArray, BoolArray, FloatArray | None],
    levels: _Levels,
    steps: _Steps | None = None,
) -> tuple[_Judged, FloatArray, _Steps]:
    """`alerts.fleet._threshold` over the deviations from the trailing means, with the
    hysteresis starting from ``start`` (warning, critical, and the episode start of rows under
    way at their first reading; None: that reading's time). Returns also the sizes and the
    `_Steps` (``steps``: those of the same readings, computed before)."""
    if steps is None:
        hour_end = np.searchsorted(grid + 3600.0, times, side="right")
        flat, _, fresh = fresh_steps(times, segs, at, max_age)
        steps = (hour_end, flat, fresh)
    hour_end, flat, fresh = steps
    rows, width = segs.count, grid.size + 1
    # the sums' flat indices (one gather each rather than a gather of row and column)
    base = _per_reading(sums.zero, segs)
    if not sums.first.any() and times.size >= rows * width:
        # readings outnumber the hours (a backtest's year): each row's trailing mean at each
        # end of complete hours, then per reading its own — the same operands and operations
        mean = _trailing_means(sums, n_window, coverage).reshape(-1)[base + hour_end]
    else:
        first = np.maximum(hour_end - _per_reading(n_window, segs), 0)
        if sums.first.any() and bool(np.any(first < _per_reading(sums.first, segs))):
            raise ValueError("a trailing window reaches before the running sums held")
        end = hour_end + base
        first += base
        counts, totals = sums.flat_counts, sums.flat_sums
        # in place where it can be (each new array of a year's readings costs its page faults)
        n = counts[end]
        n -= counts[first]
        mean = totals[end]
        mean -= totals[first]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean /= n
            mean[~(n >= _per_reading(coverage * n_window, segs))] = np.nan
    deviation = values - mean
    size = np.abs(deviation)
    size[np.isnan(deviation)] = 0.0
    was, was_critical, since_head = start
    none = np.empty(0, dtype=np.int64)
    if times.size == 0:
        hits = _Hits(none, none, none, np.empty(0, np.bool_), np.empty(0), np.empty(0, np.bool_))
        return _Judged(hits, fresh, values, deviation, mean), size, steps
    warning, warning_clear, critical_level, critical_clear = levels
    on = carry_events(_events(size, warning, warning_clear, segs), segs, was)
    critical = carry_events(_events(size, critical_level, critical_clear, segs), segs, was_critical)
    starts = episode_starts(on, segs, was)
    if since_head is None:  # `fleet_series.since_times`
        since = times[np.where(starts >= 0, starts, segs.first)]
    else:
        since = np.where(starts >= 0, times[np.maximum(starts, 0)], since_head[segs.seg])
    seg, step = np.nonzero(fresh & on[flat])
    index = flat[seg, step]
    with np.errstate(invalid="ignore"):
        clearing = on[index] & ~(size[index] > warning[seg])
    hits = _Hits(seg, step, index, critical[index], since[index], clearing)
    return _Judged(hits, fresh, values, deviation, mean), size, steps


def _trailing_means(sums: RunningSums, n_window: IntArray, coverage: FloatArray) -> FloatArray:
    """Per row and end of complete hours ``k`` (the sums' columns), the mean of the row's
    valid hourly values in columns ``[max(k - n_window, 0), k)``, NaN below the coverage —
    `_evaluate`'s mean of a reading whose complete hours end at ``k``, computed alike."""
    if sums.first.any():
        raise ValueError("trailing means need the sums from the first hour")
    rows, width = sums.sums.shape
    lo = np.maximum(np.arange(width, dtype=np.int64)[None, :] - n_window[:, None], 0)
    row = np.arange(rows, dtype=np.int64)[:, None]
    n = sums.counts - sums.counts[row, lo]
    mean = sums.sums - sums.sums[row, lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean /= n
        mean[~(n >= (coverage * n_window)[:, None])] = np.nan
    means: FloatArray = mean
    return means


_Steps = tuple[IntArray, IntArray, BoolArray]
"""Of a rule's readings: per reading the end of its complete hours on the grid, and per row
and step the flat index of its last reading and whether that is fresh (`fresh_steps`): the
same for both rules when they keep the same readings (both quantities valid)."""


def fluctuation_class(
    ev: FleetEvaluator,
    members: Sequence[_Member],
    at: FloatArray,
    active: Active,
    result: ClassResult,
    entries: list[_Entry],
    runs: list[_RunEntry] | None = None,
) -> None:
    """The fluctuation rules of every member (the air sensors), findings into ``entries``
    (``runs`` given: into it, as a `FindingRun` per member and rule)."""
    sids = tuple(map(_SID, members))
    result.subjects.update(sids)
    carry, ev.fluctuation_carry = ev.fluctuation_carry, None
    if not members:
        return
    raw = ev._raw_of(members)
    hourly = _Hourly.of(ev, members)
    max_age = ev._max_age(members)
    table: FloatArray = ev._table("fluctuation", members, _parameters, members)
    enabled = table[:, 0] > 0.0
    window, n_window = table[:, 1], table[:, 2].astype(np.int64)
    coverage, factor = table[:, 3], table[:, 4]
    rows = _rows_of(sids)
    # carried for the sources that do not change readings older than a settle window
    single = at.size == 1 and isinstance(ev.source, ArraySource | IncrementalStoreSource)
    first = np.empty(0)
    if carry is not None and not (single and carry.sids == sids and float(at[0]) >= carry.at):
        carry = None
    same = np.zeros(len(members), dtype=np.bool_)
    resume = raw.segs.offsets[:-1]
    if carry is not None:
        same, first, resume = _same_before(carry, raw)
    settle_s = ev.hourly_cache.settle_s
    if isinstance(ev.source, IncrementalStoreSource):  # what it does not read again
        settle_s = max(settle_s, ev.source.settle_s)
    checkpoint = float(at[-1]) - np.maximum(settle_s, max_age)
    carried: dict[str, _RuleCarry] = {}
    shared: tuple[IntArray | None, _Steps] | None = None
    # a live run holds the running sums only from the first hour its readings reach back to
    from_column = _first_columns(raw, hourly.grid, n_window) if single else 0
    for rank, (rule, (quantity, unit, name, _, _)) in enumerate(
        zip(fluctuation.RULES, _CHECKS, strict=True)
    ):
        limit, margin = table[:, 5 + 2 * rank], table[:, 6 + 2 * rank]
        judged = enabled & ~np.isnan(limit)
        if not judged.any():
            continue
        crit = limit * factor
        levels = (limit, np.maximum(limit - margin, 0.0), crit, np.maximum(crit - margin, 0.0))
        sums, whole = running_sums(ev, quantity, members, hourly, sids, from_column)
        values = raw.quantity(quantity)
        kept_index: IntArray | None = None
        was, was_critical = _open(rows, active, rule)
        rc = None if carry is None or whole else carry.rules.get(rule)
        start: tuple[BoolArray, BoolArray, FloatArray | None] = (was, was_critical, None)
        if rc is not None and carry is not None:
            # rows whose readings before the checkpoint keep their trailing means (no hour
            # they use changed: a reading uses the hours complete by its time) and decide
            # the state there go on from it; the others are evaluated whole
            upto = np.append(hourly.grid + 3600.0, np.inf)[sums.tail_start]
            # only rows none of whose hours changed before the tail carry on: a first hour
            # that changed alters the later means in their last bits (the sums' roundings);
            # exact by construction, no rounding bound relied on
            settled = sums.lead_end == 0
            first_valid = _first_valid(raw.times, values, raw.segs, judged)
            on, critical, since, decided = _start_state(rc, first, first_valid, was, was_critical)
            going = same & (carry.checkpoint <= upto) & settled & decided
            if going.any():
                start = (
                    np.where(going, on, was),
                    np.where(going, critical, was_critical),
                    np.where(going, since, first_valid),
                )
                # the going rows' valid readings from the checkpoint on, the others' all
                kept_index = _valid_from(
                    values, raw.segs, judged, np.where(going, resume, raw.segs.offsets[:-1])
                )
                rc = _RuleCarry(
                    *(
                        np.where(going, v, False if v.dtype == np.bool_ else np.nan)
                        for v in (
                            rc.t_event,
                            rc.entered,
                            rc.t_critical,
                            rc.entered_critical,
                            rc.t_clear,
                            rc.t_after_clear,
                            rc.t_enter,
                        )
                    )
                )
            else:
                rc = None
        if kept_index is None:
            valid = ~np.isnan(values)
            if not judged.all():
                valid &= _per_reading(judged, raw.segs)
            every = bool(valid.all())  # a backtest's year has few gaps in its values
        else:
            every = kept_index.size == raw.times.size
        if every:
            segs, keep, times, kept_values = raw.segs, None, raw.times, values
        else:
            if kept_index is None:
                segs, keep = raw.segs.compact(valid)
            else:
                segs = Segments.from_offsets(np.searchsorted(kept_index, raw.segs.offsets))
                keep = kept_index
            times, kept_values = raw.times[keep], values[keep]
        reuse = None
        if shared is not None and (
            (keep is None and shared[0] is None)
            or (keep is not None and shared[0] is not None and np.array_equal(shared[0], keep))
        ):
            reuse = shared[1]
        judged_values, size, steps = _evaluate(
            times,
            kept_values,
            segs,
            sums,
            hourly.grid,
            n_window,
            coverage,
            at,
            max_age,
            start,
            levels,
            reuse,
        )
        shared = (keep, steps)
        if single:
            carried[rule] = _carried(times, size, judged_values, segs, levels, checkpoint, rc)
        _held(result.output.held, judged_values.fresh, judged, rule, members)
        made: list[_RunEntry] = [] if runs is None else runs
        _findings(judged_values, members, rule, rank, unit, name, window, limit, levels, made)
        if runs is None:
            for (row_rank, _), run in made:
                entries.extend(
                    ((row_rank, rank, step), step, run.finding(k))
                    for k, step in enumerate(run.steps.tolist())
                )
    if single:
        starts = raw.segs.offsets[:-1]
        before = search_ranges(raw.times, starts, raw.segs.offsets[1:], checkpoint) - starts
        ev.fluctuation_carry = FluctuationCarry(
            sids,
            float(at[0]),
            checkpoint,
            raw.times.copy(),
            raw.segs.offsets.copy(),
            before,
            carried,
        )


class _Formatted(dict[float, str]):
    """``format(x, spec)`` of each float formatted once: ``formatted[x]`` (readings and their
    means repeat). Zeros (``-0.0 == 0.0`` in a dict, formatted with their signs) and NaN (never
    equal to itself) are formatted each time, not stored."""

    def __init__(self, spec: str) -> None:
        super().__init__()
        self.spec = spec

    def __missing__(self, x: float) -> str:
        text = format(x, self.spec)
        if x != 0.0 and x == x:
            self[x] = text
        return text


_FIELDS = (
    *("rule", "subject", "severity", "since", "value", "threshold", "unit", "summary"),
    *("advice", "for_s", "page", "clear_s"),
)
_SLOTS = slot_writers(Finding, _FIELDS, "alerts.fleet_fluctuation._findings")
"""Writers of `Finding`'s slots in field order (`alerts.model.slot_writers`): `_findings`
builds a backtest's findings (one per hit) by writing them, in a third of ``Finding(...)``'s
time."""


def _findings(
    judged: _Judged,
    members: Sequence[_Member],
    rule: str,
    rank: int,
    unit: str,
    name: str,
    window: FloatArray,
    limit: FloatArray,
    levels: _Levels,
    runs: list[_RunEntry],
) -> None:
    """One finding per hit, as `alerts.rules.fluctuation.evaluate` writes it: a `FindingRun`
    per row with hits (in row order), its findings built when asked."""
    hits = judged.hits
    if hits.index.size == 0:
        return
    deviation = judged.deviation[hits.index]
    dev = np.where(np.isfinite(deviation), deviation, 0.0)
    size = np.abs(dev)
    values, means = judged.values[hits.index], judged.mean[hits.index]
    one = _Formatted(".1f")  # shared by the rows: readings and their means repeat
    starts = EpochTimes()
    advice = fluctuation._ADVICE[rule]
    cut = np.flatnonzero(hits.seg[1:] != hits.seg[:-1]) + 1
    lows = [0, *cut.tolist()]
    highs = [*cut.tolist(), hits.seg.size]
    for s, lo, hi in zip(hits.seg[lows].tolist(), lows, highs, strict=True):
        m = members[s]
        p = m.rules.fluctuation
        lim = float(limit[s])
        clear_s = p.clear_after_minutes * 60.0
        for_s = p.for_minutes * 60.0
        hold = f" for {clear_s / 60.0:.0f} min" if clear_s > 0 else ""
        texts = _RowFindings(
            (rule, m.subject, lim, unit, advice, for_s, clear_s),
            (
                f"{name} ",
                f" {unit} from its {float(window[s]):g}-h mean ",
                f" (allowed ±{lim:g}, {m.band.profile})",
                f" — clearing: needs a deviation within ±{float(levels[1][s]):g} {unit}{hold}",
            ),
            (
                hits.critical[lo:hi].tolist(),
                hits.since[lo:hi].tolist(),
                hits.clearing[lo:hi].tolist(),
                values[lo:hi].tolist(),
                dev[lo:hi].tolist(),
                size[lo:hi].tolist(),
                means[lo:hi].tolist(),
            ),
            one,
            starts,
        )
        run = FindingRun(
            rule,
            m.subject,
            hits.step[lo:hi],
            hits.critical[lo:hi],
            hits.since[lo:hi],
            size[lo:hi],
            lim,
            for_s,
            clear_s,
            texts.finding,
        )
        runs.append(((m.rank, rank), run))


_SEVERITIES = (Severity.WARNING, Severity.CRITICAL)


class _RowFindings:
    """The findings of one row's hits of a rule, built one by one when asked (`FindingRun`):
    the row's fixed fields and text parts, and per hit its columns."""

    __slots__ = ("columns", "fixed", "one", "parts", "starts")

    def __init__(
        self,
        fixed: tuple[str, Subject, float, str, str, float, float],
        parts: tuple[str, str, str, str],
        columns: tuple[
            list[bool], list[float], list[bool], list[float], list[float], list[float], list[float]
        ],
        one: _Formatted,
        starts: EpochTimes,
    ) -> None:
        self.fixed = fixed
        """rule, subject, threshold, unit, advice, for_s, clear_s"""
        self.parts = parts
        """The summary's text before the reading, between deviation and mean, after the mean,
        and the clearing note."""
        self.columns = columns
        """Per hit: critical, since [epoch s], clearing, reading, deviation, its size, mean."""
        self.one = one
        self.starts = starts

    def finding(self, k: int) -> Finding:
        """The ``k``-th hit's finding (its fields written slot by slot, `_SLOTS`)."""
        rule, subject, lim, unit, advice, for_s, clear_s = self.fixed
        head, middle, tail, clear_tail = self.parts
        critical, since, clearing, value, dev, size, mean = self.columns
        one = self.one
        summary = f"{head}{one[value[k]]} is {dev[k]:+.1f}{middle}{one[mean[k]]}{tail}"
        if clearing[k]:
            summary += clear_tail
        finding: Finding = object.__new__(Finding)
        w_rule, w_subject, w_severity, w_since, w_value, w_threshold = _SLOTS[:6]
        w_unit, w_summary, w_advice, w_for, w_page, w_clear = _SLOTS[6:]
        w_rule(finding, rule)
        w_subject(finding, subject)
        w_severity(finding, _SEVERITIES[critical[k]])
        w_since(finding, self.starts[since[k]])
        w_value(finding, size[k])
        w_threshold(finding, lim)
        w_unit(finding, unit)
        w_summary(finding, summary)
        w_advice(finding, advice)
        w_for(finding, for_s)
        w_page(finding, True)
        w_clear(finding, clear_s)
        return finding
