"""The alert state on both of its databases — an SQLite file and a real PostgreSQL (Debian's,
started privately by the fixtures) — through the same code: the lifecycle's rows, the one-open-
alert index, upserts, silences, the outbox claim under two racing workers, migrations refused
for an unknown revision and run once by concurrent openers."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from repoclimate.alerts.lifecycle import apply_findings
from repoclimate.alerts.model import AlertState, Severity
from repoclimate.alerts.notify.webhook import WebhookChannel
from repoclimate.alerts.outbox import OutboxWorker
from repoclimate.alerts.rules.mould import Checkpoint
from repoclimate.alerts.state import AlertStore, StateVersionError
from repoclimate.alerts.state.database import head
from repoclimate.preservation.mould import MrfState, VttState
from tests.alerts.conftest import T0, HttpReceiver
from tests.alerts.test_lifecycle import RULE, SUBJECT, apply, finding


def test_the_lifecycle_rows_survive_a_restart(state_target: str) -> None:
    store = AlertStore(state_target)
    assert apply(store, [finding()], 0.5) == [AlertState.PENDING]
    assert apply(store, [finding(Severity.CRITICAL, value=75.0)], 1.0) == [AlertState.FIRING]
    with pytest.raises(IntegrityError), store.transaction() as tx:  # one open alert per subject
        tx.insert_alert(finding(), AlertState.PENDING, T0)
    store.close()
    store = AlertStore(state_target)
    (alert,) = store.open_alerts()
    assert (alert.state, alert.severity, alert.value, alert.peak_value) == (
        AlertState.FIRING,
        Severity.CRITICAL,
        75.0,
        75.0,
    )
    assert alert.fired_at == T0 + timedelta(hours=1)
    assert apply(store, [], 2.0) == [AlertState.RESOLVED]
    assert [e.to_state for e in store.events(alert.id)] == [
        AlertState.PENDING,
        AlertState.PENDING,  # the severity change
        AlertState.FIRING,
        AlertState.RESOLVED,
    ]
    assert store.list_alerts(states=[AlertState.RESOLVED], since=T0) == [store.get(alert.id)]
    assert apply(store, [finding()], 3.0) == [AlertState.PENDING, AlertState.FIRING]  # new episode
    assert len(store.list_alerts()) == 2
    store.close()


def test_upserts_silences_and_channel_health(state_target: str) -> None:
    store = AlertStore(state_target)
    first = Checkpoint(10.0, VttState(0.1, 1.0), MrfState(0.2, 2.0), "a")
    second = Checkpoint(11.0, VttState(0.125, 1.5), MrfState(0.25, 2.5), "b")
    with store.transaction() as tx:
        tx.put_mould_checkpoints({"s1": first, "s2": first})
    with store.transaction() as tx:
        tx.put_mould_checkpoints({"s1": second})
    assert store.mould_checkpoints() == {"s1": second, "s2": first}
    with store.transaction() as tx:
        tx.record_channel("email", T0, "refused")
        failing = tx.record_channel("email", T0 + timedelta(minutes=1), "refused again")
    assert (failing.consecutive_failures, failing.first_failure_at) == (2, T0)
    assert failing.last_error == "refused again"
    with store.transaction() as tx:
        healthy = tx.record_channel("email", T0 + timedelta(minutes=2), None)
        silence = tx.insert_silence(
            site="city", room=None, sensor=None, rule=None, starts_at=T0,
            ends_at=T0 + timedelta(hours=2), reason="works", created_by="bob", now=T0,
        )  # fmt: skip
    assert (healthy.consecutive_failures, healthy.first_failure_at) == (0, None)
    assert [s.id for s in store.silences(active_at=T0 + timedelta(hours=1))] == [silence]
    with store.transaction() as tx:
        assert tx.end_silence(silence, T0 + timedelta(hours=1))
        assert not tx.end_silence(silence, T0 + timedelta(hours=1, minutes=1))
    assert store.silences(active_at=T0 + timedelta(hours=1, minutes=30)) == []
    store.close()


def test_two_workers_racing_send_each_notification_once(
    state_target: str, http_receiver: HttpReceiver
) -> None:
    count = 16
    setup = AlertStore(state_target)
    with setup.transaction() as tx:
        for n in range(count):
            tx.enqueue(
                now=T0, kind="firing", group_key=f"g{n}", alert_ids=[n], person=None,
                channel="webhook", target=f"{http_receiver.url}/hook", subject=f"n{n}",
                text="t", html="h", payload={"n": n},
            )  # fmt: skip
    stores = [AlertStore(state_target), AlertStore(state_target)]  # two workers, two engines
    start = threading.Barrier(2)
    sent: list[int] = []

    def work(store: AlertStore) -> None:
        worker = OutboxWorker(store, {"webhook": WebhookChannel(timeout_s=5)})
        start.wait()
        done = 0
        while store.outbox_due(T0):
            done += worker.deliver_due(T0).sent
        sent.append(done)

    threads = [threading.Thread(target=work, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(sent) == 2 and sum(sent) == count
    keys = Counter(r["headers"]["Idempotency-Key"] for r in http_receiver.requests)
    assert len(keys) == count and set(keys.values()) == {1}
    assert {(r.status, r.attempts) for r in setup.outbox()} == {("sent", 1)}
    for store in (*stores, setup):
        store.close()


def test_an_unknown_revision_is_refused_and_left_as_it_was(state_target: str) -> None:
    AlertStore(state_target).close()
    url = state_target if "://" in state_target else f"sqlite:///{state_target}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
        connection.execute(text("CREATE TABLE from_a_newer_version (id INTEGER PRIMARY KEY)"))
    with engine.connect() as connection:
        before = sorted(inspect(connection).get_table_names())
    with pytest.raises(StateVersionError, match=rf"revision 0099, .* newest is {head()}"):
        AlertStore(state_target)
    with engine.connect() as connection:
        assert sorted(inspect(connection).get_table_names()) == before
        assert connection.execute(text("SELECT version_num FROM alembic_version")).all() == [
            ("0099",)
        ]
    engine.dispose()


def test_concurrent_openers_migrate_once(state_target: str) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_it() -> None:
        try:
            start.wait()
            AlertStore(state_target).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    store = AlertStore(state_target)
    with store.transaction() as tx:
        rows = tx.conn.execute(text("SELECT version_num FROM alembic_version")).all()
    assert rows == [(head(),)]
    store.close()


def test_a_state_change_and_its_outbox_rows_commit_together(state_target: str) -> None:
    store = AlertStore(state_target)
    with pytest.raises(RuntimeError), store.transaction() as tx:
        apply_findings(tx, [finding()], [RULE], [SUBJECT.id], T0 + timedelta(hours=2))
        tx.enqueue(
            now=T0, kind="firing", group_key="g", alert_ids=[1], person=None, channel="log",
            target="-", subject="s", text="t", html="h", payload={},
        )  # fmt: skip
        raise RuntimeError("crash between the state change and the send")
    assert (store.list_alerts(), store.outbox(), store.events()) == ([], [], [])
    with store.transaction() as tx:
        apply_findings(tx, [finding()], [RULE], [SUBJECT.id], T0 + timedelta(hours=2))
        tx.enqueue(
            now=T0, kind="firing", group_key="g", alert_ids=[1], person=None, channel="log",
            target="-", subject="s", text="t", html="h", payload={},
        )  # fmt: skip
    assert (len(store.list_alerts()), len(store.outbox())) == (1, 1)
    store.close()
