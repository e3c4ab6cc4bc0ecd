"""Delivery through the outbox: an SMTP outage (server down, then up) delays messages but loses
none and sends each once, across a restart of the worker too; a channel that keeps failing
raises its own alert over the other channels, and clears when it works again."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from repoclimate.alerts.config import Rota
from repoclimate.alerts.dispatch import CHANNEL_FAILING, Dispatcher
from repoclimate.alerts.lifecycle import apply_findings
from repoclimate.alerts.model import AlertState, Finding, Severity, Subject
from repoclimate.alerts.notify.smtp import SmtpChannel, SmtpSettings
from repoclimate.alerts.notify.webhook import WebhookChannel
from repoclimate.alerts.outbox import Backoff, OutboxWorker
from repoclimate.alerts.state import AlertStore
from tests.alerts.conftest import T0, HttpReceiver, SmtpServer, topology


def rota(receiver: HttpReceiver) -> Rota:
    return Rota.model_validate(
        {
            "people": {
                "alice": {
                    "contacts": [
                        {"email": "alice@example.org"},
                        {"webhook": f"{receiver.url}/alice", "min_severity": "critical"},
                    ]
                }
            },
            "shifts": [{"who": ["alice"]}],
        }
    )


def raise_alerts(state: AlertStore, dispatcher: Dispatcher, rooms: list[str]) -> None:
    with state.transaction() as tx:
        findings = [
            Finding(
                "excursion.humidity_high",
                Subject("city", room, "s"),
                Severity.WARNING,
                T0,
                70.0,
                60.0,
                "%RH",
                f"RH 70 in {room}",
                "check",
                0.0,
            )
            for room in rooms
        ]
        apply_findings(
            tx, findings, ["excursion.humidity_high"], [f.subject.id for f in findings], T0
        )
        dispatcher.dispatch(tx, T0)


def test_smtp_outage_delays_but_loses_nothing(
    tmp_path: Path, smtp_server: SmtpServer, http_receiver: HttpReceiver
) -> None:
    path = tmp_path / "alerts.sqlite"
    state = AlertStore(path)
    dispatcher = Dispatcher(rota(http_receiver), topology())
    channels = {
        "email": SmtpChannel(SmtpSettings(port=smtp_server.port, timeout_s=3)),
        "webhook": WebhookChannel(timeout_s=3),
    }
    backoff = Backoff(base_s=30, max_s=120)

    def worker(store: AlertStore) -> OutboxWorker:
        return OutboxWorker(
            store, channels, dispatcher, backoff, failing_after_attempts=3, failing_after_s=60
        )

    smtp_server.stop()
    raise_alerts(state, dispatcher, ["stack-1", "stack-2", "stack-3"])
    assert len(state.outbox("pending")) == 3

    report = worker(state).deliver_due(T0)
    assert (report.sent, report.retried, report.deferred) == (0, 1, 2)  # the channel backs off
    waiting = worker(state).deliver_due(T0 + timedelta(seconds=10))
    assert (waiting.sent, waiting.retried) == (0, 0)  # inside the backoff: not even tried
    worker(state).deliver_due(T0 + timedelta(seconds=30))
    # the worker restarts mid-outage: its state is in the database
    state.close()
    state = AlertStore(path)
    worker(state).deliver_due(T0 + timedelta(seconds=90))
    # third failure in a row, 90 s after the first: the channel itself is reported
    (failing,) = [a for a in state.open_alerts() if a.rule == CHANNEL_FAILING]
    assert failing.subject.key == "channel:email"
    assert failing.state is AlertState.FIRING
    worker(state).deliver_due(T0 + timedelta(seconds=91))  # the webhook is a working channel
    (page,) = http_receiver.requests
    assert page["body"]["alerts"][0]["rule"] == CHANNEL_FAILING
    assert not any(
        r.channel == "email" and CHANNEL_FAILING in r.text for r in state.outbox()
    )  # never routed over the failing channel

    smtp_server.start()
    report = worker(state).deliver_due(T0 + timedelta(minutes=10))
    assert report.sent == 3 and report.retried == 0
    received = smtp_server.messages
    assert len(received) == 3
    assert len({m["Message-ID"] for m in received}) == 3
    assert len({m["Subject"] for m in received}) == 3  # one per room
    # the channel works again: its alert resolves and the all-clear goes out
    assert [a for a in state.open_alerts() if a.rule == CHANNEL_FAILING] == []
    worker(state).deliver_due(T0 + timedelta(minutes=11))
    assert http_receiver.requests[-1]["body"]["kind"] == "resolved"
    assert worker(state).deliver_due(T0 + timedelta(minutes=20)).sent == 0
    assert len(smtp_server.messages) == 3  # nothing twice
    assert state.outbox("pending") == []
    rows = state.outbox()
    assert all(r.status == "sent" for r in rows)
    assert [r.attempts for r in rows[:3]] == [4, 1, 1]


def test_permanent_failures_are_not_retried(http_receiver: HttpReceiver) -> None:
    state = AlertStore(":memory:")
    dispatcher = Dispatcher(rota(http_receiver), topology())
    raise_alerts(state, dispatcher, ["stack-1"])
    report = OutboxWorker(state, {}, dispatcher).deliver_due(T0)
    assert report.failed == 1
    (row,) = state.outbox()
    assert row.status == "failed" and "not configured" in (row.last_error or "")


def test_backoff_grows_and_is_capped() -> None:
    backoff = Backoff(base_s=30, max_s=900)
    assert [backoff.delay(n).total_seconds() for n in range(0, 7)] == [
        0,
        30,
        60,
        120,
        240,
        480,
        900,
    ]
