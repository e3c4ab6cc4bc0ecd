"""The ``grafana`` outbox channel against the recording Grafana: an alert that fires posts an
annotation, its resolution closes the region; retries post nothing twice; errors are classed."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from repoclimate.alerts.dispatch import Dispatcher
from repoclimate.alerts.lifecycle import apply_findings
from repoclimate.alerts.model import Alert, AlertState, Finding, Severity, Subject
from repoclimate.alerts.notify import DeliveryError, Message
from repoclimate.alerts.notify import grafana as channel_module
from repoclimate.alerts.notify.grafana import GrafanaChannel
from repoclimate.alerts.outbox import OutboxWorker
from repoclimate.alerts.render import PlainDirectory, render
from repoclimate.alerts.rota import Rota
from repoclimate.alerts.runtime import build_channels
from repoclimate.alerts.settings import AlertSettings
from repoclimate.alerts.state import AlertStore
from repoclimate.dashboards import build
from repoclimate.sensors.registry import parse_registry
from tests.alerts.conftest import T0
from tests.alerts.conftest import topology as alert_topology
from tests.dashboards.grafana_server import recording_grafana
from tests.dashboards.test_build import REGISTRY

TOKEN = "glsa_annotations-789"
SINCE = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
RESOLVED = SINCE + timedelta(hours=5)

ALERT = Alert(
    id=41,
    rule="excursion.humidity_high",
    subject=Subject(site="arch", room="vault", sensor="v2"),
    state=AlertState.FIRING,
    severity=Severity.WARNING,
    since=SINCE,
    value=58.0,
    threshold=45.0,
    unit="%RH",
    summary="RH 58 %RH above the band (45 %RH)",
    advice="check the dehumidifier",
    page=True,
    created_at=SINCE,
    fired_at=SINCE,
    acknowledged_at=None,
    acknowledged_by=None,
    resolved_at=None,
    ack_token="t",
)


def _message(kind: str, alert: Alert, now: datetime) -> Message:
    subject, text, html, payload = render(kind, [alert], PlainDirectory(), now)
    return Message(subject, text, html, payload, key=f"outbox-{kind}")


TAGS = [
    "repoclimate",
    "alert:41",
    "site:arch",
    "room:vault",
    "rule:excursion.humidity_high",
    "severity:warning",
    "sensor:v2",
]


def test_fire_posts_an_annotation_resolve_closes_the_region() -> None:
    resolved = dataclasses.replace(ALERT, state=AlertState.RESOLVED, resolved_at=RESOLVED)
    with recording_grafana(TOKEN) as (url, grafana):
        channel = GrafanaChannel(TOKEN)
        channel.send(url, _message("firing", ALERT, SINCE))
        channel.send(url, _message("firing", ALERT, SINCE))  # an outbox retry
        posts = [r for r in grafana.requests if r.method == "POST"]
        assert len(posts) == 1 and posts[0].path == "/api/annotations"
        assert posts[0].body["time"] == int(SINCE.timestamp() * 1000)
        assert posts[0].body["timeEnd"] is None
        assert posts[0].body["tags"] == [*TAGS, "open"]
        assert "58" in posts[0].body["text"]

        channel.send(url, _message("resolved", resolved, RESOLVED))
        channel.send(url, _message("resolved", resolved, RESOLVED))  # retried: nothing more
        patches = [r for r in grafana.requests if r.method == "PATCH"]
        assert len(patches) == 1 and patches[0].path == "/api/annotations/1"
        (annotation,) = grafana.annotations.values()
        assert annotation["time"] == int(SINCE.timestamp() * 1000)
        assert annotation["timeEnd"] == int(RESOLVED.timestamp() * 1000)
        assert annotation["tags"] == TAGS  # no longer "open"
        lookups = [r.path for r in grafana.requests if r.method == "GET"]
        assert set(lookups) == {"/api/annotations?tags=repoclimate&tags=alert:41"}
        assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in grafana.requests)


def test_a_rota_broadcast_contact_carries_alert_periods_to_grafana() -> None:
    """End to end through the engine's own path: a rota's ``grafana`` broadcast contact gets
    the firing and the resolution of an alert from the dispatcher, through the outbox."""
    finding = Finding(
        "excursion.humidity_high",
        Subject("city", "stack-3", "s1"),
        Severity.WARNING,
        T0,
        58.0,
        45.0,
        "%RH",
        "RH 58 %RH above the band",
        "check the dehumidifier",
        0.0,
    )
    with recording_grafana(TOKEN) as (url, grafana):
        rota = Rota.model_validate({"broadcast": [{"grafana": url}]})
        state = AlertStore(":memory:")
        dispatcher = Dispatcher(rota, alert_topology())
        worker = OutboxWorker(state, {"grafana": GrafanaChannel(TOKEN)}, dispatcher)
        rules, subjects = [finding.rule], [finding.subject.id]
        with state.transaction() as tx:
            apply_findings(tx, [finding], rules, subjects, T0)
            dispatcher.dispatch(tx, T0)
        assert worker.deliver_due(T0).sent == 1
        (opened,) = grafana.annotations.values()
        assert opened["timeEnd"] is None and "open" in opened["tags"]
        assert {"site:city", "room:stack-3", "rule:excursion.humidity_high"} <= set(opened["tags"])

        later = T0 + timedelta(hours=3)
        with state.transaction() as tx:
            apply_findings(tx, [], rules, subjects, later)
            dispatcher.dispatch(tx, later)
        assert worker.deliver_due(later).sent == 1
        (closed,) = grafana.annotations.values()
        assert closed["time"] == int(T0.timestamp() * 1000)
        assert closed["timeEnd"] is not None and "open" not in closed["tags"]


def test_the_room_dashboard_filters_on_the_tags_the_channel_writes() -> None:
    data = build.to_json(build.room(parse_registry(REGISTRY, "r.yaml")))
    (alerts,) = [a for a in data["annotations"]["list"] if a["name"] == "Alerts"]
    wanted = [tag.replace("$room", "vault") for tag in alerts["target"]["tags"]]
    item = {"id": 41, "site": "arch", "room": "vault", "rule": "r", "severity": "warning"}
    for open_ in (True, False):  # the period is drawn while open and after it closed
        assert set(wanted) <= set(channel_module.alert_tags(item, open_=open_))
    other_room = channel_module.alert_tags({**item, "room": "film"}, open_=True)
    assert not set(wanted) <= set(other_room)
    assert alerts["target"]["matchAny"] is False  # every tag must match, not any


def test_a_wrong_token_fails_permanently_and_a_missing_one_too() -> None:
    with recording_grafana(TOKEN) as (url, _grafana):
        with pytest.raises(DeliveryError, match="401") as caught:
            GrafanaChannel("bad-token").send(url, _message("firing", ALERT, SINCE))
        assert caught.value.permanent and "bad-token" not in str(caught.value)
        with pytest.raises(DeliveryError, match="no token") as missing:
            GrafanaChannel().send(url, _message("firing", ALERT, SINCE))
        assert missing.value.permanent


def test_an_unreachable_grafana_is_retried() -> None:
    with recording_grafana(TOKEN) as (url, _grafana):
        pass  # stopped: the port is closed now
    with pytest.raises(DeliveryError) as caught:
        GrafanaChannel(TOKEN, timeout_s=2).send(url, _message("firing", ALERT, SINCE))
    assert not caught.value.permanent


def test_token_file_from_the_environment_is_read_at_delivery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "token"
    monkeypatch.setenv("GRAFANA_TOKEN_FILE", str(token_file))
    monkeypatch.delenv("GRAFANA_TOKEN", raising=False)
    channel = build_channels(AlertSettings())["grafana"]
    assert isinstance(channel, GrafanaChannel)
    token_file.write_text(TOKEN + "\n")
    with recording_grafana(TOKEN) as (url, grafana):
        channel.send(url, _message("firing", ALERT, SINCE))
        assert len(grafana.annotations) == 1
