"""Findings handed as columns (`alerts.replay.FindingRun`, the fleet evaluator's excursion and
fluctuation classes with ``finding_runs``) stand for exactly the findings the classes list:
materialised, they are the listed findings (and the reference evaluator's), each run's columns
are its findings' fields, and the replay of the runs leaves what the replay of the listed
findings and stepping the lifecycle leave — every step's transitions, the number of steps
stepped and the whole alert state. Also: the fluctuation's trailing means computed per hour
(`fleet_fluctuation._trailing_means`, when readings outnumber the hours) are the per-reading
ones, bit for bit."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from repoclimate.alerts import fleet_fluctuation as ff
from repoclimate.alerts.config import RulesConfig
from repoclimate.alerts.evaluate import ClassResult
from repoclimate.alerts.fleet_series import Segments
from repoclimate.alerts.model import Finding, Severity, Subject, from_epoch
from repoclimate.alerts.replay import FindingRun, RunsResult, replay
from repoclimate.alerts.state import AlertStore
from tests.alerts.conftest import T0
from tests.alerts.test_fleet_excursion import (
    LONG_WINDOW,
    T_END,
    evaluators,
    random_active,
    random_history,
    random_network,
)
from tests.alerts.test_lifecycle_batch import rows
from tests.alerts.test_replay import SUBJECTS, stepped

CLASSES = ("excursion", "fluctuation")


@pytest.mark.parametrize("seed", range(2))
def test_runs_are_the_listed_findings(seed: int) -> None:
    """Four days of wandering readings, every 5-minute step at once (the backtest's shape)
    and a short run: the runs' findings are the listed ones, in order, and the reference's."""
    topology = random_network()
    series = random_history(topology, seed, days=4.0)
    rng = np.random.default_rng(seed)
    for rules in (RulesConfig.builtin(), LONG_WINDOW):
        for at in (np.arange(T_END - 3 * 86400, T_END + 1, 300.0), np.array([T_END - 600.0])):
            active = random_active(rng, topology, [])
            reference, fleet = evaluators(topology, series, rules)
            expected = reference.run(CLASSES, at, active)
            listed = fleet.run(CLASSES, at, active)
            _, again = evaluators(topology, series, rules)
            as_runs = again.run(CLASSES, at, active, finding_runs=True)
            for name in CLASSES:
                got = as_runs[name]
                assert isinstance(got, RunsResult) and not got.output.findings
                assert listed[name].output.findings == expected[name].output.findings
                assert got.materialised().output.findings == listed[name].output.findings
                assert got.output.held == listed[name].output.held
                assert got.subjects == listed[name].subjects
                for run in got.runs:
                    check_columns(run)
            if at.size > 1:
                assert all(len(as_runs[name].runs) > 5 for name in CLASSES)
                assert len(expected["fluctuation"].output.findings) > 100


def check_columns(run: FindingRun) -> None:
    """The run's columns are its findings' fields (what the replay reads instead of them)."""
    steps = run.steps.tolist()
    assert steps == sorted(set(steps))
    for k in range(len(run)):
        f = run.finding(k)
        assert f == run.finding(k)
        assert (f.rule, f.subject, f.threshold, f.for_s, f.clear_s) == (
            run.rule,
            run.subject,
            run.threshold,
            run.for_s,
            run.clear_s,
        )
        assert f.severity is (Severity.CRITICAL if run.critical[k] else Severity.WARNING)
        assert f.since == from_epoch(float(run.since[k]))
        assert np.float64(f.value).view(np.int64) == run.value[k].view(np.int64)


def random_runs(rng: random.Random, rules: tuple[str, ...], times: np.ndarray) -> RunsResult:
    """Runs that come and go in episodes (gaps inside and across the clear-hold), severities
    wandering, episodes whose start moves earlier, pending ones, held steps — as
    `tests.alerts.test_replay.random_class` makes them, one finding a step."""
    result = RunsResult(rules, subjects={s.id for s in SUBJECTS[:3]})
    for rule in rules:
        for subject in SUBJECTS:
            threshold = rng.choice((60.0, 65.0))
            for_s, clear_s = rng.choice((0.0, 600.0, 1800.0)), rng.choice((0.0, 900.0, 3600.0))
            present, start, critical = False, 0.0, False
            steps: list[int] = []
            columns: list[tuple[bool, float, float]] = []
            for i, t in enumerate(times.tolist()):
                if rng.random() < 0.25:
                    present = not present
                    start = t - rng.choice((0.0, 300.0, 1800.0))
                if rng.random() < 0.08:
                    result.output.held.append((i, rule, subject.id))
                    continue
                if not present:
                    continue
                if rng.random() < 0.15:
                    critical = not critical
                if rng.random() < 0.1:
                    start -= 600.0
                steps.append(i)
                columns.append((critical, start, float(rng.randint(55, 85))))
            if not steps:
                continue
            crit = np.array([c for c, _, _ in columns], dtype=np.bool_)
            since = np.array([s for _, s, _ in columns])
            value = np.array([v for _, _, v in columns])

            def finding(
                k: int,
                rule: str = rule,
                subject: Subject = subject,
                cols: tuple[np.ndarray, np.ndarray, np.ndarray] = (crit, since, value),
                fixed: tuple[float, float, float] = (threshold, for_s, clear_s),
            ) -> Finding:
                c, s, v = bool(cols[0][k]), float(cols[1][k]), float(cols[2][k])
                return Finding(
                    rule=rule,
                    subject=subject,
                    severity=Severity.CRITICAL if c else Severity.WARNING,
                    since=from_epoch(s),
                    value=v,
                    threshold=fixed[0],
                    unit="%RH",
                    summary=f"RH {v:.1f} (finding {k})",
                    advice="check the dehumidifier",
                    for_s=fixed[1],
                    clear_s=fixed[2],
                )

            result.runs.append(
                FindingRun(
                    rule,
                    subject,
                    np.array(steps, dtype=np.int64),
                    crit,
                    since,
                    value,
                    threshold,
                    for_s,
                    clear_s,
                    finding,
                )
            )
    return result


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_replay_of_runs_is_the_replay_of_their_findings(seed: int) -> None:
    rng = random.Random(seed)
    first = np.ceil(T0.timestamp() / 600.0) * 600.0
    with_runs: list[tuple[np.ndarray, ClassResult]] = []
    listed: list[tuple[np.ndarray, ClassResult]] = []
    for rules, interval in zip(
        (("excursion.humidity_high", "excursion.temperature_low"), ("fluctuation.humidity",)),
        (300.0, 600.0),
        strict=True,
    ):
        times = np.arange(first, first + 2 * 86400, interval)
        runs = random_runs(rng, rules, times)
        with_runs.append((times, runs))
        listed.append((times, runs.materialised()))
    expected_state = AlertStore(":memory:")
    expected, evaluations = stepped(listed, expected_state)
    states = []
    for classes in (with_runs, listed):
        replayed = replay(classes)
        state = AlertStore(":memory:")
        with state.transaction() as tx:
            replayed.write(tx)
        assert list(replayed.steps()) == expected
        assert replayed.evaluations == evaluations
        states.append(rows(state))
        state.close()
    assert states[0] == states[1] == rows(expected_state)
    alerts, events = rows(expected_state)
    assert len(alerts) > 50
    assert any(e["note"].startswith("severity") for e in events)
    assert any(e["note"] == "cleared before firing" for e in events)
    expected_state.close()


def test_replay_refuses_runs_it_cannot_order() -> None:
    times = np.arange(T0.timestamp(), T0.timestamp() + 3600, 300.0)
    rng = random.Random(5)
    runs = random_runs(rng, ("fluctuation.humidity",), times)
    assert runs.runs
    both = RunsResult(runs.rules, runs.output, runs.subjects, runs=runs.runs)
    both.output.findings.append((0, runs.runs[0].finding(0)))
    with pytest.raises(ValueError, match="either as runs or as a list"):
        replay([(times, both)])
    twice = RunsResult(runs.rules, subjects=runs.subjects, runs=[runs.runs[0], runs.runs[0]])
    with pytest.raises(ValueError, match=r"two finding runs of fluctuation\.humidity"):
        replay([(times, twice)])
    run = max(runs.runs, key=len)
    assert len(run) > 1
    for changed, match in (
        (replace(run, steps=run.steps[::-1].copy()), "steps not ascending"),
        (replace(run, value=np.full(len(run), np.nan)), "a value or since is NaN"),
    ):
        odd = RunsResult(runs.rules, subjects=runs.subjects, runs=[changed])
        with pytest.raises(ValueError, match=match):
            replay([(times, odd)])


def test_trailing_means_per_hour_are_the_per_reading_ones() -> None:
    """Rows of hourly values with gaps (NaN), windows longer than the grid and of one hour,
    coverage not met, rows with no valid hour: per reading, the mean of its complete hours."""
    rng = np.random.default_rng(3)
    rows, hours = 4, 60
    values = np.round(rng.normal(50, 8, (rows, hours)), 1)
    values[rng.random((rows, hours)) < 0.3] = np.nan
    values[2] = np.nan
    sums = ff.RunningSums(
        tuple("abcd"), 3600.0 * np.arange(hours), np.zeros(rows, np.int64), values
    )
    n_window = np.array([24, 1, 6, 100], dtype=np.int64)
    coverage = np.array([0.75, 1.0, 0.5, 0.2])
    lengths = np.array([500, 30, 1, 400], dtype=np.int64)
    segs = Segments.from_lengths(lengths)
    hour_end = rng.integers(0, hours + 1, int(lengths.sum()))
    per_hour = ff._trailing_means(sums, n_window, coverage)
    got = per_hour[segs.seg, hour_end]
    first = np.maximum(hour_end - n_window[segs.seg], 0)
    n = sums.counts[segs.seg, hour_end] - sums.counts[segs.seg, first]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (sums.sums[segs.seg, hour_end] - sums.sums[segs.seg, first]) / n
    mean[~(n >= (coverage * n_window)[segs.seg])] = np.nan
    np.testing.assert_array_equal(got.view(np.int64), mean.view(np.int64))
    assert np.isnan(got).any() and not np.isnan(got).all()
