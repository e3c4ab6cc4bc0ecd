"""`alerts.fleet_fluctuation.FluctuationCarry`: the fluctuation rules carried from a checkpoint
between cycles give the reference evaluator's findings and held subjects, cycle for cycle —
through damp spells and gaps, open alerts that come and go, a reading arriving late inside the
checkpoint window and one arriving before it, a restart (state built anew) and a registry
change — while most cycles evaluate only the readings from the checkpoint on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from repoclimate.alerts import fleet_fluctuation
from repoclimate.alerts.config import RulesConfig
from repoclimate.alerts.evaluate import ArraySource, ClassResult, Evaluator
from repoclimate.alerts.fleet import FleetEvaluator
from repoclimate.alerts.model import Severity
from repoclimate.alerts.profiles import band_for
from repoclimate.alerts.series import SensorSeries
from repoclimate.alerts.topology import Topology
from tests.alerts.test_fleet_golden_changes import with_late_reading
from tests.alerts.test_golden import END, history, network

RULES = RulesConfig.builtin()
Active = dict[str, dict[str, Severity]]


def outcome(result: ClassResult) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    findings = sorted(
        (
            step,
            f.rule,
            f.subject.id,
            f.severity.value,
            f.since.isoformat(),
            f.value,
            f.threshold,
            f.summary,
        )
        for step, f in result.output.findings
    )
    return findings, sorted(result.output.held)


def opened(result: ClassResult) -> Active:
    """The open alerts after a cycle, simply: a rule is open while it finds."""
    active: Active = {}
    for _, f in result.output.findings:
        active.setdefault(f.subject.id, {})[f.rule] = f.severity
    return active


@pytest.fixture
def evaluated(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, bool]]]:
    """Per fluctuation pass of the fleet evaluator: the readings it judged, and whether rows
    went on from a carried state."""
    sizes: list[tuple[int, bool]] = []
    judge = fleet_fluctuation._evaluate

    def counted(times: np.ndarray, *args: Any) -> Any:
        sizes.append((int(times.size), args[-3][2] is not None))
        return judge(times, *args)

    monkeypatch.setattr(fleet_fluctuation, "_evaluate", counted)
    yield sizes


def late(series: SensorSeries, t: float, rh_pct: float) -> SensorSeries:
    return with_late_reading(series, t, rh_pct)


def thinned(series: dict[str, SensorSeries], recent_s: float) -> dict[str, SensorSeries]:
    """Readings older than ``recent_s`` before the end kept one an hour, on the hour (as the
    benchmark's history): the window's first hour then holds the same readings from cycle to
    cycle, so its mean — in every running sum — stays the same bits."""
    out = {}
    for sensor, s in series.items():
        old = s.times < END.timestamp() - recent_s
        keep = ~old | (np.diff(np.floor(s.times / 3600.0), prepend=-1.0) > 0)
        hours = np.where(old, np.floor(s.times / 3600.0) * 3600.0, s.times)
        out[sensor] = SensorSeries(
            sensor, hours[keep], s.temperature[keep], s.humidity[keep], s.battery[keep], s.start
        )
    return out


def compare_cycles(
    classes: list[str], sizes: list[tuple[int, bool]], hours: float = 8.0, thin: bool = True
) -> tuple[int, int, int]:
    """Fleet (one evaluator kept between cycles, replaced on a restart and a registry change)
    against the reference, every 5 minutes for ``hours``; returns the cycles, the findings and
    the fleet passes that went on from a carried state, judging fewer readings than the first
    pass (whole windows) did."""
    before = network(sites=1, rooms_per_site=3, sensors_per_room=5)
    after = network(sites=1, rooms_per_site=3, sensors_per_room=6)
    series = history(after, END - timedelta(days=36), END)
    if thin:
        series = thinned(series, 26 * 3600.0)
    source = ArraySource(dict(series))
    topology: Topology = before
    fleet = FleetEvaluator(topology, RULES, source, band_for)
    active: Active = {}
    found = 0
    times = np.arange(END.timestamp() - hours * 3600 + 300.0, END.timestamp() + 1.0, 300.0)
    for k, t in enumerate(times.tolist()):
        if k == 20:  # a damp reading 20 minutes old (after the checkpoint)
            source.series["x0-0-1"] = late(source.series["x0-0-1"], t - 1200.0, 95.0)
        if k == 30:  # one three hours old (before the checkpoint): that row evaluated whole
            source.series["x0-1-1"] = late(source.series["x0-1-1"], t - 3 * 3600.0, 97.0)
        if k == 45:  # a restart: the state is built anew
            fleet = FleetEvaluator(topology, RULES, source, band_for)
        if k == 60:  # a registry change: a sensor more per room (a new engine)
            topology = after
            fleet = FleetEvaluator(topology, RULES, source, band_for)
        at = np.array([t])
        mine = fleet.run(classes, at, active)["fluctuation"]
        theirs = Evaluator(topology, RULES, source, band_for).run(classes, at, active)
        assert outcome(mine) == outcome(theirs["fluctuation"]), f"cycle {k}"
        found += len(mine.output.findings)
        active = opened(mine)
    whole = sizes[0][0]
    return len(times), found, sum(carried and size < whole for size, carried in sizes)


@pytest.mark.parametrize(
    ("classes", "thin", "carried"),
    [
        # the hourly grid reaches back to the decay's 35 days, into hourly readings: its
        # first hour's mean stays, and most passes go on from the checkpoint
        (["fluctuation", "mould", "decay"], True, 0.7),
        # readings every 5 minutes: the first hour's mean changes each cycle (a reading
        # leaves it), so does every running sum in its last bits: only rows none of whose
        # hours changed carry on (no rounding bound is relied on); the answers the same
        (["fluctuation", "mould", "decay"], False, 0.0),
        # the grid is the fluctuation window + 2 h: the early readings' trailing windows
        # reach its first hour, whose mean changes, and they are evaluated again
        (["fluctuation"], False, 0.0),
    ],
)
def test_carried_fluctuation_gives_the_reference_findings(
    classes: list[str], thin: bool, carried: float, evaluated: list[tuple[int, bool]]
) -> None:
    cycles, found, short = compare_cycles(classes, evaluated, thin=thin)
    assert found > 20  # there were episodes to carry (damp spells, gaps)
    # passes (two rules a cycle) that went on from the checkpoint with a fraction of the
    # readings; the first, the restart, the registry change and each new hour grid did not
    assert short >= 2 * cycles * carried


def test_a_wrong_carry_would_show(
    monkeypatch: pytest.MonkeyPatch, evaluated: list[tuple[int, bool]]
) -> None:
    """The comparison above can fail: with the carried episode starts forgotten (an episode
    under way at the checkpoint taken to have begun at the window's first reading), the
    fleet parts from the reference."""
    real = fleet_fluctuation._start_state

    def forgetful(*args: Any) -> Any:
        on, critical, _, decided = real(*args)
        return on, critical, np.where(on, args[2], np.nan), decided

    monkeypatch.setattr(fleet_fluctuation, "_start_state", forgetful)
    with pytest.raises(AssertionError, match="cycle"):
        compare_cycles(["fluctuation", "mould", "decay"], evaluated)


def test_carry_only_for_single_times_over_arrays() -> None:
    """A run over many times (the backtest) keeps no carry, and the next single-time run is
    evaluated whole."""
    topology = network(sites=1, rooms_per_site=1, sensors_per_room=5)
    source = ArraySource(history(topology, END - timedelta(days=36), END))
    fleet = FleetEvaluator(topology, RULES, source, band_for)
    t = END.timestamp() - 3600.0
    fleet.run(["fluctuation"], np.array([t - 600.0, t - 300.0]), {})
    assert fleet.fluctuation_carry is None
    fleet.run(["fluctuation"], np.array([t]), {})
    carry = fleet.fluctuation_carry
    assert carry is not None
    assert carry.at == t
    assert np.all(carry.checkpoint <= t - fleet.hourly_cache.settle_s)
    # time going back: the carry is not used (and a new one is made from the whole window)
    fleet.run(["fluctuation"], np.array([t - 1800.0]), {})
    assert fleet.fluctuation_carry is not None
    assert fleet.fluctuation_carry.at == t - 1800.0


def test_a_reading_before_the_checkpoint_that_moves_no_mean_is_seen(
    evaluated: list[tuple[int, bool]],
) -> None:
    """A reading arriving before the checkpoint that leaves every hourly mean the same bits
    (a damp hour whose readings all read 95 %RH, the new one too, with no temperature) moves
    the start of the episode under way: the carry compares the readings' times, so that row
    is evaluated whole and the findings stay the reference's."""
    topology = network(sites=1, rooms_per_site=1, sensors_per_room=3)
    series = thinned(history(topology, END - timedelta(days=36), END), 26 * 3600.0)
    sensor = "x0-0-1"
    s = series[sensor]
    hour = np.floor((END.timestamp() - 4 * 3600.0) / 3600.0) * 3600.0
    keep = (s.times < hour) | (s.times >= hour + 900.0)  # the damp hour's first readings late
    humidity = np.where(s.times >= hour, 95.0, s.humidity)[keep]
    series[sensor] = SensorSeries(
        sensor, s.times[keep], s.temperature[keep], humidity, s.battery[keep], s.start
    )
    source = ArraySource(dict(series))
    classes = ["fluctuation", "mould", "decay"]
    fleet = FleetEvaluator(topology, RULES, source, band_for)
    active: Active = {}
    moved: list[tuple[int, float]] = []  # the cycles finding an episode from a late reading
    for k, t in enumerate(np.arange(hour + 7200.0, hour + 3 * 3600.0, 300.0).tolist()):
        if k in (3, 6):  # into the hour before the checkpoint, like its readings; then moved
            late_one = series[sensor]
            late_t = hour + (300.0 if k == 3 else 600.0)  # as many readings, one time other
            i = int(np.searchsorted(late_one.times, late_t))
            source.series[sensor] = SensorSeries(
                sensor,
                np.insert(late_one.times, i, late_t),
                np.insert(late_one.temperature, i, np.nan),
                np.insert(late_one.humidity, i, 95.0),
                np.insert(late_one.battery, i, np.nan),
                late_one.start,
            )
        at = np.array([t])
        mine = fleet.run(classes, at, active)["fluctuation"]
        theirs = Evaluator(topology, RULES, source, band_for).run(classes, at, active)
        assert outcome(mine) == outcome(theirs["fluctuation"]), f"cycle {k}"
        starts = {f.since.timestamp() for _, f in mine.output.findings}
        moved.extend((k, late_t) for late_t in (300.0, 600.0) if hour + late_t in starts)
        active = opened(mine)
    assert moved == [(k, 300.0) for k in (3, 4, 5)] + [(k, 600.0) for k in (6, 7, 8)]
    # the passes before the late reading went on from the carried state
    assert sum(carried for _, carried in evaluated[2:6]) >= 2
