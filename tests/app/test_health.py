"""``/healthz``, ``/readyz`` and ``/metrics`` (`repoclimate.app.api.health`) over the service's
real parts: a collector on the test Mosquitto, InfluxDB that the test stops and starts, the
alert state in SQLite. The app here holds only the health router, so these tests exercise it
alone; `test_serve` runs the whole service."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from repoclimate.alerts.lifecycle import apply_findings
from repoclimate.alerts.model import Finding, Severity, Subject
from repoclimate.app.api import health
from repoclimate.app.serve import build_services
from repoclimate.app.services import Services
from repoclimate.app.settings import ApiSettings, Settings
from repoclimate.history.settings import StoreSettings
from tests.ingest.helpers import (
    Publisher,
    collector_settings,
    generic_messages,
    mqtt_settings,
    wait_until,
)
from tests.servers import InfluxDB, Mosquitto

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def settings_for(
    tmp_path: Path,
    broker: Mosquitto,
    prefix: str,
    store: StoreSettings | None = None,
    **api: object,
) -> Settings:
    return Settings(
        mqtt=mqtt_settings(broker.url, f"health-{prefix}", prefix),
        collector=collector_settings(tmp_path / "spool"),
        store=store or StoreSettings(kind="sqlite", sqlite_path=tmp_path / "readings.sqlite"),
        alerts={"state_path": tmp_path / "alerts.sqlite"},  # type: ignore[arg-type]
        api=ApiSettings.model_validate(api),
    )


def client_for(services: Services) -> TestClient:
    app = FastAPI()
    app.state.services = services
    app.include_router(health.router)
    return TestClient(app)


@pytest.fixture
def running() -> Iterator[Callable[[Services], Services]]:
    """Start a service's collector; stop it and close everything at the end."""
    started: list[Services] = []

    def start(services: Services) -> Services:
        if services.collector is not None:
            services.collector.start()
        started.append(services)
        return services

    yield start
    for services in started:
        if services.collector is not None:
            services.collector.stop()
        services.close()


def metric(text: str, name: str, **labels: str) -> float:
    """One sample's value from Prometheus text (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def samples(text: str, name: str) -> dict[str, float]:
    """Every sample of ``name``, keyed by its labels' values joined with ``,``."""
    return {
        ",".join(sample.labels.values()): float(sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def test_healthz_answers_and_readyz_checks_only_what_runs(tmp_path: Path) -> None:
    services = build_services(
        Settings(
            store=StoreSettings(kind="sqlite", sqlite_path=tmp_path / "r.sqlite"),
            alerts={"state_path": tmp_path / "a.sqlite"},  # type: ignore[arg-type]
        ),
        None,
        ["api"],
    )
    try:
        client = client_for(services)
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ok", "checks": {"store": True}, "failing": []}

        scheduler = BackgroundScheduler()
        services.scheduler = scheduler
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["failing"] == ["scheduler"]
        scheduler.start()
        try:
            assert client.get("/readyz").json()["checks"] == {"store": True, "scheduler": True}
        finally:
            scheduler.shutdown()
    finally:
        services.close()


def test_readyz_names_the_store_and_spool_while_influxdb_is_down(
    tmp_path: Path,
    mosquitto: Mosquitto,
    influxdb_factory: Callable[..., InfluxDB],
    running: Callable[[Services], Services],
) -> None:
    influx = influxdb_factory()
    store = StoreSettings(
        kind="influxdb", url=influx.url, database="ready", api_version="v1", timeout_s=2
    )
    settings = settings_for(tmp_path, mosquitto, "ready", store, ready_spool_limit=10)
    services = running(build_services(settings, None, ["collector", "api"]))
    client = client_for(services)
    wait_until(lambda: client.get("/readyz").status_code == 200, 20, "ready at start")
    assert set(client.get("/readyz").json()["checks"]) == {"store", "broker", "collector", "spool"}

    influx.stop()
    down = client.get("/readyz")
    assert down.status_code == 503
    assert down.json()["failing"] == ["store"]

    publisher = Publisher(mosquitto.url, "health-ready-pub")
    try:
        publisher.publish_all(generic_messages(30, "ready"))
        publisher.wait_acked(30)
    finally:
        publisher.close()
    wait_until(lambda: "spool" in client.get("/readyz").json()["failing"], 20, "spool filling")
    body = client.get("/readyz").json()
    assert body["failing"] == ["store", "spool"]
    assert body["details"]["spool"] == ["30 readings waiting, limit 10"]

    influx.start()
    wait_until(lambda: client.get("/readyz").status_code == 200, 60, "ready again")
    assert services.store.count() == 30


def test_readyz_names_the_broker_when_it_is_gone(
    tmp_path: Path,
    mosquitto_factory: Callable[..., Mosquitto],
    running: Callable[[Services], Services],
) -> None:
    broker = mosquitto_factory()
    services = running(build_services(settings_for(tmp_path, broker, "gone"), None, ["collector"]))
    client = client_for(services)
    wait_until(lambda: client.get("/readyz").status_code == 200, 20, "connected")
    broker.stop()
    wait_until(lambda: client.get("/readyz").status_code == 503, 20, "broker gone")
    assert "broker" in client.get("/readyz").json()["failing"]
    broker.start()
    wait_until(lambda: client.get("/readyz").status_code == 200, 30, "reconnected")


def test_metrics_count_a_known_stream_and_the_alert_state(
    tmp_path: Path, mosquitto: Mosquitto, running: Callable[[Services], Services]
) -> None:
    services = running(build_services(settings_for(tmp_path, mosquitto, "metrics"), None))
    client = client_for(services)
    wait_until(lambda: services.collector is not None and services.collector.connected, 20, "up")
    before = client.get("/metrics")
    assert before.headers["content-type"].startswith("text/plain")
    assert metric(before.text, "repoclimate_messages_received_total") == 0

    messages = generic_messages(40, "metrics")
    bad = [("repoclimate/metrics/room/metrics-x", b"{not json")] * 3
    empty = [("repoclimate/metrics/room/metrics-y", b'{"battery_state": "ok"}')] * 2
    publisher = Publisher(mosquitto.url, "health-metrics-pub")
    try:
        publisher.publish_all([*messages, *bad, *empty])
        publisher.wait_acked(45)
    finally:
        publisher.close()
    stats = services.collector.stats if services.collector else None
    assert stats is not None
    wait_until(lambda: stats.snapshot().acked == 45, 30, "all acknowledged")

    text = client.get("/metrics").text
    assert metric(text, "repoclimate_messages_received_total") == 45
    assert metric(text, "repoclimate_readings_stored_total") == 40
    assert metric(text, "repoclimate_messages_rejected_total", reason="malformed_json") == 3
    assert sum(samples(text, "repoclimate_messages_rejected_total").values()) == 5
    assert metric(text, "repoclimate_spool_depth") == 0
    assert metric(text, "repoclimate_mqtt_connected") == 1
    assert metric(text, "repoclimate_store_write_seconds_count") >= 1
    assert metric(text, "repoclimate_alerts_open", severity="critical") == 0

    with services.state.transaction() as tx:
        finding = Finding(
            "excursion.humidity_high",
            Subject("city", "stack-3", "s1"),
            Severity.CRITICAL,
            T0,
            70.0,
            60.0,
            "%RH",
            "RH 70",
            "check",
            0.0,
        )
        apply_findings(tx, [finding], ["excursion.humidity_high"], ["city/stack-3/s1"], T0)
        for channel in ("email", "email", "webhook"):
            tx.enqueue(
                now=T0,
                kind="alert",
                group_key="g",
                alert_ids=[1],
                person=None,
                channel=channel,
                target="t",
                subject="s",
                text="t",
                html="",
                payload={},
            )
    text = client.get("/metrics").text
    assert metric(text, "repoclimate_alerts_open", severity="critical") == 1
    assert metric(text, "repoclimate_alerts_open", severity="warning") == 0
    assert metric(text, "repoclimate_outbox_depth", channel="email") == 2
    assert metric(text, "repoclimate_outbox_depth", channel="webhook") == 1
