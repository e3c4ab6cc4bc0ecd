"""Golden comparison: the fleet evaluator (every rule class across sensors in one array pass)
against the reference (`alerts.evaluate.Evaluator`, sensor by sensor — the engine as it was),
cycle for cycle on a synthetic network: the transitions, the alerts (rule, subject, severity,
since, fired and resolved times, values and texts), the mould checkpoints and the derived rows.

The network (`network`, `history`) has several sites, rooms of every profile the benchmark uses,
sensors at 1, 5 and 15 minutes, surface sensors, damp spells, near-saturation, gaps, a sensor
never heard, one falling silent, one stuck, a failing battery and a burst of impossible readings
— so that every rule fires, clears and holds somewhere. ``bench/alerts.py`` runs the same
comparison (`compare`) on its full network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from repoclimate.alerts.backtest import backtest
from repoclimate.alerts.config import RULE_CLASSES, RulesConfig
from repoclimate.alerts.engine import AlertEngine, EvaluatorKind
from repoclimate.alerts.evaluate import ArraySource
from repoclimate.alerts.model import AlertState, from_epoch
from repoclimate.alerts.profiles import band_for
from repoclimate.alerts.series import SensorSeries
from repoclimate.alerts.state import AlertStore
from repoclimate.alerts.topology import RoomNode, SensorNode, SiteNode, Topology
from repoclimate.history.derived import DerivedRow

PROFILES = ("iso11799-paper", "ashrae-a", "bs4971", "jgj25-paper", "ashrae-b")
HOLDINGS = ("paper", "mixed", "photographs", "paper", "wood")
END = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
"""A Monday: the weekly decay class runs at its end."""


def network(sites: int = 3, rooms_per_site: int = 3, sensors_per_room: int = 5) -> Topology:
    """Sites in three zones; rooms cycling through the profiles; every third room has a
    surface sensor; sensor intervals 5 min, with one at 1 min and one at 15 min per site."""
    zones = ("Europe/London", "Asia/Shanghai", "America/Toronto")
    site_nodes = []
    k = 0
    for s in range(sites):
        rooms = []
        for r in range(rooms_per_site):
            sensors = []
            for i in range(sensors_per_room):
                interval = 60.0 if (r, i) == (0, 1) else 900.0 if (r, i) == (1, 2) else 300.0
                surface = i == sensors_per_room - 1 and k % 3 == 0
                sensors.append(
                    SensorNode(f"x{s}-{r}-{i}", f"site{s}", f"room{r}", interval, surface)
                )
            rooms.append(
                RoomNode(f"site{s}", f"room{r}", PROFILES[k % 5], HOLDINGS[k % 5], tuple(sensors))
            )
            k += 1
        site_nodes.append(SiteNode(f"site{s}", ZoneInfo(zones[s % 3]), tuple(rooms)))
    return Topology(site_nodes)


def climate(times: np.ndarray, seed: int, profile: str) -> tuple[np.ndarray, np.ndarray]:
    """The benchmark's storeroom (`bench/alerts.py`): inside the band with daily and yearly
    cycles and noise, and damp spells (+10…25 %RH for 6–96 h), here every ten days or so."""
    band = band_for(profile)
    t_mid = (band.t_min + band.t_max) / 2 if band.t_min and band.t_max else 18.0
    rh_mid = (band.rh_min + band.rh_max) / 2 if band.rh_min and band.rh_max else 45.0
    t_amp = ((band.t_max - band.t_min) / 4) if band.t_min and band.t_max else 2.0
    rh_amp = ((band.rh_max - band.rh_min) / 5) if band.rh_min and band.rh_max else 4.0
    rng = np.random.default_rng(seed)
    hours = (times - times[0]) / 3600.0
    year = 2 * np.pi * times / (365.25 * 86400)
    day = 2 * np.pi * times / 86400
    t = t_mid + t_amp * np.sin(year) + 0.3 * np.sin(day) + rng.normal(0, 0.1, times.size)
    rh = rh_mid + rh_amp * np.sin(year - 0.5) + 1.0 * np.sin(day) + rng.normal(0, 0.5, times.size)
    for start in rng.uniform(0, max(hours[-1] - 72, 1), size=max(int(hours[-1] // 240), 1)):
        spell = (hours >= start) & (hours < start + rng.uniform(6, 96))
        rh[spell] += rng.uniform(10, 25)
    return np.round(t, 2), np.clip(np.round(rh, 1), 0, 100)


def between(before: np.ndarray, first_h: float, last_h: float) -> np.ndarray:
    """Where ``before`` [s before the end] lies between ``first_h`` and ``last_h`` hours."""
    return (before <= first_h * 3600) & (before > last_h * 3600)


def history(topology: Topology, start: datetime, end: datetime) -> dict[str, SensorSeries]:
    """Every sensor's readings in ``[start, end]``, with the network's troubles."""
    out: dict[str, SensorSeries] = {}
    profiles = {(r.site, r.id): r for r in topology.rooms()}
    for n, sensor in enumerate(topology.sensors()):
        room = profiles[(sensor.site, sensor.room)]
        times = np.arange(start.timestamp(), end.timestamp() + 1, sensor.expected_interval_s)
        # a little jitter, as real devices report
        times = times + np.random.default_rng(n).uniform(0, 2, times.size).round(3)
        t, rh = climate(times, 100 + n, room.profile)
        battery = np.full(times.size, np.nan)
        battery[:: max(int(3600 // sensor.expected_interval_s), 1)] = 80.0
        before = end.timestamp() - times  # [s] before the end
        if sensor.surface:  # a cold wall: the surface a few K above the air's dew point
            t = t - 8.5 + 2.5 * np.sin(2 * np.pi * before / 86400)

        if n % 7 == 3:  # a gap of five hours
            keep = ~between(before, 7, 2)
            times, t, rh, battery, before = (x[keep] for x in (times, t, rh, battery, before))
        if n == 2:  # a damp spell of four hours
            rh = np.where(between(before, 8, 4), rh + 20.0, rh)
        if n == 5:  # near saturation for three hours
            rh = np.where(between(before, 6, 3), 96.5, rh)
        if n == 6:  # damp for a week, drying an hour into the last ten: mould
            rh = np.where(between(before, 8 * 24, 9), 88.0, rh)
        if n == 8:  # stuck for 13 hours
            flat = between(before, 13.5, 0.5)
            t, rh = np.where(flat, 19.5, t), np.where(flat, 48.0, rh)
        if n == 9:  # a battery running down
            battery = np.where(np.isnan(battery), np.nan, np.linspace(60, 3, times.size))
        if n == 11:  # a burst of impossible readings
            rh = np.where(between(before, 5, 3) & (np.arange(times.size) % 3 == 0), 0.0, rh)
        if n == 12:  # falls silent four hours before the end
            keep = before > 4 * 3600
            times, t, rh, battery = times[keep], t[keep], rh[keep], battery[keep]
        if n == 14:  # never heard
            times, t, rh, battery = times[:0], t[:0], rh[:0], battery[:0]
        out[sensor.id] = SensorSeries(sensor.id, times, t, rh, battery, start.timestamp())
    return out


class Derived:
    """Keeps the derived rows written, as the store would."""

    def __init__(self) -> None:
        self.rows: list[DerivedRow] = []

    def write_derived(self, rows: Sequence[DerivedRow]) -> None:
        self.rows.extend(rows)


@dataclass
class Run:
    """One engine over the network, with what it wrote."""

    engine: AlertEngine
    state: AlertStore
    derived: Derived
    transitions: list[tuple[Any, ...]] = field(default_factory=list)


def make_run(topology: Topology, series: Mapping[str, SensorSeries], kind: EvaluatorKind) -> Run:
    state = AlertStore(":memory:")
    derived = Derived()
    engine = AlertEngine(
        derived,  # type: ignore[arg-type]
        topology,
        state,
        RulesConfig.builtin(),
        source=ArraySource(series),
        evaluator=kind,
    )
    return Run(engine, state, derived)


def alerts_of(state: AlertStore) -> list[tuple[Any, ...]]:
    """Every alert with what people read of it, in a fixed order."""
    return sorted(
        (
            a.rule,
            a.subject.id,
            a.state.value,
            a.severity.value,
            a.since,
            a.created_at,
            a.fired_at,
            a.resolved_at,
            a.value,
            a.threshold,
            a.unit,
            a.summary,
        )
        for a in state.list_alerts()
    )


def checkpoints_of(state: AlertStore) -> list[tuple[Any, ...]]:
    return sorted(
        (sensor, c.hour, c.fingerprint, c.mrf.value, c.mrf.dry_hours, c.vtt.index,
         c.vtt.hours_unfavourable)
        for sensor, c in state.mould_checkpoints().items()
    )  # fmt: skip


def same(a: Any, b: Any) -> bool:
    """Equal, floats to 1e-9 relative: the fleet's VTT index is integrated across sensors
    (`preservation.mould.vtt_mould_indices`), which agrees with the per-series integration to
    rounding; everything else is the same bits."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or bool(np.isclose(a, b, rtol=1e-9, atol=1e-12)) or (a != a and b != b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def rows_of(rows: Sequence[DerivedRow]) -> list[tuple[Any, ...]]:
    return sorted((r.time, sorted(r.tags.items()), sorted(r.fields.items())) for r in rows)


def step(run: Run, now: datetime, classes: Sequence[str]) -> None:
    report = run.engine.run(now, classes)
    run.transitions.append(
        tuple(
            sorted(
                (t.rule, t.subject.id, str(t.from_state), t.to_state.value, t.severity.value)
                for t in report.transitions
            )
        )
    )


def due(engine: AlertEngine, t: float) -> list[str]:
    return [name for name in RULE_CLASSES if t % engine.intervals[name] == 0]


def compare(
    topology: Topology, series: Mapping[str, SensorSeries], start: datetime, end: datetime
) -> tuple[Run, Run, int]:
    """Step both engines every 5 minutes in ``(start, end]`` with the classes due; assert
    after each cycle that they agree. Returns both runs and the cycles compared."""
    reference = make_run(topology, series, "reference")
    fleet = make_run(topology, series, "fleet")
    cycles = 0
    for t in np.arange(start.timestamp() + 300.0, end.timestamp() + 1.0, 300.0):
        now = from_epoch(float(t))
        classes = due(reference.engine, float(t))
        for run in (reference, fleet):
            step(run, now, classes)
        cycles += 1
        assert fleet.transitions[-1] == reference.transitions[-1], f"transitions at {now}"
        assert same(alerts_of(fleet.state), alerts_of(reference.state)), f"alerts at {now}"
        assert same(checkpoints_of(fleet.state), checkpoints_of(reference.state)), now
        assert same(rows_of(fleet.derived.rows), rows_of(reference.derived.rows)), now
    return reference, fleet, cycles


FIRST = END - timedelta(hours=10)
"""The first cycle compared."""


@pytest.fixture(scope="module")
def small() -> tuple[Topology, dict[str, SensorSeries]]:
    topology = network()
    return topology, history(topology, END - timedelta(days=40), END)


@pytest.fixture(scope="module")
def stepped(small: tuple[Topology, dict[str, SensorSeries]]) -> tuple[Run, Run, int]:
    """Both engines stepped every 5 minutes from `FIRST` to `END`, compared at each cycle."""
    topology, series = small
    return compare(topology, series, FIRST - timedelta(minutes=5), END)


def test_fleet_evaluator_gives_the_reference_alerts_cycle_for_cycle(
    stepped: tuple[Run, Run, int],
) -> None:
    reference, _, cycles = stepped
    assert cycles == 121
    fired = {a[0] for a in alerts_of(reference.state) if a[6] is not None}
    # the network is eventful enough that the comparison means something
    assert {
        "excursion.humidity_high", "fluctuation.humidity", "mould.risk", "sensor.silent",
        "sensor.stuck", "sensor.battery_low", "sensor.out_of_range", "condensation.saturation",
        "condensation.surface",
    } <= fired  # fmt: skip
    assert any(a[2] == AlertState.RESOLVED.value for a in alerts_of(reference.state))
    assert reference.derived.rows


def test_fleet_catch_up_gives_the_reference_alerts(
    small: tuple[Topology, dict[str, SensorSeries]],
) -> None:
    topology, series = small
    runs = [make_run(topology, series, kind) for kind in ("reference", "fleet")]
    for run in runs:
        run.engine.catch_up(END - timedelta(days=3), END - timedelta(days=1))
        run.engine.catch_up(END - timedelta(days=1), END)
    reference, fleet = runs
    assert same(alerts_of(fleet.state), alerts_of(reference.state))
    assert same(rows_of(fleet.derived.rows), rows_of(reference.derived.rows))
    assert len(alerts_of(reference.state)) > 10


def test_fleet_backtest_gives_the_reference_episodes(
    small: tuple[Topology, dict[str, SensorSeries]],
) -> None:
    topology, series = small
    rules = RulesConfig.builtin()
    start = END - timedelta(days=4)
    results = [
        backtest(None, topology, rules, start, END, history=series, evaluator=kind)
        for kind in ("reference", "fleet")
    ]

    def episodes(result: Any) -> list[tuple[Any, ...]]:
        return [
            (e.rule, e.subject, e.severity, e.since, e.fired_at, e.resolved_at, e.summary)
            for e in result.episodes
        ]

    assert episodes(results[1]) == episodes(results[0])
    assert results[1].evaluations == results[0].evaluations
    assert len(results[0].episodes) > 10


def test_backtest_gives_the_alerts_of_live_stepping(
    small: tuple[Topology, dict[str, SensorSeries]], stepped: tuple[Run, Run, int]
) -> None:
    """The same alerts fire and resolve at the same times. Where they may differ, by design:
    a sensor never heard is silent live since its window opened, in the backtest since the
    backtest's start (what precedes it is unknown, not silent); an episode already under way
    at the start has its since from the window of history each evaluated (live: all classes'
    longest); an episode's severity is the worst it reached in the backtest, the latest live."""
    topology, series = small
    never_heard = {sid for sid, s in series.items() if not len(s)}
    result = backtest(None, topology, RulesConfig.builtin(), FIRST, END, history=series)
    replayed = {
        (e.rule, e.subject, e.fired_at, e.resolved_at): (e.since, e.severity)
        for e in result.episodes
        if e.subject.rsplit("/", 1)[-1] not in never_heard
    }
    _, fleet, _ = stepped
    live = {
        (a.rule, a.subject.id, a.fired_at, a.resolved_at): (a.since, a.severity)
        for a in fleet.state.list_alerts()
        if a.fired_at is not None and a.subject.sensor not in never_heard
    }
    assert replayed.keys() == live.keys()
    assert len(live) > 15
    for key, (since, severity) in live.items():
        if since >= FIRST:
            assert replayed[key][0] == since, key
        assert replayed[key][1] >= severity, key
