"""The alert state machine and its stored state, on SQLite and on PostgreSQL: transitions, events,
one open alert per rule and subject, acknowledgement, survival across a restart (migrations:
test_state.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from repoclimate.alerts.lifecycle import acknowledge, apply_findings, resolve_removed
from repoclimate.alerts.model import AlertState, Finding, Severity, Subject
from repoclimate.alerts.state import AlertNotFoundError, AlertStore, TransitionError
from tests.alerts.conftest import T0

RULE = "excursion.humidity_high"
SUBJECT = Subject("city", "stack-3", "s1")


def finding(
    severity: Severity = Severity.WARNING,
    since_h: float = 0.0,
    value: float = 70.0,
    for_s: float = 3600.0,
    clear_s: float = 0.0,
) -> Finding:
    return Finding(
        rule=RULE,
        subject=SUBJECT,
        severity=severity,
        since=T0 + timedelta(hours=since_h),
        value=value,
        threshold=60.0,
        unit="%RH",
        summary=f"RH {value}",
        advice="check the dehumidifier",
        for_s=for_s,
        clear_s=clear_s,
    )


def apply(state: AlertStore, found: list[Finding], hours: float) -> list[AlertState]:
    with state.transaction() as tx:
        changes = apply_findings(tx, found, [RULE], [SUBJECT.id], T0 + timedelta(hours=hours))
    return [c.to_state for c in changes]


def test_pending_firing_resolved_with_events(state_target: str) -> None:
    state = AlertStore(state_target)
    assert apply(state, [finding()], 0.5) == [AlertState.PENDING]
    assert apply(state, [finding(value=72)], 0.9) == []
    assert apply(state, [finding(value=75)], 1.0) == [AlertState.FIRING]
    (alert,) = state.open_alerts()
    assert alert.state is AlertState.FIRING
    assert alert.fired_at == T0 + timedelta(hours=1)
    assert alert.value == 75 and alert.peak_value == 75 and alert.threshold == 60
    assert alert.since == T0
    assert apply(state, [], 2.0) == [AlertState.RESOLVED]
    assert state.open_alerts() == []
    events = state.events(alert.id)
    assert [(e.from_state, e.to_state) for e in events] == [
        (None, AlertState.PENDING),
        (AlertState.PENDING, AlertState.FIRING),
        (AlertState.FIRING, AlertState.RESOLVED),
    ]
    assert all(e.actor == "engine" for e in events)
    assert state.get(alert.id).resolved_at == T0 + timedelta(hours=2)


def test_one_open_alert_per_rule_and_subject(state_target: str) -> None:
    state = AlertStore(state_target)
    apply(state, [finding(), finding(Severity.CRITICAL)], 2.0)
    apply(state, [finding()], 2.5)
    (alert,) = state.open_alerts()
    assert alert.severity is Severity.WARNING  # the later evaluation said warning
    with pytest.raises(IntegrityError), state.transaction() as tx:
        tx.insert_alert(finding(), AlertState.PENDING, T0)
    apply(state, [], 3.0)
    apply(state, [finding(since_h=3.5)], 5.0)
    assert len(state.list_alerts()) == 2  # a new episode is a new alert


def test_severity_change_is_recorded(state_target: str) -> None:
    state = AlertStore(state_target)
    apply(state, [finding()], 1.0)
    apply(state, [finding(Severity.CRITICAL, value=80)], 1.5)
    (alert,) = state.open_alerts()
    assert alert.severity is Severity.CRITICAL
    assert "warning → critical" in state.events(alert.id)[-1].note


def test_held_subjects_keep_their_state(state_target: str) -> None:
    state = AlertStore(state_target)
    apply(state, [finding()], 1.0)
    with state.transaction() as tx:
        apply_findings(tx, [], [RULE], [SUBJECT.id], T0 + timedelta(hours=2), [(RULE, SUBJECT.id)])
    assert len(state.open_alerts()) == 1
    with state.transaction() as tx:  # a subject not evaluated is left alone too
        apply_findings(tx, [], [RULE], ["city/stack-3/other"], T0 + timedelta(hours=2))
    assert len(state.open_alerts()) == 1


def test_acknowledge(state_target: str) -> None:
    state = AlertStore(state_target)
    apply(state, [finding()], 0.5)
    (pending,) = state.open_alerts()
    with pytest.raises(TransitionError, match="pending"), state.transaction() as tx:
        acknowledge(tx, pending.id, "alice", T0)
    apply(state, [finding()], 1.0)
    with pytest.raises(TransitionError, match="token"), state.transaction() as tx:
        acknowledge(tx, pending.id, "alice", T0, token="wrong")
    with state.transaction() as tx:
        acked = acknowledge(
            tx, pending.id, "alice", T0 + timedelta(hours=1.2), "on my way", token=pending.ack_token
        )
    assert acked.state is AlertState.ACKNOWLEDGED
    assert acked.acknowledged_by == "alice"
    last = state.events(acked.id)[-1]
    assert (last.actor, last.note, last.to_state) == ("alice", "on my way", AlertState.ACKNOWLEDGED)
    with (
        pytest.raises(TransitionError, match="already acknowledged by alice"),
        state.transaction() as tx,
    ):
        acknowledge(tx, pending.id, "bob", T0)
    with pytest.raises(AlertNotFoundError), state.transaction() as tx:
        acknowledge(tx, 999, "bob", T0)
    # acknowledged alerts still resolve when the condition clears
    assert apply(state, [], 3.0) == [AlertState.RESOLVED]


def test_firing_alert_is_held_open_until_absent_for_its_clear_time(state_target: str) -> None:
    state = AlertStore(state_target)
    held = finding(clear_s=3600.0)
    assert apply(state, [held], 1.0) == [AlertState.PENDING, AlertState.FIRING]
    assert apply(state, [], 1.5) == []  # absent for 30 min: held open
    assert apply(state, [finding(since_h=1.8, clear_s=3600.0)], 1.8) == []  # back: same alert
    assert apply(state, [], 2.5) == []
    assert apply(state, [], 2.75) == []  # 57 min since last seen at 1.8 h
    assert apply(state, [], 2.8) == [AlertState.RESOLVED]
    (alert,) = state.list_alerts()
    assert alert.resolved_at == T0 + timedelta(hours=2.8)
    assert alert.since == T0  # the first episode's start
    assert [(e.to_state, e.note) for e in state.events(alert.id)][-1] == (
        AlertState.RESOLVED,
        "condition cleared (absent for 60 min)",
    )


def test_acknowledged_alert_is_held_open_too(state_target: str) -> None:
    state = AlertStore(state_target)
    apply(state, [finding(clear_s=3600.0)], 1.0)
    (alert,) = state.open_alerts()
    with state.transaction() as tx:
        acknowledge(tx, alert.id, "alice", T0 + timedelta(hours=1.1))
    assert apply(state, [], 1.5) == []
    assert apply(state, [finding(since_h=1.7, clear_s=3600.0)], 1.7) == []
    assert [a.state for a in state.open_alerts()] == [AlertState.ACKNOWLEDGED]
    assert apply(state, [], 2.7) == [AlertState.RESOLVED]


def test_pending_alert_clears_at_once_despite_a_clear_time(state_target: str) -> None:
    state = AlertStore(state_target)
    assert apply(state, [finding(clear_s=86400.0)], 0.5) == [AlertState.PENDING]
    assert apply(state, [], 0.6) == [AlertState.RESOLVED]
    (alert,) = state.list_alerts()
    assert alert.resolved_at == T0 + timedelta(hours=0.6)
    assert state.events(alert.id)[-1].note == "cleared before firing"


def test_state_survives_a_restart(state_target: str) -> None:
    path = state_target
    state = AlertStore(path)
    apply(state, [finding(clear_s=3600.0)], 1.0)
    state.close()
    reopened = AlertStore(path)
    (alert,) = reopened.open_alerts()
    assert alert.state is AlertState.FIRING
    assert (alert.clear_s, alert.last_seen) == (3600.0, T0 + timedelta(hours=1))
    assert apply(reopened, [finding(clear_s=3600.0)], 1.5) == []  # same alert, no new transition
    assert len(reopened.list_alerts()) == 1
    reopened.close()
    again = AlertStore(path)  # the clear-hold counts from the stored last_seen
    assert apply(again, [], 2.4) == []
    assert apply(again, [], 2.5) == [AlertState.RESOLVED]


def test_removed_sensor_is_resolved_once_by_overlapping_runs(state_target: str) -> None:
    """Two class jobs read the open alerts before either resolves the one of a sensor taken out
    of the registry: the second sees it resolved already and records nothing more."""
    state = AlertStore(state_target)
    apply(state, [finding(since_h=-2)], 0.0)
    stale = state.open_alerts()
    assert [a.state for a in stale] == [AlertState.FIRING]
    for minutes in (1, 2):
        with state.transaction() as tx:
            resolve_removed(tx, stale, known=set(), now=T0 + timedelta(minutes=minutes))
    (alert,) = state.list_alerts()
    assert alert.resolved_at == T0 + timedelta(minutes=1)
    events = state.events(alert.id)
    assert [e.to_state for e in events].count(AlertState.RESOLVED) == 1


def test_a_failed_transaction_leaves_nothing(state_target: str) -> None:
    state = AlertStore(state_target)
    with pytest.raises(RuntimeError), state.transaction() as tx:
        apply_findings(tx, [finding()], [RULE], [SUBJECT.id], T0 + timedelta(hours=1))
        raise RuntimeError("crash between the state change and its outbox rows")
    assert state.list_alerts() == []
