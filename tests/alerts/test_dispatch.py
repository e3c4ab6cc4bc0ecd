"""Routing along the rota: grouping, silences, escalation and reminders with injected time,
acknowledgement and all-clear notices, the digest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from repoclimate.alerts import actions
from repoclimate.alerts.dispatch import Dispatcher
from repoclimate.alerts.lifecycle import apply_findings
from repoclimate.alerts.model import Finding, Severity, Subject
from repoclimate.alerts.rota import Rota
from repoclimate.alerts.state import AlertStore
from repoclimate.sensors.yamlfile import ConfigError
from tests.alerts.conftest import T0, topology

RULE = "excursion.humidity_high"

ROTA = {
    "timezone": "Europe/London",
    "people": {
        "alice": {
            "contacts": [
                {"email": "alice@example.org"},
                {"webhook": "http://127.0.0.1:9/alice", "min_severity": "critical"},
            ]
        },
        "bob": {"contacts": [{"email": "bob@example.org"}]},
        "carol": {"contacts": [{"email": "carol@example.org"}]},
    },
    "shifts": [{"who": ["alice", "bob"]}],
    "escalation": [
        {"after_minutes": 0},
        {"after_minutes": 30},
        {"after_minutes": 120, "notify": ["carol"]},
    ],
    "reminder_minutes": 240,
    "broadcast": [{"mqtt": "repoclimate/alerts"}],
    "digest_to": ["carol"],
}


def found(
    sensor: str, severity: Severity = Severity.WARNING, rule: str = RULE, page: bool = True
) -> Finding:
    return Finding(
        rule,
        Subject("city", "stack-3", sensor),
        severity,
        T0,
        70.0,
        60.0,
        "%RH",
        f"RH 70 at {sensor}",
        "check the dehumidifier",
        0.0,
        page,
    )


class World:
    def __init__(self, rota: dict[str, object] = ROTA, group_wait_s: float = 0.0) -> None:
        self.state = AlertStore(":memory:")
        self.dispatcher = Dispatcher(
            Rota.model_validate(rota), topology(), "https://rc.example", group_wait_s
        )
        self.sensors = ["s1", "s2", "s3"]

    def step(
        self, minutes: float, findings: list[Finding], rules: tuple[str, ...] = (RULE,)
    ) -> list[tuple[str, str, str, tuple[int, ...]]]:
        now = T0 + timedelta(minutes=minutes)
        before = len(self.state.outbox())
        with self.state.transaction() as tx:
            apply_findings(
                tx,
                findings,
                rules,
                [f"city/stack-3/{s}" for s in self.sensors] + ["city/stack-3"],
                now,
            )
            self.dispatcher.dispatch(tx, now)
        return [(r.kind, r.channel, r.target, r.alert_ids) for r in self.state.outbox()[before:]]


def test_several_sensors_of_a_room_make_one_notification() -> None:
    w = World()
    rows = w.step(0, [found("s1"), found("s2"), found("s3")])
    assert sorted((k, c, t) for k, c, t, _ in rows) == [
        ("firing", "email", "alice@example.org"),
        ("firing", "mqtt", "repoclimate/alerts"),
    ]
    assert all(len(ids) == 3 for *_, ids in rows)
    message = w.state.outbox()[0]
    assert "(3 sensors)" in message.subject
    assert "Stack 3 — City Archives" in message.subject
    for needle in (
        "since: 2026-01-05 00:00 GMT",
        "check first: check the dehumidifier",
        "repoclimate alerts ack 1",
        "https://rc.example/alerts/1/ack?token=",
    ):
        assert needle in message.text
    assert message.payload["alerts"][0]["since"] == "2026-01-05T00:00:00+00:00"
    assert "<table" in message.html
    assert w.step(1, [found("s1"), found("s2"), found("s3")]) == []  # nothing new


def test_group_wait_gathers_sensors_that_fire_close_together() -> None:
    w = World(group_wait_s=300)
    assert w.step(0, [found("s1")]) == []
    assert w.step(2, [found("s1"), found("s2")]) == []
    rows = w.step(5, [found("s1"), found("s2")])
    assert {ids for *_, ids in rows} == {(1, 2)}


def test_no_all_clear_for_an_alert_acknowledged_before_anyone_was_told() -> None:
    """Acknowledged while its group was still waiting, the alert was never announced: when it
    resolves nobody (not even the broadcast channel) gets an all-clear for it."""
    w = World(group_wait_s=300)
    assert w.step(0, [found("s1")]) == []
    actions.acknowledge(w.state, 1, "bob", T0 + timedelta(minutes=1))
    assert w.step(2, [found("s1")]) == []
    assert w.step(10, []) == []
    assert w.state.outbox() == []


def test_critical_reaches_the_critical_only_contact() -> None:
    w = World()
    rows = w.step(0, [found("s1", Severity.CRITICAL)])
    assert ("firing", "webhook", "http://127.0.0.1:9/alice", (1,)) in rows


def test_escalation_acknowledgement_and_all_clear() -> None:
    w = World()
    f = [found("s1")]
    assert {t for _, c, t, _ in w.step(0, f) if c == "email"} == {"alice@example.org"}
    assert w.step(29, f) == []
    rows = w.step(30, f)
    assert [(k, t) for k, c, t, _ in rows if c == "email"] == [("escalation", "bob@example.org")]
    assert w.step(31, f) == []
    actions.acknowledge(w.state, 1, "bob", T0 + timedelta(minutes=40))
    rows = w.step(41, f)
    assert [(k, t) for k, c, t, _ in rows if c == "email"] == [
        ("acknowledged", "alice@example.org")
    ]
    assert w.step(130, f) == []  # acknowledged: carol is not called
    rows = w.step(200, [])
    assert sorted(t for k, c, t, _ in rows if c == "email") == [
        "alice@example.org",
        "bob@example.org",
    ]
    assert {k for k, *_ in rows} == {"resolved"}
    assert "All clear" in w.state.outbox()[-1].text


def test_unacknowledged_escalates_along_the_chain_then_reminds() -> None:
    w = World()
    f = [found("s1")]
    w.step(0, f)
    w.step(30, f)
    rows = w.step(120, f)
    assert [(k, t) for k, c, t, _ in rows if c == "email"] == [("escalation", "carol@example.org")]
    assert w.step(359, f) == []
    rows = w.step(360, f)  # 240 min after the last notification
    assert {(k, t) for k, c, t, _ in rows if c == "email"} == {
        ("reminder", "alice@example.org"),
        ("reminder", "bob@example.org"),
        ("reminder", "carol@example.org"),
    }


def test_silence_holds_notifications_until_it_ends() -> None:
    w = World()
    actions.silence(
        w.state,
        site="city",
        room="stack-3",
        rule="excursion",
        reason="maintenance",
        created_by="alice",
        now=T0,
        ends_at=T0 + timedelta(hours=2),
    )
    assert w.step(0, [found("s1")]) == []
    assert w.state.open_alerts()[0].state.value == "firing"  # still evaluated and recorded
    assert w.step(60, [found("s1")]) == []
    rows = w.step(121, [found("s1")])
    assert ("firing", "email", "alice@example.org", (1,)) in rows


def test_silence_of_another_room_or_rule_does_not_apply() -> None:
    w = World()
    actions.silence(
        w.state,
        site="city",
        room="stack-9",
        reason="x",
        created_by="a",
        now=T0,
        ends_at=T0 + timedelta(hours=2),
    )
    actions.silence(
        w.state, rule="mould", reason="x", created_by="a", now=T0, ends_at=T0 + timedelta(hours=2)
    )
    assert w.step(0, [found("s1")])


def test_silence_needs_a_matcher_a_reason_and_an_end() -> None:
    state = AlertStore(":memory:")
    with pytest.raises(actions.ActionError, match="match"):
        actions.silence(state, reason="x", created_by="a", now=T0, ends_at=T0 + timedelta(1))
    with pytest.raises(actions.ActionError, match="reason"):
        actions.silence(
            state, site="city", reason=" ", created_by="a", now=T0, ends_at=T0 + timedelta(1)
        )
    with pytest.raises(actions.ActionError, match="end after"):
        actions.silence(state, site="city", reason="x", created_by="a", now=T0, ends_at=T0)
    s = actions.silence(
        state, sensor="s1", reason="x", created_by="a", now=T0, ends_at=T0 + timedelta(hours=1)
    )
    actions.end_silence(state, s.id, T0 + timedelta(minutes=5))
    assert state.silences(active_at=T0 + timedelta(minutes=6)) == []
    with pytest.raises(actions.ActionError):
        actions.end_silence(state, s.id, T0 + timedelta(minutes=7))


def test_digest_goes_once_to_the_digest_reader() -> None:
    w = World()
    decay = Finding(
        "decay.twpi_falling",
        Subject("city", "stack-3"),
        Severity.INFO,
        T0,
        40.0,
        50.0,
        "years",
        "TWPI down",
        "review set points",
        0.0,
        page=False,
    )
    rows = w.step(0, [decay], rules=("decay.twpi_falling",))
    assert ("digest", "email", "carol@example.org", (1,)) in rows
    assert w.step(60 * 24, [decay], rules=("decay.twpi_falling",)) == []  # no escalation
    assert w.step(60 * 48, [], rules=("decay.twpi_falling",)) == []  # no all-clear
    assert "Weekly preservation digest" in w.state.outbox()[0].subject


def test_nobody_on_duty_is_recorded_not_dropped() -> None:
    w = World({"people": {}, "shifts": []})
    assert w.step(0, [found("s1")]) == [("firing", "log", "-", (1,))]


def test_rota_shifts_overnight_and_weekdays(tmp_path: Path) -> None:
    rota = Rota.load(Path("examples/rota.yaml"))
    london = rota.zone
    monday_10 = datetime(2026, 1, 5, 10, tzinfo=london)
    assert rota.on_duty(monday_10) == ["alice", "bob"]
    assert rota.on_duty(datetime(2026, 1, 5, 23, tzinfo=london)) == ["bob", "alice"]
    assert rota.on_duty(datetime(2026, 1, 6, 7, 59, tzinfo=london)) == ["bob", "alice"]
    assert rota.on_duty(datetime(2026, 1, 10, 12, tzinfo=london)) == ["bob", "alice"]
    assert rota.step_people(1, monday_10.astimezone(UTC)) == ["bob"]
    assert rota.step_people(2, monday_10) == ["carol"]
    assert rota.step_people(5, monday_10) == []
    bad = tmp_path / "rota.yaml"
    bad.write_text("people:\n  alice:\n    contacts:\n      - email: not-an-address\n")
    with pytest.raises(ConfigError, match=r"rota.yaml:4: people\.alice\.contacts\[0\]\.email"):
        Rota.load(bad)
    bad.write_text("people: {}\nshifts:\n  - who: [nobody]\n")
    with pytest.raises(
        ConfigError, match=r"rota.yaml:3: shifts\[0\]\.who\[0\]: unknown person 'nobody'"
    ):
        Rota.load(bad)
