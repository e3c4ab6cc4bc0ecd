"""The engine's transaction reads the open alerts once and keeps them in step with its writes
(`Tx.keep_open`), and writes the same texts to many alerts in shared ``UPDATE … WHERE id IN``
statements (`Tx.update_alerts`): after any sequence of writes, what the kept rows answer is what
the database answers, and the shared statements leave the rows one update per alert leaves. On
SQLite and on PostgreSQL."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from repoclimate.alerts.model import AlertState, Finding, Severity, Subject
from repoclimate.alerts.state import Tx
from repoclimate.alerts.state.alerts import SHARED_CHUNK, BufferedAlerts
from tests.alerts.test_lifecycle_batch import rows as state_rows
from tests.alerts.test_state_reads import NOW, RULES, filled, random_alerts
from tests.alerts.test_state_reads import two_targets as two_targets  # a fixture


def _as_read(tx: Tx) -> tuple[Any, Any, Any]:
    """What the database answers in ``tx`` (a `Tx` on its connection that keeps nothing)."""
    fresh = Tx(tx.conn)
    return fresh.open_brief(None), fresh.open_brief([RULES[1]]), fresh.open_read().alerts()


def _kept(tx: Tx) -> tuple[Any, Any, Any]:
    return tx.open_brief(None), tx.open_brief([RULES[1]]), tx.open_read().alerts()


def _finding(i: int, value: float) -> Finding:
    return Finding(
        rule=RULES[i % 2],
        subject=Subject("city", "stack-9", f"n{i}"),
        severity=Severity.WARNING,
        since=NOW,
        value=value,
        threshold=60.0,
        unit="%RH",
        summary=f"RH {value}",
        advice="check the dehumidifier",
    )


def _random_changes(rng: random.Random, ids: list[int], step: int) -> list[tuple[int, Any]]:
    """Changes as the lifecycle and dispatch make them: most alerts only seen (``last_seen``
    to now), some with a value (0.0 and -0.0 among them), a severity or a note of what was
    told, some resolved."""
    now = NOW + timedelta(minutes=5 * step)
    changes: list[tuple[int, Any]] = []
    for alert_id in rng.sample(ids, k=len(ids) * 3 // 4):
        kind = rng.random()
        fields: dict[str, Any] = {"last_seen": now}
        if kind < 0.1:
            fields["value"] = rng.choice([0.0, -0.0, 61.5])
        elif kind < 0.15:
            fields["severity"] = Severity.CRITICAL
        elif kind < 0.2:
            fields = {"notified_state": "firing", "last_notified_at": now}
        elif kind < 0.25:
            fields = {"state": AlertState.RESOLVED, "resolved_at": now}
        changes.append((alert_id, fields))
    return changes


def test_kept_open_rows_answer_as_the_database_after_every_write(state_target: str) -> None:
    store = filled(state_target, random_alerts(3, count=120))
    rng = random.Random(3)
    with store.transaction() as tx:
        tx.keep_open()
        assert _kept(tx) == _as_read(tx)
        for step in range(1, 7):
            now = NOW + timedelta(minutes=5 * step)
            ids = [brief.id for brief in tx.open_brief(None)]
            tx.update_alerts(_random_changes(rng, ids, step), now)
            assert _kept(tx) == _as_read(tx), step
            if step % 2:  # new alerts: many at once, and one
                opened = [(_finding(100 * step + i, 70.0), AlertState.PENDING) for i in range(3)]
                tx.insert_alerts(opened, now)
                tx.insert_alert(_finding(100 * step + 50, 71.0), AlertState.FIRING, now)
            else:  # one alert at a time, as dispatch and acknowledgements write
                tx.update_alert(ids[0], now, state=AlertState.ACKNOWLEDGED, acknowledged_by="bob")
                tx.update_alert(ids[1], now, state=AlertState.RESOLVED, resolved_at=now)
            assert _kept(tx) == _as_read(tx), step
        # the backtest's buffered writes, through the same rows
        buffered = BufferedAlerts(tx)
        (first, *_) = buffered.open_brief(None)
        buffered.update_alerts([(first.id, {"value": -0.0, "summary": "back"})], NOW)
        buffered.flush()
        assert _kept(tx) == _as_read(tx)
    store.close()


def test_shared_updates_leave_the_rows_one_update_per_alert_leaves(
    two_targets: tuple[str, str],
) -> None:
    """More alerts than one shared statement holds (the last one filled up with a repeated
    id), given the same times; among them, alerts given numbers (0.0 and -0.0 are not the
    same value) and a state."""
    count = 2 * SHARED_CHUNK + 7
    rows = [
        {**row, "subject": f"city/stack-{i}/x{i}", "sensor": f"x{i}", "room": f"stack-{i}"}
        for i, row in enumerate(random_alerts(5, count=count))
    ]
    shared = filled(two_targets[0], rows)
    one_by_one = filled(two_targets[1], rows)
    now = NOW + timedelta(minutes=5)
    changes: list[tuple[int, dict[str, Any]]] = []
    for i, alert_id in enumerate(range(1, count + 1)):
        if i % 97 == 5:
            changes.append((alert_id, {"last_seen": now, "value": 0.0 if i % 2 else -0.0}))
        elif i % 89 == 3:
            changes.append((alert_id, {"state": AlertState.RESOLVED, "resolved_at": now}))
        else:
            changes.append((alert_id, {"last_seen": now}))
    with shared.transaction() as tx:
        tx.update_alerts(changes, now)
    with one_by_one.transaction() as tx:
        for alert_id, fields in changes:
            tx.update_alert(alert_id, now, **fields)
    # repr: 0.0 == -0.0, but PostgreSQL keeps the sign
    assert repr(state_rows(shared)) == repr(state_rows(one_by_one))
    shared.close()
    one_by_one.close()
