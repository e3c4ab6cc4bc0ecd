"""The engine's per-cycle reads and writes of the alert state, made cheap without changing what
they give: open alerts built from plain rows equal those built from mappings; the dispatcher
reads only the alerts that can need a notification, and decides exactly what it decides when
it reads them all; the lifecycle reads the open alerts once per evaluation and writes only the
columns that change. On SQLite and on PostgreSQL."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from repoclimate.alerts.dispatch import Dispatcher
from repoclimate.alerts.lifecycle import ReadOnce, acknowledge, apply_findings
from repoclimate.alerts.model import AlertState, Finding, Severity, Subject
from repoclimate.alerts.rota import Rota
from repoclimate.alerts.state import AlertStore, iso
from repoclimate.alerts.state.alerts import AlertRows, _alert, _bookkeeping
from repoclimate.alerts.state.schema import alerts
from tests.alerts.conftest import T0
from tests.alerts.test_dispatch import ROTA
from tests.alerts.test_lifecycle_batch import rows as state_rows
from tests.servers import PostgreSQL

RULES = ("excursion.humidity_high", "excursion.temperature_low")
NOW = T0 + timedelta(hours=10)
MINUTES = (None, 0, 29, 30, 31, 119, 120, 121, 239, 240, 241, 600)
"""How long before ``NOW`` a bookkeeping time lies (None: not set): either side of the
ROTA's escalation steps (0, 30, 120 min) and reminder (240 min)."""


def _ago(rng: random.Random, minutes: Sequence[int | None] = MINUTES) -> str | None:
    chosen = rng.choice(minutes)
    return None if chosen is None else iso(NOW - timedelta(minutes=chosen))


def random_alerts(seed: int, count: int = 160) -> list[dict[str, Any]]:
    """Alerts in every combination of state, paging, bookkeeping and times the dispatcher
    tells apart (each its own subject: at most one open per rule and subject)."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        state = rng.choice(list(AlertState))
        subject = (
            Subject("city", None, None, f"channel:c{i}")
            if i % 17 == 0
            else Subject("city", f"stack-{i % 3}", f"s{i}")
        )
        told = rng.choice([None, "firing", "acknowledged", "resolved"])
        out.append(
            dict(
                rule=RULES[i % 2],
                subject=subject.id,
                site=subject.site,
                room=subject.room,
                sensor=subject.sensor,
                subject_key=subject.key,
                state=state.value,
                severity=int(rng.choice([Severity.INFO, Severity.WARNING, Severity.CRITICAL])),
                since=iso(NOW - timedelta(hours=5)),
                value=float(rng.choice([61.0, -0.0, 75.5])),
                threshold=60.0,
                peak_value=rng.choice([None, 80.0]),
                unit="%RH",
                summary=f"RH high at s{i}",
                advice="check the dehumidifier",
                page=int(rng.random() < 0.8),
                for_s=0.0,
                created_at=iso(NOW - timedelta(hours=5)),
                updated_at=iso(NOW - timedelta(hours=1)),
                fired_at=_ago(rng),
                acknowledged_at=_ago(rng) if state is AlertState.ACKNOWLEDGED else None,
                acknowledged_by=rng.choice([None, "bob"]),
                resolved_at=_ago(rng) if state is AlertState.RESOLVED else None,
                ack_token=f"token-{i}",
                notified_state=told,
                notified_severity=rng.choice([None, 1, 2, 3]),
                first_notified_at=_ago(rng),
                last_notified_at=_ago(rng),
                escalation_step=rng.choice([-2, -1, 0, 1, 2, 3]),
                recipients=rng.choice(['["alice"]', '["alice", "bob"]', "[]"]),
                clear_s=rng.choice([0.0, 3600.0]),
                last_seen=_ago(rng, (None, 0, 5, 45, 130, 250)),
            )
        )
    return out


def filled(target: str, rows: list[dict[str, Any]]) -> AlertStore:
    store = AlertStore(target)
    with store.transaction() as tx:
        tx.conn.execute(insert(alerts), rows)
        tx.insert_silence(
            site="city",
            room="stack-1",
            sensor=None,
            rule=None,
            starts_at=NOW - timedelta(hours=1),
            ends_at=NOW + timedelta(hours=1),
            reason="maintenance",
            created_by="alice",
            now=NOW - timedelta(hours=1),
        )
    return store


def test_open_alerts_from_rows_equal_those_from_mappings(state_target: str) -> None:
    store = filled(state_target, random_alerts(1))
    with store.transaction() as tx:
        query = select(alerts).order_by(alerts.c.id)
        every = [(_alert(row), _bookkeeping(row)) for row in tx.conn.execute(query).mappings()]
        open_ = [pair for pair in every if pair[0].state is not AlertState.RESOLVED]
        assert tx.open_alerts() == open_
        assert tx.open_alerts([RULES[1]]) == [p for p in open_ if p[0].rule == RULES[1]]
        told = [
            pair
            for pair in every
            if pair[0].state is not AlertState.RESOLVED
            or pair[1].notified_state not in (None, "resolved")
        ]
        assert tx.needing_dispatch() == told
        keys = [(a.id, a.rule, a.subject, a.severity) for a, _ in open_]
        assert [tuple(key) for key in tx.open_keys()] == keys
    assert store.open_alerts() == [alert for alert, _ in open_]
    store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def two_targets(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if request.param == "sqlite":
        return str(tmp_path / "narrow.sqlite"), str(tmp_path / "all.sqlite")
    server: PostgreSQL = request.getfixturevalue("postgresql")
    name = tmp_path.name.replace("-", "_").lower()
    return server.create_database(f"{name}_narrow"), server.create_database(f"{name}_all")


@pytest.mark.parametrize(("seed", "reminders"), [(1, True), (2, False)])
def test_dispatch_reading_only_alerts_that_can_need_it_decides_the_same(
    two_targets: tuple[str, str], seed: int, reminders: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two states alike; one dispatched as the engine does, the other reading every open and
    untold alert (``needing_dispatch`` without its time filter): the same notifications and
    the same rows, at times either side of escalation and reminder times."""
    rows = random_alerts(seed)
    narrow = filled(two_targets[0], rows)
    rota = dict(ROTA) if reminders else {**ROTA, "reminder_minutes": None}
    dispatcher = Dispatcher(Rota.model_validate(rota))
    read_all = AlertRows.needing_dispatch
    sizes: list[tuple[int, int]] = []

    def counted(self: AlertRows, due: Any = None) -> Any:
        found = read_all(self, due)
        sizes.append((len(found), len(read_all(self))))
        return found

    results: dict[str, list[Any]] = {"narrow": [], "all": []}
    for minutes in (0, 1, 31, 125, 245, 250):
        now = NOW + timedelta(minutes=minutes)
        with monkeypatch.context() as patch:
            patch.setattr(AlertRows, "needing_dispatch", counted)
            with narrow.transaction() as tx:
                results["narrow"].append(dispatcher.dispatch(tx, now))
        results["narrow"].append(state_rows(narrow)[0])
    narrow_outbox = [_outbox_fields(row) for row in narrow.outbox()]
    narrow.close()

    full = filled(two_targets[1], rows)
    for minutes in (0, 1, 31, 125, 245, 250):
        now = NOW + timedelta(minutes=minutes)
        with monkeypatch.context() as patch:
            patch.setattr(AlertRows, "needing_dispatch", lambda self, due=None: read_all(self))
            with full.transaction() as tx:
                results["all"].append(dispatcher.dispatch(tx, now))
        results["all"].append(state_rows(full)[0])
    full_outbox = [_outbox_fields(row) for row in full.outbox()]
    full.close()

    assert results["narrow"] == results["all"]
    assert narrow_outbox == full_outbox and narrow_outbox
    assert all(found < every for found, every in sizes), sizes  # the filter leaves some out
    assert any(found > 0 for found, _ in sizes)


def _outbox_fields(row: Any) -> tuple[Any, ...]:
    return (row.kind, row.group_key, row.alert_ids, row.person, row.channel, row.target, row.text)


def _finding(rule: str, sensor: str, value: float, **changed: Any) -> Finding:
    base: dict[str, Any] = dict(
        rule=rule,
        subject=Subject("city", "stack-3", sensor),
        severity=Severity.WARNING,
        since=T0,
        value=value,
        threshold=60.0,
        unit="%RH",
        summary=f"RH {value}",
        advice="check the dehumidifier",
        for_s=0.0,
        clear_s=0.0,
    )
    base.update(changed)
    return Finding(**base)


class _Spy:
    """A `LifecycleRows` over a transaction that records the updates it is given."""

    def __init__(self, rows: Any) -> None:
        self.rows = rows
        self.updates: list[tuple[int, dict[str, Any]]] = []

    def open_brief(self, rules: Sequence[str] | None) -> Any:
        return self.rows.open_brief(rules)

    def insert_alerts(self, opened: Any, now: datetime) -> list[int]:
        result: list[int] = self.rows.insert_alerts(opened, now)
        return result

    def update_alerts(self, changes: Any, now: datetime) -> None:
        self.updates.extend(changes)
        self.rows.update_alerts(changes, now)

    def add_events(self, rows: Any) -> None:
        self.rows.add_events(rows)


def test_a_finding_like_the_stored_alert_writes_only_when_it_was_seen(state_target: str) -> None:
    store = AlertStore(state_target)
    subjects = {"city/stack-3/s1", "city/stack-3/s2"}
    first = [_finding(RULES[0], "s1", 70.0), _finding(RULES[0], "s2", 0.0)]
    with store.transaction() as tx:
        apply_findings(tx, first, [RULES[0]], subjects, T0)
    later = T0 + timedelta(minutes=5)
    again = [_finding(RULES[0], "s1", 70.0), _finding(RULES[0], "s2", -0.0, summary="RH 0.0")]
    with store.transaction() as tx:
        spy = _Spy(tx)
        apply_findings(spy, again, [RULES[0]], subjects, later)
    # s1: nothing changed but when it was seen; s2: -0.0 is not the stored 0.0
    assert [fields for _, fields in spy.updates] == [
        {"last_seen": later},
        {"last_seen": later, "value": -0.0},
    ]
    (s1, s2) = store.open_alerts()
    assert s1.last_seen == later and s1.value == 70.0
    assert s2.value == 0.0  # -0.0 on PostgreSQL; SQLite keeps no sign of a zero
    changed = T0 + timedelta(minutes=10)
    with store.transaction() as tx:
        spy = _Spy(tx)
        moved = _finding(RULES[0], "s1", 72.5, advice="open the vents", for_s=60.0, clear_s=9.0)
        apply_findings(spy, [moved], [RULES[0]], {"city/stack-3/s1"}, changed)
    assert spy.updates[0][1] == {
        "last_seen": changed,
        "clear_s": 9.0,
        "value": 72.5,
        "summary": "RH 72.5",
        "advice": "open the vents",
        "for_s": 60.0,
        "peak_value": 72.5,
    }
    (s1, _) = store.open_alerts()
    assert (s1.value, s1.advice, s1.for_s, s1.clear_s, s1.summary) == (
        72.5,
        "open the vents",
        60.0,
        9.0,
        "RH 72.5",
    )
    store.close()


def test_read_once_hands_each_rule_out_once_then_reads_again(state_target: str) -> None:
    store = AlertStore(state_target)
    subjects = {"city/stack-3/s1", "city/stack-3/s2"}
    with store.transaction() as tx:
        apply_findings(tx, [_finding(r, "s1", 70.0) for r in RULES], RULES, subjects, T0)
    with store.transaction() as tx:
        once = ReadOnce(tx)
        (first,) = once.open_brief([RULES[0]])
        assert first.rule == RULES[0]
        # a class sharing the rule: what the first opened must be seen, so read again
        both = [_finding(RULES[0], "s1", 70.0), _finding(RULES[0], "s2", 71.0)]
        apply_findings(once, both, [RULES[0]], subjects, T0)
        assert [b.subject for b in once.open_brief([RULES[0]])] == sorted(subjects)
        # a rule another call inserted alerts of, unasked: read again too
        other = "excursion.temperature_high"
        once.insert_alerts([(_finding(other, "s1", 30.0), AlertState.PENDING)], T0)
        assert [b.rule for b in once.open_brief([other])] == [other]
        (second,) = once.open_brief([RULES[1]])
        assert second.rule == RULES[1]
        assert len(once.open_brief(None)) == 4
    store.close()


def test_an_acknowledgement_from_another_connection_between_cycles_is_kept(
    state_target: str,
) -> None:
    """The engine reads the state afresh inside each evaluation's transaction: another
    connection's acknowledgement between two cycles is seen (no page again, the
    acknowledged notice sent) and not overwritten by the next cycle's update."""
    engine_state = AlertStore(state_target)
    api_state = AlertStore(state_target)
    dispatcher = Dispatcher(Rota.model_validate(ROTA))
    subjects = {"city/stack-3/s1"}
    for minutes in (0, 5, 10):
        now = T0 + timedelta(minutes=minutes)
        with engine_state.transaction() as tx:
            apply_findings(
                ReadOnce(tx), [_finding(RULES[0], "s1", 70.0 + minutes)], [RULES[0]], subjects, now
            )
            dispatcher.dispatch(tx, now)
        if minutes == 0:
            (alert,) = api_state.open_alerts()
            with api_state.transaction() as tx:
                acknowledge(tx, alert.id, "bob", now + timedelta(minutes=1))
    (alert,) = engine_state.open_alerts()
    assert alert.state is AlertState.ACKNOWLEDGED and alert.acknowledged_by == "bob"
    assert alert.value == 80.0
    kinds = [row.kind for row in engine_state.outbox()]
    assert list(dict.fromkeys(kinds)) == ["firing", "acknowledged"]
    engine_state.close()
    api_state.close()
