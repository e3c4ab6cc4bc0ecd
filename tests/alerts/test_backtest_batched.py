"""The backtest's batched lifecycles give exactly the results of one transaction per step.

`BufferedAlerts` keeps the open alerts in memory inside one long transaction and writes merged
updates and events in batches; the live engine writes each step in its own transaction. Both
run the same random sequences, each on its own SQLite state: the lifecycle's random findings
(`tests.alerts.test_lifecycle_batch.random_step`) with flushes at random steps, and whole
backtests (each `alerts.backtest.Lifecycle`) of a random history. Transitions of every step, the
alert and event rows, and the backtest's episodes must be equal — a batching error (a lost or
reordered update, a stale open alert, a late resolution hitting the one-open-alert index)
fails here.
"""

from __future__ import annotations

import random
from dataclasses import astuple
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from repoclimate.alerts.backtest import BacktestResult, Lifecycle, backtest, load_history
from repoclimate.alerts.config import RulesConfig
from repoclimate.alerts.lifecycle import apply_findings
from repoclimate.alerts.model import AlertState, Finding, Severity
from repoclimate.alerts.series import SensorSeries
from repoclimate.alerts.state import AlertStore
from repoclimate.alerts.state.alerts import AlertNotFoundError, BufferedAlerts
from repoclimate.alerts.state.schema import iso
from repoclimate.alerts.topology import Topology
from repoclimate.history.sqlite import SQLiteStore
from repoclimate.history.store import ReadsArrays
from repoclimate.sensors.reading import Reading
from tests.alerts.conftest import T0
from tests.alerts.test_golden import network
from tests.alerts.test_lifecycle_batch import RULES, SUBJECTS, random_step, rows


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_buffered_lifecycle_equals_one_transaction_per_step(tmp_path: Path, seed: int) -> None:
    reference = AlertStore(tmp_path / "per-step.sqlite")
    batched = AlertStore(tmp_path / "batched.sqlite")
    rng = random.Random(seed)
    all_subjects = [s.id for s in SUBJECTS]
    changed = 0
    flushes = 0
    with batched.transaction() as tx:
        buffered = BufferedAlerts(tx)
        for step in range(300):
            now = T0 + timedelta(minutes=5 * step)
            findings, held = random_step(rng, now)
            subjects = all_subjects if rng.random() < 0.9 else all_subjects[:2]
            track = rng.random() < 0.7
            with reference.transaction() as ref:
                expected = apply_findings(ref, findings, RULES, subjects, now, held, track)
                open_now = ref.open_brief(None)
            got = apply_findings(buffered, findings, RULES, subjects, now, held, track)
            assert got == expected, f"step {step}"
            assert buffered.snapshot() == open_now, f"open alerts after step {step}"
            assert [b.id for b in buffered.open_brief(None)] == [b.id for b in open_now]
            changed += len(got)
            if rng.random() < 0.05:
                buffered.flush()
                flushes += 1
        buffered.flush()
    assert changed > 300 and flushes > 5
    kinds = {(e.from_state, e.to_state) for e in reference.events()}
    assert {
        (None, AlertState.PENDING),
        (AlertState.PENDING, AlertState.FIRING),
        (AlertState.FIRING, AlertState.RESOLVED),
        (AlertState.PENDING, AlertState.RESOLVED),
        (AlertState.FIRING, AlertState.FIRING),  # a severity change
    } <= kinds
    assert rows(batched) == rows(reference)
    reference.close()
    batched.close()


def test_a_resolution_not_yet_written_does_not_block_the_next_alert(tmp_path: Path) -> None:
    """Resolved in memory, then opened again for the same rule and subject before any flush:
    the resolution is written first (the unique index of open alerts would refuse the new
    one), and both alerts end as one transaction per step leaves them."""
    reference = AlertStore(tmp_path / "per-step.sqlite")
    batched = AlertStore(tmp_path / "batched.sqlite")
    subject = SUBJECTS[0]

    def finding(minutes: int) -> Finding:
        return Finding(
            rule=RULES[0],
            subject=subject,
            severity=Severity.WARNING,
            since=T0 + timedelta(minutes=minutes),
            value=70.0,
            threshold=60.0,
            unit="%RH",
            summary="RH 70.0",
            advice="check the dehumidifier",
        )

    plan = [[finding(0)], [], [finding(10)], [finding(10)], []]
    with batched.transaction() as tx:
        buffered = BufferedAlerts(tx)
        for k, found in enumerate(plan):
            now = T0 + timedelta(minutes=5 * k)
            with reference.transaction() as ref:
                expected = apply_findings(ref, found, RULES, [subject.id], now)
            assert apply_findings(buffered, found, RULES, [subject.id], now) == expected
        buffered.flush()
    alerts, _ = rows(batched)
    assert [a["state"] for a in alerts] == ["resolved", "resolved"]
    assert rows(batched) == rows(reference)
    reference.close()
    batched.close()


def test_buffered_alerts_refuse_what_they_do_not_track(tmp_path: Path) -> None:
    store = AlertStore(tmp_path / "state.sqlite")
    with store.transaction() as tx:
        buffered = BufferedAlerts(tx)
        with pytest.raises(AlertNotFoundError, match="alert 7 is not open"):
            buffered.update_alerts([(7, {"last_seen": T0})], T0)
        finding = Finding(
            rule=RULES[0],
            subject=SUBJECTS[0],
            severity=Severity.WARNING,
            since=T0,
            value=70.0,
            threshold=60.0,
            unit="%RH",
            summary="RH 70.0",
            advice="",
        )
        (alert_id,) = buffered.insert_alerts([(finding, AlertState.PENDING)], T0)
        with pytest.raises(ValueError, match=f"alert {alert_id}: buffered alerts keep their rule"):
            buffered.update_alerts([(alert_id, {"rule": "other"})], T0)
        assert buffered.brief(alert_id) == buffered.snapshot()[0]
        assert buffered.snapshot()[0].rule == RULES[0]  # the refused update changed nothing
    store.close()


def test_a_brief_is_a_copy_the_next_update_leaves_alone(tmp_path: Path) -> None:
    """The open alerts are updated in place: a brief handed out keeps what it said, while
    `open_brief` reads the new values."""
    store = AlertStore(tmp_path / "state.sqlite")
    finding = Finding(
        rule=RULES[0],
        subject=SUBJECTS[0],
        severity=Severity.WARNING,
        since=T0,
        value=70.0,
        threshold=60.0,
        unit="%RH",
        summary="RH 70.0",
        advice="",
    )
    with store.transaction() as tx:
        buffered = BufferedAlerts(tx)
        (alert_id,) = buffered.insert_alerts([(finding, AlertState.PENDING)], T0)
        before = buffered.brief(alert_id)
        later = T0 + timedelta(minutes=5)
        changed = {"last_seen": later, "value": 75.0, "severity": Severity.CRITICAL}
        buffered.update_alerts([(alert_id, changed)], later)
        assert before is not None and before.value == 70.0
        assert before.severity is Severity.WARNING
        (now,) = buffered.open_brief(None)
        assert (now.value, now.severity, now.last_seen) == (75.0, Severity.CRITICAL, iso(later))
        buffered.update_alerts([(alert_id, {"state": AlertState.RESOLVED})], later)
        assert buffered.open_brief(None) == [] and buffered.brief(alert_id) is None
    store.close()


def random_history(topology: Topology, seed: int, days: int) -> dict[str, SensorSeries]:
    """Random walks of temperature and RH around the bands' edges, with damp spells, gaps
    (held and silent steps) and a sensor that stops."""
    rng = np.random.default_rng(seed)
    end = T0 + timedelta(days=days)
    out: dict[str, SensorSeries] = {}
    for n, sensor in enumerate(topology.sensors()):
        times = np.arange(T0.timestamp(), end.timestamp() + 1, sensor.expected_interval_s)
        t = 19.0 + np.cumsum(rng.normal(0, 0.08, times.size)).clip(-6, 6)
        rh = 50.0 + np.cumsum(rng.normal(0, 0.4, times.size)).clip(-25, 25)
        for first in rng.uniform(times[0], times[-1], size=days // 2):
            rh[(times >= first) & (times < first + rng.uniform(1, 30) * 3600)] += rng.uniform(8, 30)
        keep = np.ones(times.size, dtype=np.bool_)
        for first in rng.uniform(times[0], times[-1], size=3):
            keep &= ~((times >= first) & (times < first + rng.uniform(0.2, 8) * 3600))
        if n == 3:
            keep &= times < times[0] + 0.7 * (times[-1] - times[0])
        battery = np.where(np.arange(times.size) % 12 == 0, 80.0, np.nan)
        out[sensor.id] = SensorSeries(
            sensor.id,
            times[keep],
            t[keep].round(2),
            rh[keep].clip(0, 100).round(1),
            battery[keep],
            T0.timestamp(),
        )
    return out


def outcome(result: BacktestResult) -> tuple[Any, ...]:
    return (
        [astuple(e) for e in result.episodes],
        result.transitions,
        result.cleared_before_firing,
        result.evaluations,
    )


@pytest.mark.parametrize("seed", [11, 12])
def test_batched_backtest_equals_one_transaction_per_step(seed: int) -> None:
    """All three lifecycles (`alerts.backtest.Lifecycle`) give the same episodes, transitions,
    counts and alert state, table by table."""
    topology = network(sites=1, rooms_per_site=2, sensors_per_room=4)
    history = random_history(topology, seed, days=12)
    start = T0 + timedelta(days=4)
    end = T0 + timedelta(days=12)
    rules = RulesConfig.builtin()
    results = []
    tables = []
    lifecycles: tuple[Lifecycle, ...] = ("transactions", "buffered", "episodes")
    for lifecycle in lifecycles:
        state = AlertStore(":memory:")
        results.append(
            backtest(
                None,
                topology,
                rules,
                start,
                end,
                history=history,
                evaluator="fleet",
                lifecycle=lifecycle,
                state=state,
            )
        )
        tables.append(rows(state))
        state.close()
    assert outcome(results[1]) == outcome(results[0])
    assert outcome(results[2]) == outcome(results[0])
    assert tables[1] == tables[0] and tables[2] == tables[0]
    fired = {e.rule.split(".")[0] for e in results[0].episodes}
    assert {"excursion", "fluctuation", "condensation", "sensor"} <= fired
    assert results[0].cleared_before_firing > 0
    assert any(e.resolved_at is not None for e in results[0].episodes)


def test_history_from_the_sqlite_store_as_arrays_equals_the_readings(tmp_path: Path) -> None:
    """`load_history` reads the SQLite store's columns (`SQLiteStore.history_arrays`) into the
    very series that `Store.history`'s `Reading`s give: the same times to the bit (whole
    microseconds), NaN where a quantity is missing, the range's ends as `history` has them."""
    topology = network(sites=1, rooms_per_site=1, sensors_per_room=3)
    store = SQLiteStore(tmp_path / "readings.sqlite")
    rng = np.random.default_rng(7)
    start = T0 + timedelta(hours=1)
    end = T0 + timedelta(hours=30)
    for n, sensor in enumerate(topology.sensors()):
        if n == 2:
            continue  # never heard
        offsets = np.sort(rng.uniform(0, 32 * 3600, 400)).round(6)
        offsets[:2] = [3600.0, 30 * 3600.0]  # exactly on both ends
        readings = []
        for k, offset in enumerate(offsets.tolist()):
            when = T0 + timedelta(seconds=offset)
            readings.append(
                Reading(
                    sensor.id,
                    when,
                    None if k % 17 == 0 else round(float(rng.normal(19, 2)), 3),
                    None if k % 23 == 5 and k % 17 else float(rng.uniform(30, 70)),
                    80.0 - k / 10 if k % 12 == 0 else None,
                    None,
                    sensor.site,
                    sensor.room,
                )
            )
        rng.shuffle(readings)  # type: ignore[arg-type]
        store.write(readings)
    assert isinstance(store, ReadsArrays)
    from_arrays = load_history(store, topology, start, end)

    class ReadingsOnly:
        def history(self, sensor: str, start: datetime, end: datetime) -> list[Reading]:
            return store.history(sensor, start, end)

    from_readings = load_history(ReadingsOnly(), topology, start, end)  # type: ignore[arg-type]
    assert from_arrays.keys() == from_readings.keys() == {s.id for s in topology.sensors()}
    for sid, expected in from_readings.items():
        got = from_arrays[sid]
        assert got.start == expected.start
        for name in ("times", "temperature", "humidity", "battery"):
            assert np.array_equal(getattr(got, name), getattr(expected, name), equal_nan=True)
    lengths = sorted(len(s) for s in from_arrays.values())
    assert lengths[0] == 0 and lengths[1] > 300
    assert any(
        np.isnan(s.temperature).any() and np.isnan(s.humidity).any() for s in from_arrays.values()
    )
    store.close()
