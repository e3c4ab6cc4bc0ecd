"""The fleet evaluator's health and condensation classes (`alerts.fleet_health`) against the
reference evaluator, sensor by sensor, on random sensors built to sit on the edges the fleet
classes cut at: stuck runs and repeated readings, battery values at the clear level, readings
just outside the physical range, RH at the saturation levels, surfaces near the air's dew point,
open alerts of every rule (some with nothing in their window to keep them on), NaN, empty and
all-NaN sensors, a room whose surface has no air sensor and one with two surfaces — at one
evaluation time (the live cycle), a few, and many (the backtest).

The fleet classes judge stuck, battery, out-of-range and saturation only for the sensors a
necessary condition leaves, and the surfaces' air dew point by searches over many rooms at
once; any condition that left out a sensor with a finding, or a search that took the wrong
reading, shows here as a finding missing or different."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from repoclimate.alerts import fleet_health, fleet_series
from repoclimate.alerts.config import RulesConfig
from repoclimate.alerts.evaluate import ArraySource, ClassResult, Evaluator
from repoclimate.alerts.fleet import FleetEvaluator, _Raw
from repoclimate.alerts.fleet_series import Segments
from repoclimate.alerts.model import Severity
from repoclimate.alerts.profiles import band_for
from repoclimate.alerts.rules import condensation, health
from repoclimate.alerts.series import SensorSeries, resample_ffill
from repoclimate.alerts.topology import RoomNode, SensorNode, SiteNode, Topology

END = 1.8e9
CLASSES = ("health", "condensation")
ROOMS = {
    "air-and-surface": (4, 1),
    "air-only": (3, 0),
    "air-only-too": (4, 0),
    "two-surfaces": (2, 2),
    "surface-alone": (0, 1),
}
"""Room → (air sensors, surface sensors)."""
KINDS = 10
"""Kinds of sensor history (`sensor_history`): each sensor's is its index plus the seed."""


def topology() -> Topology:
    rooms = []
    for name, (air, surfaces) in ROOMS.items():
        sensors = [SensorNode(f"{name}-a{i}", "site", name, 300.0) for i in range(air)]
        sensors += [SensorNode(f"{name}-s{i}", "site", name, 300.0, True) for i in range(surfaces)]
        rooms.append(RoomNode("site", name, "ashrae-a", "paper", tuple(sensors)))
    return Topology([SiteNode("site", ZoneInfo("Europe/London"), tuple(rooms))])


def sensor_history(rng: np.random.Generator, sensor: SensorNode, kind: int) -> SensorSeries:
    """Two days at about 5 min with a few readings' jitter, values from small sets (so that
    readings repeat and runs form), with one ``kind`` of trouble."""
    if kind == 0:
        return SensorSeries.empty(sensor.id, END - 2 * 86400)
    times = np.arange(END - 2 * 86400, END + 1, 300.0)
    times = times + rng.uniform(0, 3, times.size).round(3)
    times = times[rng.random(times.size) > 0.05]  # a few readings lost
    if rng.random() < 0.3:  # a gap of a few hours
        gap = rng.uniform(END - 86400, END)
        times = times[(times < gap - 4 * 3600) | (times > gap)]
    n = times.size
    t = rng.choice([18.0, 18.5, 19.0], n) if kind == 1 else np.round(rng.normal(19, 0.4, n), 1)
    rh = rng.choice([48.0, 48.5], n) if kind == 1 else np.round(rng.normal(50, 1.0, n), 0)
    if kind in (1, 2):  # stuck for the last hours (with NaN inside the run)
        flat = times > END - rng.uniform(6, 20) * 3600
        t, rh = np.where(flat, 19.0, t), np.where(flat, 48.0, rh)
    if kind == 3:  # near saturation, on the levels themselves
        rh = rng.choice([91.9, 92.0, 94.0, 95.0, 95.01, 95.1, 98.0, 98.1, 60.0], n)
    if kind == 7:  # damp, at most a hair above the warning level (else on from an open alert)
        rh = rng.choice([92.0, 93.5, 95.0] if rng.random() < 0.5 else [93.5, 95.01], n)
    if kind == 9:  # impossible readings, on the high side only
        high = rng.random(n) < 0.03
        t = np.where(high & (rng.random(n) < 0.5), 60.01, t)
        rh = np.where(high, 100.01, rh)
    if kind == 4:  # impossible readings now and then
        bad = rng.random(n) < 0.05
        t = np.where(bad & (rng.random(n) < 0.5), rng.choice([-30.1, 60.1, 85.0], n), t)
        rh = np.where(bad, rng.choice([0.0, 0.4, 100.5], n), rh)
    if sensor.surface:  # a cold surface near the air's dew point, or (even kinds) a warm one
        t = np.round(rng.normal(10.5, 1.5, n) if kind % 2 else rng.normal(25.0, 0.3, n), 1)
    t[rng.random(n) < 0.08] = np.nan
    rh[rng.random(n) < 0.08] = np.nan
    if kind == 5:  # temperature only
        rh[:] = np.nan
    if kind == 6:  # nothing valid at all
        t[:], rh[:] = np.nan, np.nan
    battery = np.full(n, np.nan)
    every = int(rng.integers(6, 40))
    levels = [80.0, 25.0, 20.0, 20.000001, 19.0, 15.0, 14.0, 4.0]
    if kind == 8:  # at the clear level: on only from an open alert
        levels = [20.0]
    battery[::every] = rng.choice(
        levels[: int(rng.integers(1, len(levels) + 1))], battery[::every].size
    )
    return SensorSeries(sensor.id, times, t, rh, battery, END - 2 * 86400)


def histories(
    rng: np.random.Generator, topo: Topology, seed: int, nan: bool
) -> dict[str, SensorSeries]:
    """Each sensor's `sensor_history`, of kind its index plus ``seed``; with ``nan`` false
    every temperature and RH valid (NaN replaced by a value)."""
    history = {
        s.id: sensor_history(rng, s, (seed + n) % KINDS) for n, s in enumerate(topo.sensors())
    }
    if nan:
        return history
    return {
        k: SensorSeries(
            k,
            h.times,
            np.nan_to_num(h.temperature, nan=19.0),
            np.nan_to_num(h.humidity, nan=48.0),
            h.battery,
            h.start,
        )
        for k, h in history.items()
    }


def open_alerts(rng: np.random.Generator, topo: Topology) -> dict[str, dict[str, Severity]]:
    """Open alerts of every rule of the two classes, at random."""
    rules = (*health.RULES, *condensation.RULES)
    active: dict[str, dict[str, Severity]] = {}
    for sensor in topo.sensors():
        for rule in rules:
            if rng.random() < 0.25:
                severity = Severity.CRITICAL if rng.random() < 0.4 else Severity.WARNING
                active.setdefault(sensor.subject.id, {})[rule] = severity
    return active


def findings(result: ClassResult) -> list[tuple[Any, ...]]:
    """The findings, comparable (a NaN value, which the reference gives for an alert kept open
    without a valid reading, as None)."""
    return sorted(
        (
            step,
            f.rule,
            f.subject.id,
            f.severity,
            f.since,
            None if np.isnan(f.value) else f.value,
            f.threshold,
            f.unit,
            f.summary,
            f.advice,
            f.page,
            f.for_s,
            f.clear_s,
        )
        for step, f in result.output.findings
    )


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("steps", ["now", "now, a reading later", 3, 40, "grid"])
def test_fleet_health_and_condensation_give_the_reference_findings(
    seed: int, steps: int | str
) -> None:
    rng = np.random.default_rng(seed)
    topo = topology()
    source = ArraySource(
        {s.id: sensor_history(rng, s, (seed + n) % KINDS) for n, s in enumerate(topo.sensors())}
    )
    active = open_alerts(rng, topo)
    if steps == "now":  # the live cycle: one time, after every reading
        at = np.array([END + 5.0])
    elif steps == "now, a reading later":  # some readings (jittered) after the time
        at = np.array([END])
    elif steps == "grid":  # the backtest: every 5 min from before the first reading on,
        # and some at readings' times and at the silence limit after them (the gaps' edges)
        grid = np.arange(END - 2.1 * 86400, END + 1800, 300.0)
        times = np.concatenate([source.raw(s.id, 0.0, 2 * END).times for s in topo.sensors()])
        edges = rng.choice(times, 40) + rng.choice([0.0, 3 * 300.0, 6 * 300.0], 40)
        at = np.sort(np.concatenate((grid, edges)))
    else:  # some in the last hours, beyond the last reading too
        at = np.sort(rng.uniform(END - 6 * 3600, END + 1800, int(steps)))
    rules = RulesConfig.builtin()
    fleet = FleetEvaluator(topo, rules, source, band_for).run(CLASSES, at, active)
    reference = Evaluator(topo, rules, source, band_for).run(CLASSES, at, active)
    for name in CLASSES:
        assert fleet[name].subjects == reference[name].subjects, name
        assert findings(fleet[name]) == findings(reference[name]), name
        assert sorted(fleet[name].output.held) == sorted(reference[name].output.held), name


VARIED = RulesConfig.from_dict(
    {
        "rooms": {
            "site/air-only": {
                "condensation": {"rh_warning": 93.5, "max_age_minutes": 20},
                "health": {"battery_warning": 20, "silent_factor": 2, "stuck_min_readings": 3},
            },
            "site/two-surfaces": {"condensation": {"dew_point_margin_k": 3, "clear_margin_k": 0}},
        }
    }
)
"""Levels and ages that differ between rooms (per-member arrays, not one value for all)."""


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("steps", ["now", "grid"])
@pytest.mark.parametrize("nan", [True, False])
def test_fleet_health_with_rules_per_room_and_all_valid_readings(
    seed: int, steps: str, nan: bool
) -> None:
    """As above with levels per room (`fleet_health._per_sample` keeps arrays), with NaN and
    with none at all (nothing compacted, `fleet_health._compact`)."""
    rng = np.random.default_rng(100 + seed)
    topo = topology()
    source = ArraySource(histories(rng, topo, seed, nan))
    active = open_alerts(rng, topo)
    if steps == "now":
        at = np.array([END + 5.0])
    else:
        at = np.arange(END - 2.1 * 86400, END + 1800, 300.0)
    fleet = FleetEvaluator(topo, VARIED, source, band_for).run(CLASSES, at, active)
    reference = Evaluator(topo, VARIED, source, band_for).run(CLASSES, at, active)
    for name in CLASSES:
        assert findings(fleet[name]) == findings(reference[name]), name
        assert sorted(fleet[name].output.held) == sorted(reference[name].output.held), name


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("gaps", [True, False])
def test_short_stuck_runs_over_many_steps_give_the_reference_findings(
    seed: int, gaps: bool
) -> None:
    """The backtest's stuck rule (`fleet_health._stuck_runs`) where the least number of
    readings binds: runs of half an hour (seven readings at 5 min, NaN inside some) — a run
    left out for too few samples, or kept for too many, shows as a finding missing or extra —
    with NaN in the readings (``gaps``) and without (each sample a reading)."""
    rng = np.random.default_rng(seed)
    topo = topology()
    source = ArraySource(histories(rng, topo, seed, gaps))
    at = np.arange(END - 2.1 * 86400, END + 1800, 300.0)
    rules = RulesConfig.from_dict(
        {"defaults": {"health": {"stuck_hours": 0.5, "stuck_min_readings": 7}}}
    )
    fleet = FleetEvaluator(topo, rules, source, band_for).run(["health"], at, {})
    reference = Evaluator(topo, rules, source, band_for).run(["health"], at, {})
    stuck = [f for _, f in reference["health"].output.findings if f.rule == health.RULES[1]]
    assert stuck, "no stuck finding to compare"
    assert findings(fleet["health"]) == findings(reference["health"])
    assert sorted(fleet["health"].output.held) == sorted(reference["health"].output.held)


def test_the_random_sensors_reach_every_rule() -> None:
    """The comparison above is only as good as what fires in it."""
    fired: set[str] = set()
    for seed in range(12):
        rng = np.random.default_rng(seed)
        topo = topology()
        source = ArraySource(
            {s.id: sensor_history(rng, s, (seed + n) % KINDS) for n, s in enumerate(topo.sensors())}
        )
        active = open_alerts(rng, topo)
        at = np.sort(rng.uniform(END - 6 * 3600, END + 1800, 40))
        results = Evaluator(topo, RulesConfig.builtin(), source, band_for).run(CLASSES, at, active)
        fired |= {f.rule for r in results.values() for _, f in r.output.findings}
    assert fired == {*health.RULES, *condensation.RULES}


@pytest.mark.parametrize("fine", [False, True])
def test_last_within_is_searchsorted_per_segment(fine: bool) -> None:
    """One search over all segments, or (times too finely split for its keys) one per segment:
    either way `numpy.searchsorted` per segment."""
    rng = np.random.default_rng(7)
    lengths = rng.integers(0, 30, 400)
    lengths[::9] = 0
    span = 3e7 if fine else 40_000.0
    parts = [np.sort(END - span + rng.uniform(0, span, n)) for n in lengths]
    if not fine:
        parts = [np.round(p, 3) for p in parts]
    times = np.concatenate(parts)
    segs = Segments.from_lengths(lengths.astype(np.int64))
    seg = rng.integers(0, lengths.size, 3000)
    at = END - span + rng.uniform(-10, span + 10, seg.size)
    at[::5] = times[np.minimum(rng.integers(0, times.size, at[::5].size), times.size - 1)]
    expected = np.array(
        [np.searchsorted(parts[s], a, side="right") - 1 for s, a in zip(seg, at, strict=True)]
    )
    np.testing.assert_array_equal(fleet_health._last_within(times, segs, seg, at), expected)


def steady(sensor: str, t_c: float, rh_pct: float, until: float) -> SensorSeries:
    """Readings every 5 min of one temperature and RH, for two days up to ``until``."""
    times = np.arange(END - 2 * 86400, until + 1, 300.0)
    n = times.size
    return SensorSeries(
        sensor, times, np.full(n, t_c), np.full(n, rh_pct), np.full(n, np.nan), times[0]
    )


@pytest.mark.parametrize("open_alert", [False, True])
def test_surfaces_left_out_of_the_live_hysteresis_give_the_reference_findings(
    open_alert: bool,
) -> None:
    """Three surfaces at one time after every reading: one whose margin (2.5 K) can never fall
    below the warning margin (2 K) but lies within its clear margin, so that an open alert stays
    on; one the same whose air fell silent 38 minutes before the end (its last readings' margin
    unknown, its last known one 12 minutes old: fresh); and a cold one."""
    rooms = []
    series = {}
    for name, air_until, t_surface in (("steady", END, 10.76), ("quiet", END - 38 * 60, 10.76)):
        air = SensorNode(f"{name}-a", "site", name, 300.0)
        surface = SensorNode(f"{name}-s", "site", name, 300.0, True)
        rooms.append(RoomNode("site", name, "ashrae-a", "paper", (air, surface)))
        series[air.id] = steady(air.id, 19.0, 50.0, air_until)  # dew point 8.26 °C
        series[surface.id] = steady(surface.id, t_surface, np.nan, END)
    cold_air = SensorNode("cold-a", "site", "cold", 300.0)
    cold = SensorNode("cold-s", "site", "cold", 300.0, True)
    rooms.append(RoomNode("site", "cold", "ashrae-a", "paper", (cold_air, cold)))
    series[cold_air.id] = steady(cold_air.id, 19.0, 50.0, END)
    series[cold.id] = steady(cold.id, 9.0, np.nan, END)
    topo = Topology([SiteNode("site", ZoneInfo("Europe/London"), tuple(rooms))])
    severity = Severity.WARNING
    active = (
        {f"site/{r.id}/{r.id}-s": {condensation.SURFACE: severity} for r in rooms}
        if open_alert
        else {}
    )
    at = np.array([END + 120.0])
    source = ArraySource(series)
    rules = RulesConfig.builtin()
    fleet = FleetEvaluator(topo, rules, source, band_for).run(["condensation"], at, active)
    reference = Evaluator(topo, rules, source, band_for).run(["condensation"], at, active)
    assert findings(fleet["condensation"]) == findings(reference["condensation"])
    assert sorted(fleet["condensation"].output.held) == sorted(
        reference["condensation"].output.held
    )
    found = {f.subject.id for _, f in reference["condensation"].output.findings}
    assert found == (
        {"site/steady/steady-s", "site/quiet/quiet-s", "site/cold/cold-s"}
        if open_alert
        else {"site/cold/cold-s"}
    )


@pytest.mark.parametrize("seed", range(20))
def test_stale_steps_are_the_fresh_steps_not_fresh(seed: int) -> None:
    """`_stale_steps` (from the gaps, for the backtest) against `fresh_steps` (per segment and
    step): the same stale pairs in the same order, with the same last sample — on segments
    empty, with repeated times and gaps, and steps before, on, at the age limit after and
    between the readings."""
    rng = np.random.default_rng(seed)
    lengths = rng.choice([0, 1, 2, 30, 200], 6)
    segs = Segments.from_lengths(lengths.astype(np.int64))
    pieces = []
    for n in lengths.tolist():
        t = np.sort(rng.choice(np.arange(0.0, 60000.0, 100.0), n)) + rng.uniform(0, 1, n).round(2)
        pieces.append(np.sort(t))
    times = np.concatenate(pieces) if pieces else np.empty(0)
    max_age = rng.choice([300.0, 900.0, 2500.0], segs.count)
    edges = rng.choice(times, 30) + rng.choice([0.0, 300.0, 900.0, 2500.0], 30)
    at = np.sort(np.concatenate((np.arange(-500.0, 62000.0, 300.0), edges)))
    flat, exists, fresh = fleet_series.fresh_steps(times, segs, at, max_age)
    seg, steps, last = fleet_health._stale_steps(times, segs, at, max_age)
    want_seg, want_steps = np.nonzero(~fresh)
    assert seg.tolist() == want_seg.tolist()
    assert steps.tolist() == want_steps.tolist()
    known = exists[want_seg, want_steps]
    assert (last >= 0).tolist() == known.tolist()
    assert last[known].tolist() == flat[want_seg, want_steps][known].tolist()


@pytest.mark.parametrize("seed", range(10))
def test_long_runs_are_the_run_starts_far_enough_back(seed: int) -> None:
    """`_long_runs` (the backtest's stuck runs, from the samples that continue a run) against
    `_run_starts` at every sample: the samples whose run began ``back`` or more before them,
    and where — on segments empty, of one sample, and with NaN inside runs."""
    rng = np.random.default_rng(seed)
    lengths = rng.choice([0, 1, 2, 9, 60], 8).astype(np.int64)
    segs = Segments.from_lengths(lengths)
    n = int(lengths.sum())
    t = rng.choice([18.0, 18.5], n)
    rh = rng.choice([48.0, 48.5, np.nan], n, p=[0.6, 0.3, 0.1])
    breaks = fleet_health._run_breaks((t, rh), segs)
    started = fleet_health._run_starts((t, rh), segs)
    for back in (0, 1, 2, 5):
        samples, began = fleet_health._long_runs(breaks, back)
        want = np.flatnonzero(np.arange(n) - started >= back)
        assert samples.tolist() == want.tolist(), back
        assert began.tolist() == started[want].tolist(), back


@pytest.mark.parametrize("seed", range(10))
def test_air_dew_point_by_pair_is_the_references_loop(seed: int) -> None:
    """`_worst_dew_point_by_pair` against `alerts.rules.condensation.air_dew_point`'s loop
    (`resample_ffill` of each air sensor, `numpy.fmax` in turn), bit for bit with signed
    zeros tied — air sensors without readings, rooms without air, surface readings before
    the air's first, at its times, and older than the age limit."""
    rng = np.random.default_rng(seed)
    air_lengths = rng.permutation([0, 1, 40, 200, 200, 200, 0]).astype(np.int64)
    air = Segments.from_lengths(air_lengths)
    grid = np.arange(0.0, 60000.0, 150.0)
    parts = [np.sort(rng.choice(grid, n)) for n in air_lengths.tolist()]
    dew = rng.choice([-0.0, 0.0, 3.5, 8.25, 12.0], int(air_lengths.sum()))
    order = rng.permutation(5)
    count = np.array([0, 1, 2, 3, 3])[order]
    pairs = rng.integers(0, air.count, int(count.sum()))
    surface_lengths = np.array([300, 300, 0, 3, 300], dtype=np.int64)[order]
    segs = Segments.from_lengths(surface_lengths)
    surfaces = [np.sort(rng.choice(grid, n) + rng.choice([0.0, 1.0], n)) for n in surface_lengths]
    max_age = rng.choice([300.0, 1800.0, np.inf], count.size)
    src = fleet_health._AirSources(
        _Raw.of([]), np.empty(0, np.bool_), air, np.concatenate(parts), dew, pairs, count, max_age
    )
    found = fleet_health._worst_dew_point_by_pair(src, segs, np.concatenate(surfaces))
    expected = []
    first = np.cumsum(count) - count
    for k, times in enumerate(surfaces):
        worst = np.full(times.size, np.nan)
        for j in pairs[first[k] : first[k] + count[k]].tolist():
            if parts[j].size:
                own = dew[air.offsets[j] : air.offsets[j + 1]]
                worst = np.fmax(worst, resample_ffill(parts[j], own, times, float(max_age[k])))
        expected.append(worst)
    want = np.concatenate(expected)
    np.testing.assert_array_equal(found, want)
    assert np.signbit(found).tolist() == np.signbit(want).tolist()
    assert np.isnan(want).any() and not np.isnan(want).all()


@pytest.mark.parametrize("steps", ["now", "grid"])
def test_surface_dew_point_of_air_at_signed_zeros_is_the_references(steps: str) -> None:
    """Two air sensors at 100 % RH, one at −0.0 °C and one at 0.0 °C: their dew points
    (−0.0, 0.0 °C) tie, and which one `numpy.fmax` keeps depends on the array's length and
    the element's place — the findings (their texts print the dew point's sign) are the
    reference's only when the fleet class makes the reference's calls."""
    air = [SensorNode(f"cold-a{i}", "site", "cold", 300.0) for i in range(2)]
    surface = SensorNode("cold-s", "site", "cold", 300.0, True)
    room = RoomNode("site", "cold", "ashrae-a", "paper", (*air, surface))
    topo = Topology([SiteNode("site", ZoneInfo("Europe/London"), (room,))])
    source = ArraySource(
        {
            "cold-a0": steady("cold-a0", -0.0, 100.0, END),
            "cold-a1": steady("cold-a1", 0.0, 100.0, END),
            "cold-s": steady("cold-s", 1.0, np.nan, END),
        }
    )
    at = np.array([END + 60.0]) if steps == "now" else np.arange(END - 86400, END + 1, 300.0)
    rules = RulesConfig.builtin()
    fleet = FleetEvaluator(topo, rules, source, band_for).run(["condensation"], at, {})
    reference = Evaluator(topo, rules, source, band_for).run(["condensation"], at, {})
    assert reference["condensation"].output.findings
    assert findings(fleet["condensation"]) == findings(reference["condensation"])


@pytest.mark.parametrize("seed", range(5))
def test_pick_is_the_compact_of_the_segments(seed: int) -> None:
    rng = np.random.default_rng(seed)
    lengths = rng.choice([0, 1, 5], 9).astype(np.int64)
    segs = Segments.from_lengths(lengths)
    few = np.flatnonzero(rng.random(segs.count) < 0.5)
    keep = np.isin(segs.seg, few)
    wide, kept = segs.compact(keep)
    want = Segments.from_offsets(np.append(wide.offsets[few], wide.offsets[-1]))
    picked, found = fleet_health._pick(segs, few)
    assert found is not None
    assert found.tolist() == kept.tolist()
    assert picked.offsets.tolist() == want.offsets.tolist()
    assert picked.seg.tolist() == want.seg.tolist()
    assert picked.first.tolist() == want.first.tolist()
