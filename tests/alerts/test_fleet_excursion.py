"""`alerts.fleet_excursion`: the excursion class by episode, and its state carried between
cycles, against the reference evaluator's whole-window evaluation (`alerts.evaluate.Evaluator`,
sensor by sensor), step for step — findings (with their texts, severities and episode starts)
and held subjects — on random histories around the band limits (NaN, equal times, gaps, empty
sensors, readings exactly at the levels) and open alerts drawn at random each cycle, through a
late reading inside the settle window, a gap longer than the window, a change of sensors and a
restart."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from repoclimate.alerts.config import RulesConfig
from repoclimate.alerts.evaluate import Active, ArraySource, ClassResult, Evaluator
from repoclimate.alerts.fleet import FleetEvaluator
from repoclimate.alerts.model import Finding, Severity
from repoclimate.alerts.profiles import band_for
from repoclimate.alerts.rules import excursion
from repoclimate.alerts.series import SensorSeries
from repoclimate.alerts.topology import RoomNode, SensorNode, SiteNode, Topology
from tests.alerts.test_golden import END, history, network

T_END = END.timestamp()
PROFILES = ("iso11799-paper", "ashrae-a", "bs4971", "jgj25-paper")
LONG_WINDOW = RulesConfig.from_dict({"defaults": {"excursion": {"for_minutes": 600}}})
"""A 12-hour window: episodes older than the settle window, long runs without a fall."""


def random_network(sensors: int = 24) -> Topology:
    rooms = [
        RoomNode(
            "site",
            f"room{r}",
            PROFILES[r % len(PROFILES)],
            "paper",
            tuple(
                SensorNode(f"s{r}-{i}", "site", f"room{r}", 300.0 if i % 3 else 900.0)
                for i in range(sensors // 4)
            ),
        )
        for r in range(4)
    ]
    return Topology([SiteNode("site", ZoneInfo("Europe/London"), tuple(rooms))])


def wandering(
    rng: np.random.Generator, n: int, low: float, high: float, margin: float
) -> np.ndarray:
    """A walk across ``[low − 2·margin, high + 2·margin]`` that lingers near the limits, with
    some readings exactly at a limit or a clear level and some NaN."""
    span = high - low + 4 * margin
    walk = np.cumsum(rng.normal(0, span / 25, n)) + rng.uniform(low, high)
    values = low - 2 * margin + np.abs((walk - low + 2 * margin) % (2 * span) - span)
    exact = rng.random(n) < 0.05
    values[exact] = rng.choice([low, high, low + margin, high - margin], int(exact.sum()))
    values = np.round(values, 1)
    values[rng.random(n) < 0.05] = np.nan
    return values


def random_history(topology: Topology, seed: int, days: float = 3.0) -> dict[str, SensorSeries]:
    rng = np.random.default_rng(seed)
    rooms = {(r.site, r.id): r for r in topology.rooms()}
    out: dict[str, SensorSeries] = {}
    for k, sensor in enumerate(topology.sensors()):
        band = band_for(rooms[(sensor.site, sensor.room)].profile)
        start = T_END - days * 86400
        step = sensor.expected_interval_s
        times = np.arange(start, T_END + 1, step) + rng.uniform(0, 3, int(days * 86400 // step) + 1)
        times = np.sort(np.round(times, 0))  # whole seconds: equal times now and then
        keep = rng.random(times.size) > (0.5 if k % 5 == 1 else 0.02)  # sparse, or a few gaps
        if k % 7 == 3:  # silent for six hours
            keep &= (times < T_END - 20 * 3600) | (times > T_END - 14 * 3600)
        if k == 5:
            keep[:] = False  # never heard
        times = times[keep]
        n = times.size
        t_low = band.t_min if band.t_min is not None else 14.0
        t_high = band.t_max if band.t_max is not None else 24.0
        rh_low = band.rh_min if band.rh_min is not None else 30.0
        rh_high = band.rh_max if band.rh_max is not None else 60.0
        out[sensor.id] = SensorSeries(
            sensor.id,
            times,
            wandering(rng, n, t_low, t_high, 0.5),
            np.clip(wandering(rng, n, rh_low, rh_high, 2.0), 0, 100),
            np.full(n, np.nan),
            start,
        )
    return out


def evaluators(
    topology: Topology, series: Mapping[str, SensorSeries], rules: RulesConfig
) -> tuple[Evaluator, FleetEvaluator]:
    source = ArraySource(series)
    return (
        Evaluator(topology, rules, source, band_for),
        FleetEvaluator(topology, rules, source, band_for),
    )


def outcome(result: ClassResult) -> tuple[list[tuple[int, Finding]], list[tuple[int, str, str]]]:
    return result.output.findings, sorted(result.output.held)


def random_active(
    rng: np.random.Generator, topology: Topology, found: list[tuple[int, Finding]]
) -> Active:
    """Open alerts: mostly those the last findings would keep open, some flipped at random."""
    active: dict[str, dict[str, Severity]] = {}
    for _, f in found:
        active.setdefault(f.subject.id, {})[f.rule] = f.severity
    for sensor in topology.sensors():
        for rule in excursion.RULES:
            if rng.random() < 0.1:
                states = active.setdefault(sensor.subject.id, {})
                if rule in states:
                    del states[rule]
                else:
                    states[rule] = Severity.CRITICAL if rng.random() < 0.3 else Severity.WARNING
    return active


def stepped(
    topology: Topology,
    series: dict[str, SensorSeries],
    rules: RulesConfig,
    seed: int,
    times: np.ndarray,
    fleet: FleetEvaluator | None = None,
) -> tuple[FleetEvaluator, int]:
    """Both evaluators at each of ``times``, one at a time, with random open alerts; asserts
    each cycle agrees. Returns the fleet evaluator and how many cycles carried state."""
    reference, made = evaluators(topology, series, rules)
    fleet = made if fleet is None else fleet
    rng = np.random.default_rng(seed)
    found: list[tuple[int, Finding]] = []
    before = 0 if fleet.excursion_kept is None else fleet.excursion_kept.runs_carried
    for t in times.tolist():
        active = random_active(rng, topology, found)
        at = np.array([t])
        expected = reference.run(["excursion"], at, active)["excursion"]
        got = fleet.run(["excursion"], at, active)["excursion"]
        assert outcome(got) == outcome(expected), f"at {t}"
        assert got.subjects == expected.subjects
        found = expected.output.findings
    assert fleet.excursion_kept is not None
    return fleet, fleet.excursion_kept.runs_carried - before


def with_deadband(topology: Topology, series: dict[str, SensorSeries], sensor: str) -> float:
    """``sensor``'s temperature held inside its band's deadband (above the clear level, not
    beyond the limit), where only the open alert or an earlier rise decides; its limit."""
    room = next(r for r in topology.rooms() if any(s.id == sensor for s in r.sensors))
    limit = band_for(room.profile).t_max
    assert limit is not None
    s = series[sensor]
    deadband = np.full(s.times.size, limit - 0.25)
    series[sensor] = SensorSeries(sensor, s.times, deadband, s.humidity, s.battery, s.start)
    return limit


def changed(series: dict[str, SensorSeries], sensor: str, t: float, t_c: float) -> None:
    """``sensor`` with a reading of ``t_c`` at ``t`` (inserted, or replacing one there)."""
    s = series[sensor]
    i = int(np.searchsorted(s.times, t))
    if i < s.times.size and s.times[i] == t:
        temperature = s.temperature.copy()
        temperature[i] = t_c
        series[sensor] = SensorSeries(sensor, s.times, temperature, s.humidity, s.battery, s.start)
        return
    series[sensor] = SensorSeries(
        sensor,
        np.insert(s.times, i, t),
        np.insert(s.temperature, i, t_c),
        np.insert(s.humidity, i, np.nan),
        np.insert(s.battery, i, np.nan),
        s.start,
    )


@pytest.mark.parametrize(
    ("seed", "rules"), [(0, RulesConfig.builtin()), (1, LONG_WINDOW)], ids=["3h", "12h"]
)
def test_carried_cycles_give_the_whole_window_findings(seed: int, rules: RulesConfig) -> None:
    topology = random_network()
    series = random_history(topology, seed)
    times = np.arange(T_END - 24 * 3600, T_END + 1, 300.0)
    _, carried = stepped(topology, series, rules, seed, times)
    assert carried == times.size - 1  # every cycle after the first ran from the carried state


def test_the_golden_network_cycle_for_cycle() -> None:
    """The golden tests' eventful network (damp spells, a stuck sensor, gaps, one never
    heard) with random open alerts: episodes longer than the window, alerts open without an
    episode and the reverse."""
    topology = network()
    series = history(topology, END - timedelta(days=3), END)
    stepped(topology, series, LONG_WINDOW, 7, np.arange(T_END - 20 * 3600, T_END + 1, 300.0))


@pytest.mark.parametrize("seed", range(3))
def test_many_steps_at_once_give_the_reference_findings(seed: int) -> None:
    """The backtest's shape: every step of a period in one run, by episode; also with the
    times out of order and repeated."""
    topology = random_network()
    series = random_history(topology, seed, days=4.0)
    rng = np.random.default_rng(seed)
    at = np.arange(T_END - 3 * 86400, T_END + 1, 300.0)
    shuffled = np.concatenate((at[:40], at[:40], at[rng.permutation(at.size)][:200]))
    for rules in (RulesConfig.builtin(), LONG_WINDOW):
        for times in (at, shuffled):
            active = random_active(rng, topology, [])
            reference, fleet = evaluators(topology, series, rules)
            expected = reference.run(["excursion"], times, active)["excursion"]
            got = fleet.run(["excursion"], times, active)["excursion"]
            assert outcome(got) == outcome(expected)
            assert len(expected.output.findings) > 100
            assert expected.output.held


def test_a_late_reading_inside_the_settle_window_is_judged() -> None:
    """A reading beyond the band arrives 40 minutes late, from a sensor otherwise inside the
    deadband: the next cycles, from the carried state, hold the episode it opened (since the
    late reading) — as a whole-window evaluation does."""
    topology = random_network()
    series = random_history(topology, 1)
    sensor = "s1-1"
    with_deadband(topology, series, sensor)
    times = np.arange(T_END - 6 * 3600, T_END + 1, 300.0)
    fleet, _ = stepped(topology, series, RulesConfig.builtin(), 1, times[:36])
    late = float(times[35]) - 2400.0
    changed(series, sensor, late, 60.0)
    assert isinstance(fleet.source, ArraySource)
    fleet.source.series[sensor] = series[sensor]
    reference, _ = evaluators(topology, series, RulesConfig.builtin())
    got = fleet.run(["excursion"], times[36:37], {})["excursion"]
    assert fleet.excursion_kept is not None and fleet.excursion_kept.runs_carried == 36
    assert outcome(got) == outcome(reference.run(["excursion"], times[36:37], {})["excursion"])
    (high,) = [f for _, f in got.output.findings if f.subject.sensor == sensor]
    assert high.rule == "excursion.temperature_high" and high.since.timestamp() == late
    _, carried = stepped(topology, series, RulesConfig.builtin(), 2, times[37:], fleet)
    assert carried == times.size - 37


def test_a_reading_changed_before_the_settle_point_is_not_seen_until_rebuilt() -> None:
    """The contract the carried state keeps (as `alerts.incremental` does): readings older
    than the settle window do not change. One that does is seen by a new evaluator only —
    which shows the cycles really run from the carried state."""
    topology = random_network()
    series = random_history(topology, 3)
    sensor = "s1-1"
    with_deadband(topology, series, sensor)
    times = np.arange(T_END - 6 * 3600, T_END + 1, 300.0)
    fleet, _ = stepped(topology, series, RulesConfig.builtin(), 3, times[:30])
    changed(series, sensor, float(times[29]) - 2 * 3600, 60.0)
    assert isinstance(fleet.source, ArraySource)
    fleet.source.series[sensor] = series[sensor]
    at = times[30:31]
    carried = fleet.run(["excursion"], at, {})["excursion"].output.findings
    _, rebuilt = evaluators(topology, series, RulesConfig.builtin())
    whole = rebuilt.run(["excursion"], at, {})["excursion"].output.findings

    def high(found: list[tuple[int, Finding]]) -> list[Finding]:
        return [f for _, f in found if f.subject.sensor == sensor]

    assert high(whole) and not high(carried)


def test_a_gap_longer_than_the_window_and_time_going_back_evaluate_whole() -> None:
    topology = random_network()
    series = random_history(topology, 4)
    times = np.arange(T_END - 40 * 3600, T_END + 1, 300.0)
    fleet, _ = stepped(topology, series, LONG_WINDOW, 4, times[:12])
    # the engine stopped for 20 hours: the window starts after the settle point carried
    fleet, carried = stepped(topology, series, LONG_WINDOW, 5, times[252:270], fleet)
    assert carried == 18  # carried every cycle: the summary's times fall outside the window
    fleet, carried = stepped(topology, series, LONG_WINDOW, 6, times[200:210], fleet)
    assert carried == 9  # back in time: the first cycle evaluates whole


def test_other_sensors_and_a_restart_rebuild_the_state() -> None:
    """A run over one site only (other members), then all sites again; and a new evaluator
    (a restart or reload) mid-run: each evaluates whole and agrees."""
    topology = network(sites=2, rooms_per_site=2, sensors_per_room=4)
    series = history(topology, END - timedelta(days=2), END)
    rules = LONG_WINDOW
    reference, fleet = evaluators(topology, series, rules)
    rng = np.random.default_rng(9)
    found: list[tuple[int, Finding]] = []
    carried: list[int] = []
    for k, t in enumerate(np.arange(T_END - 10 * 3600, T_END + 1, 300.0).tolist()):
        if k == 60:
            _, fleet = evaluators(topology, series, rules)  # restarted
        sites = ["site1"] if 20 <= k < 30 else None
        active = random_active(rng, topology, found)
        at = np.array([t])
        expected = reference.run(["excursion"], at, active, sites=sites)["excursion"]
        got = fleet.run(["excursion"], at, active, sites=sites)["excursion"]
        assert outcome(got) == outcome(expected), k
        found = expected.output.findings
        kept = fleet.excursion_kept
        air = [s for r in topology.rooms() for s in r.sensors if not s.surface]
        assert kept is not None
        assert len(kept.sids) == len([s for s in air if sites is None or s.site in sites])
        carried.append(kept.runs_carried)
    # whole at the first cycle, on each change of sites and after the restart
    began = [max(b for b in (0, 20, 30, 60) if b <= k) for k in range(len(carried))]
    assert carried == [k - b for k, b in enumerate(began)]
