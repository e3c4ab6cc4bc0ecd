"""Delivery through the outbox: an SMTP outage (server down, then up) delays messages but loses
none and sends each once, across a restart of the worker too; a channel that keeps failing
raises its own alert over the other channels, and clears when it works again. Two workers in
two processes on one state send each notification once; a killed worker's claim expires
and another worker sends the row. Every case that keeps a state runs on both of its back ends
(`state_target`: an SQLite file and a database on the session's PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Collection
from datetime import datetime, timedelta
from pathlib import Path

from repoclimate.alerts.dispatch import CHANNEL_FAILING, Dispatcher, Planned
from repoclimate.alerts.lifecycle import apply_findings
from repoclimate.alerts.model import AlertState, Finding, Severity, Subject
from repoclimate.alerts.notify import Message
from repoclimate.alerts.notify.smtp import SmtpChannel, SmtpSettings
from repoclimate.alerts.notify.webhook import WebhookChannel
from repoclimate.alerts.outbox import Backoff, OutboxWorker
from repoclimate.alerts.rota import Rota
from repoclimate.alerts.state import AlertStore, Tx
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
    state_target: str, smtp_server: SmtpServer, http_receiver: HttpReceiver
) -> None:
    state = AlertStore(state_target)
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
    state = AlertStore(state_target)
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
    state.close()


def test_permanent_failures_are_not_retried(state_target: str, http_receiver: HttpReceiver) -> None:
    state = AlertStore(state_target)
    dispatcher = Dispatcher(rota(http_receiver), topology())
    raise_alerts(state, dispatcher, ["stack-1"])
    report = OutboxWorker(state, {}, dispatcher).deliver_due(T0)
    assert report.failed == 1
    (row,) = state.outbox()
    assert row.status == "failed" and "not configured" in (row.last_error or "")
    state.close()


def test_a_stopped_worker_finishes_the_message_it_sends_and_leaves_the_rest(
    state_target: str, smtp_server: SmtpServer, http_receiver: HttpReceiver
) -> None:
    """A service shutting down stops the outbox between messages: the message being sent is
    sent and recorded, the others stay due (unclaimed) for the next run."""
    state = AlertStore(state_target)
    dispatcher = Dispatcher(rota(http_receiver), topology())
    raise_alerts(state, dispatcher, ["stack-1", "stack-2", "stack-3"])
    smtp = SmtpChannel(SmtpSettings(port=smtp_server.port, timeout_s=3))
    worker: OutboxWorker

    class ShutdownDuringSend:
        kind = "email"

        def send(self, target: str, message: Message) -> None:
            worker.stop()  # SIGTERM arrives while this message is on its way
            smtp.send(target, message)

    worker = OutboxWorker(state, {"email": ShutdownDuringSend()}, dispatcher)
    report = worker.deliver_due(T0)
    assert (report.sent, report.left) == (1, 2)
    assert len(smtp_server.messages) == 1
    pending = [row for row in state.outbox() if row.status == "pending"]
    assert len(pending) == 2
    assert OutboxWorker(state, {"email": smtp}, dispatcher).deliver_due(T0).sent == 2
    assert len(smtp_server.messages) == 3
    state.close()


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


WORKER = """
import sys, time
from datetime import datetime
from pathlib import Path

from repoclimate.alerts.notify.webhook import WebhookChannel
from repoclimate.alerts.outbox import OutboxWorker
from repoclimate.alerts.state import AlertStore, Tx


class Hangs:
    kind = "webhook"

    def send(self, target, message):
        print("sending", flush=True)
        time.sleep(120)


mode, target, go, now = sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4]
now = datetime.fromisoformat(now)
store = AlertStore(target)
channel = WebhookChannel(timeout_s=10) if mode == "send" else Hangs()
worker = OutboxWorker(store, {"webhook": channel}, lease_s=300)
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
sent = 0
while store.outbox_due(now):
    sent += worker.deliver_due(now).sent
print("sent", sent, flush=True)
"""
"""An outbox worker in its own process: ``send`` delivers through the real webhook channel
until nothing is due; ``hang`` claims a row and never returns from sending it."""


def start_worker(mode: str, target: str, go: Path, now: datetime) -> subprocess.Popen[str]:
    """Start a worker process on the state at ``target`` (a file or a database URL)."""
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, mode, target, str(go), now.isoformat()],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert worker.stdout is not None
    assert worker.stdout.readline() == "ready\n"
    return worker


def enqueue_webhooks(state: AlertStore, receiver: HttpReceiver, count: int) -> None:
    with state.transaction() as tx:
        for n in range(count):
            tx.enqueue(
                now=T0,
                kind="firing",
                group_key=f"room-{n}",
                alert_ids=[n],
                person="alice",
                channel="webhook",
                target=f"{receiver.url}/alice",
                subject=f"RH high in room {n}",
                text="text",
                html="<p>html</p>",
                payload={"room": n},
            )


def test_two_workers_racing_on_one_state_send_each_notification_once(
    state_target: str, tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    go, count = tmp_path / "go", 24
    state = AlertStore(state_target)
    enqueue_webhooks(state, http_receiver, count)
    now = T0 + timedelta(minutes=1)
    workers = [start_worker("send", state_target, go, now) for _ in range(2)]
    go.touch()  # both processes are up and read the same due rows at once
    outputs = [worker.communicate(timeout=60)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    sent = [int(out.split()[-1]) for out in outputs]
    assert sum(sent) == count
    assert min(sent) > 0, sent  # both took part: the race happened
    keys = Counter(r["headers"]["Idempotency-Key"] for r in http_receiver.requests)
    assert len(http_receiver.requests) == count
    assert set(keys.values()) == {1}
    rows = state.outbox()
    assert {(r.status, r.attempts, r.claimed_by) for r in rows} == {("sent", 1, None)}
    state.close()


def test_a_dead_workers_claim_expires_and_another_worker_sends_the_row(
    state_target: str, tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    go = tmp_path / "go"
    state = AlertStore(state_target)
    enqueue_webhooks(state, http_receiver, 1)
    now = T0 + timedelta(minutes=1)
    go.touch()
    dying = start_worker("hang", state_target, go, now)
    assert dying.stdout is not None
    assert dying.stdout.readline() == "sending\n"  # it holds the claim
    dying.kill()  # SIGKILL: no chance to release it
    dying.wait(timeout=10)
    (held,) = state.outbox()
    assert held.status == "pending" and held.claimed_by is not None
    assert held.claimed_until == now + timedelta(seconds=300)

    worker = OutboxWorker(state, {"webhook": WebhookChannel(timeout_s=3)}, lease_s=300)
    assert worker.deliver_due(now + timedelta(seconds=299)).sent == 0  # the lease still runs
    assert http_receiver.requests == []
    assert worker.deliver_due(now + timedelta(seconds=300)).sent == 1  # expired: taken over
    assert len(http_receiver.requests) == 1
    (row,) = state.outbox()
    assert (row.status, row.attempts, row.claimed_by) == ("sent", 1, None)
    assert worker.deliver_due(now + timedelta(hours=1)).sent == 0
    assert len(http_receiver.requests) == 1
    state.close()


def test_a_row_claimed_by_one_worker_is_not_claimed_by_another_until_its_lease_ends(
    state_target: str,
) -> None:
    state = AlertStore(state_target)
    with state.transaction() as tx:
        row_id = tx.enqueue(
            now=T0,
            kind="firing",
            group_key="g",
            alert_ids=[1],
            person=None,
            channel="log",
            target="-",
            subject="s",
            text="t",
            html="h",
            payload={},
        )
    lease = timedelta(minutes=5)
    assert state.claim_outbox(row_id, "a", T0, lease) is not None
    assert state.claim_outbox(row_id, "b", T0 + timedelta(minutes=4), lease) is None
    assert state.outbox_due(T0 + timedelta(minutes=4)) == []
    taken = state.claim_outbox(row_id, "b", T0 + timedelta(minutes=5), lease)
    assert taken is not None and taken.claimed_by == "b"
    with state.transaction() as tx:
        tx.mark_sent(row_id, T0 + timedelta(minutes=6))
    assert state.claim_outbox(row_id, "c", T0 + timedelta(hours=1), lease) is None  # sent
    state.close()


def test_a_failing_channel_dispatches_only_its_own_alert(
    state_target: str, smtp_server: SmtpServer, http_receiver: HttpReceiver
) -> None:
    """The outbox raises the channel's alert and dispatches at once, but only alerts of no
    place: the places' alerts belong to the engine holding their site (`alerts.partition`)."""
    calls: list[object] = []

    class Recording(Dispatcher):
        def dispatch(
            self, tx: Tx, now: datetime, sites: Collection[str] | None = None
        ) -> list[Planned]:
            calls.append(None if sites is None else tuple(sites))
            return super().dispatch(tx, now, sites)

    state = AlertStore(state_target)
    dispatcher = Recording(rota(http_receiver), topology())
    smtp_server.stop()
    raise_alerts(state, dispatcher, ["stack-1"])
    calls.clear()
    worker = OutboxWorker(
        state,
        {"email": SmtpChannel(SmtpSettings(port=smtp_server.port, timeout_s=3))},
        dispatcher,
        Backoff(base_s=1, max_s=1),
        failing_after_attempts=1,
        failing_after_s=0,
    )
    worker.deliver_due(T0)
    assert [a.rule for a in state.open_alerts() if a.rule == CHANNEL_FAILING] == [CHANNEL_FAILING]
    assert calls == [()]
    state.close()
