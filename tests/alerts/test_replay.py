"""The lifecycle replayed alert by alert (`alerts.replay`) leaves exactly what stepping
`apply_findings` at every step leaves: each step's transitions, the number of steps stepped,
and the whole alert state — every alert row (ids, states, severities, since, values, peaks,
times) and every event, in order.

Stepping is the oracle here, one transaction per step as the live engine writes. Random
findings of two classes on different intervals (their steps interleave and coincide) exercise
what the replay folds or must not fold: pending alerts firing later or clearing, severity
changes, the clear-hold across gaps, held steps inside a gap, duplicated findings in a step,
an episode's since moving earlier, a subject outside the class's subjects (never resolved),
and findings out of step order. A synthetic year through the whole backtest compares the state
tables of the replay and of stepping (buffered).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import numpy as np
import pytest

from repoclimate.alerts.backtest import BacktestResult, Lifecycle, backtest
from repoclimate.alerts.config import RulesConfig
from repoclimate.alerts.evaluate import ClassResult, ClassSteps
from repoclimate.alerts.model import AlertState, Finding, Severity, Subject, Transition, from_epoch
from repoclimate.alerts.replay import replay
from repoclimate.alerts.state import AlertStore
from tests.alerts.conftest import T0
from tests.alerts.test_golden import history, network
from tests.alerts.test_lifecycle_batch import rows

SUBJECTS = (
    Subject("city", "stack-3", "s1"),
    Subject("city", "stack-3", "s2"),
    Subject("city", "stack-3", None),
    Subject("city", "stack-4", "s9"),  # not among the classes' subjects: never resolves
)
CLASS_RULES = (
    ("excursion.humidity_high", "excursion.temperature_low"),
    ("fluctuation.humidity",),
)
INTERVALS = (300.0, 600.0)


def random_class(
    rng: random.Random, rules: tuple[str, ...], times: np.ndarray, shuffle: bool
) -> ClassResult:
    """Findings that come and go in episodes (each (rule, subject) switching on and off now and
    then, its severity wandering), sometimes twice in a step, and held steps."""
    result = ClassResult(rules, subjects={s.id for s in SUBJECTS[:3]})
    for rule in rules:
        for subject in SUBJECTS:
            present = False
            start = 0.0
            severity = Severity.WARNING
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
                    severity = rng.choice(list(Severity))
                if rng.random() < 0.1:
                    start -= 600.0  # the episode began earlier than first thought
                for _ in range(rng.choice((1, 1, 1, 1, 2))):
                    value = float(rng.randint(55, 85))  # ties in the peak
                    result.output.findings.append(
                        (
                            i,
                            Finding(
                                rule=rule,
                                subject=subject,
                                severity=severity if rng.random() < 0.9 else Severity.CRITICAL,
                                since=from_epoch(start),
                                value=value,
                                threshold=rng.choice((60.0, 60.0, 60.0, 65.0)),
                                unit="%RH",
                                summary=f"RH {value:.1f}",
                                advice=rng.choice(("check the dehumidifier", "open a window")),
                                for_s=rng.choice((0.0, 600.0, 1800.0)),
                                page=rng.random() < 0.8,
                                clear_s=rng.choice((0.0, 900.0, 3600.0)),
                            ),
                        )
                    )
    if shuffle:
        rng.shuffle(result.output.findings)
    else:
        result.output.findings.sort(key=lambda item: item[0])
    return result


def stepped(
    classes: list[tuple[np.ndarray, ClassResult]], state: AlertStore
) -> tuple[list[tuple[datetime, list[Transition]]], int]:
    """The oracle: `apply_findings` at every step where a class has findings or open alerts,
    in time order (classes in order at one time), a transaction each; the steps with
    transitions and the number of steps stepped."""
    per_class = [ClassSteps(result) for _, result in classes]
    schedule = sorted(
        (t, k, i) for k, (times, _) in enumerate(classes) for i, t in enumerate(times.tolist())
    )
    open_count = [0] * len(classes)
    out: list[tuple[datetime, list[Transition]]] = []
    evaluations = 0
    for t, k, i in schedule:
        if i not in per_class[k].findings and open_count[k] == 0:
            continue
        now = from_epoch(t)
        with state.transaction() as tx:
            changes = per_class[k].apply(tx, i, now)
        evaluations += 1
        for change in changes:
            open_count[k] += change.from_state is None
            open_count[k] -= change.to_state is AlertState.RESOLVED
        if changes:
            out.append((now, changes))
    return out, evaluations


@pytest.mark.parametrize(("seed", "shuffle"), [(1, False), (2, False), (3, True)])
def test_replay_equals_stepping_the_lifecycle(seed: int, shuffle: bool) -> None:
    rng = random.Random(seed)
    first = np.ceil(T0.timestamp() / 600.0) * 600.0
    classes = []
    for rules, interval in zip(CLASS_RULES, INTERVALS, strict=True):
        times = np.arange(first, first + 2 * 86400, interval)
        classes.append((times, random_class(rng, rules, times, shuffle)))
    expected_state = AlertStore(":memory:")
    expected, evaluations = stepped(classes, expected_state)

    replayed = replay(classes)
    state = AlertStore(":memory:")
    with state.transaction() as tx:
        replayed.write(tx)
    assert list(replayed.steps()) == expected
    assert replayed.evaluations == evaluations
    assert rows(state) == rows(expected_state)

    changes = [change for _, step in expected for change in step]
    kinds = {(c.from_state, c.to_state) for c in changes}
    assert {
        (None, AlertState.PENDING),
        (AlertState.PENDING, AlertState.FIRING),
        (AlertState.FIRING, AlertState.RESOLVED),
        (AlertState.PENDING, AlertState.RESOLVED),
    } <= kinds
    _, events = rows(expected_state)
    assert any(e["note"].startswith("severity") for e in events)
    assert any(e["note"].startswith("condition cleared (absent for 5") for e in events)
    assert any(e["note"].startswith("condition cleared (absent for 60") for e in events)
    alerts, _ = rows(expected_state)
    open_ids = {a["subject"] for a in alerts if a["state"] != "resolved"}
    assert SUBJECTS[3].id in open_ids  # outside the subjects: left open
    assert len(alerts) > 100
    expected_state.close()
    state.close()


def test_replay_refuses_classes_that_share_rules() -> None:
    times = np.arange(T0.timestamp(), T0.timestamp() + 3600, 300.0)
    one = ClassResult(("excursion.humidity_high",))
    other = ClassResult(("excursion.humidity_high", "fluctuation.humidity"))
    with pytest.raises(ValueError, match=r"share rules \['excursion.humidity_high'\]"):
        replay([(times, one), (times, other)])


def test_backtest_needs_an_empty_state() -> None:
    topology = network(sites=1, rooms_per_site=1, sensors_per_room=2)
    end = T0 + timedelta(days=2)
    series = history(topology, T0, end)
    state = AlertStore(":memory:")
    first = backtest(
        None,
        topology,
        RulesConfig.builtin(),
        T0 + timedelta(days=1),
        end,
        history=series,
        state=state,
    )
    assert first.episodes
    with pytest.raises(ValueError, match="needs an empty alert state"):
        backtest(
            None,
            topology,
            RulesConfig.builtin(),
            T0 + timedelta(days=1),
            end,
            history=series,
            state=state,
        )
    state.close()


def test_four_synthetic_months_replayed_by_episodes_leave_the_stepped_state() -> None:
    """Four months of four sensors (the benchmark's storeroom climate with damp spells every
    ten days, a five-hour gap, a surface sensor): the backtest by episodes and stepped
    (buffered) give the same result and the same alert and event tables. (The benchmark
    compares the whole year of 50 sensors the same way.)"""
    topology = network(sites=1, rooms_per_site=1, sensors_per_room=4)
    end = T0 + timedelta(days=120)
    series = history(topology, T0 - timedelta(days=35), end)
    results: list[BacktestResult] = []
    tables = []
    lifecycles: tuple[Lifecycle, ...] = ("buffered", "episodes")
    for lifecycle in lifecycles:
        state = AlertStore(":memory:")
        results.append(
            backtest(
                None,
                topology,
                RulesConfig.builtin(),
                T0,
                end,
                history=series,
                evaluator="fleet",
                lifecycle=lifecycle,
                state=state,
            )
        )
        tables.append(rows(state))
        state.close()
    stepped_result, by_episodes = results
    assert by_episodes.episodes == stepped_result.episodes
    assert by_episodes.transitions == stepped_result.transitions
    assert by_episodes.evaluations == stepped_result.evaluations
    assert by_episodes.cleared_before_firing == stepped_result.cleared_before_firing
    assert tables[1] == tables[0]
    assert len(stepped_result.episodes) > 50
    assert len(tables[0][1]) > 3 * len(stepped_result.episodes)
