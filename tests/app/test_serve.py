"""``repoclimate serve`` as a child process: real Mosquitto, real SQLite or InfluxDB store, real
HTTP over a socket. Readings published over MQTT reach the store and the API; SIGTERM in the
middle of a stream loses nothing; ``--only`` runs a subset; logs are JSON lines when asked and
never hold a password."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from repoclimate.app.serve import build_services, start_scheduler
from repoclimate.app.settings import Settings, load_settings
from repoclimate.history.settings import StoreSettings
from repoclimate.history.sqlite import SQLiteStore
from tests.ingest.helpers import Publisher, generic_messages, stored_count, wait_until
from tests.servers import InfluxDB, Mosquitto, free_port

PASSWORD = "serve test password"
SENSORS = 4


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("REPOCLIMATE_")}


def repoclimate(*args: str) -> list[str]:
    return [sys.executable, "-m", "repoclimate.app", *args]


def write_config(
    tmp_path: Path, broker: Mosquitto, prefix: str, store: dict[str, Any] | None = None
) -> tuple[Path, str]:
    """A config for one test: its own topics, client id, files and port; a registry placing
    the sensors ``<prefix>-0…3`` in room ``<prefix>-room``. Returns the file and the API URL."""
    registry = {
        "sites": [
            {
                "id": f"{prefix}-site",
                "name": "Test site",
                "timezone": "UTC",
                "rooms": [
                    {
                        "id": f"{prefix}-room",
                        "name": "Vault",
                        "profile": "iso11799-paper",
                        "holdings": "paper",
                        "sensors": [
                            {"id": f"{prefix}-{n}", "match": {"format": "generic"}}
                            for n in range(SENSORS)
                        ],
                    }
                ],
            }
        ]
    }
    (tmp_path / "registry.yaml").write_text(yaml.safe_dump(registry))
    port = free_port()
    config = {
        "mqtt": {
            "url": broker.url,
            "client_id": f"serve-{prefix}",
            "topics": [{"filter": f"repoclimate/{prefix}/#", "format": "generic"}],
            "dead_letter_topic": f"deadletter/serve-{prefix}",
            "session_expiry_s": 600,
        },
        "collector": {"batch_size": 200, "batch_interval_s": 0.1, "spool_dir": "spool"},
        "store": store or {"kind": "sqlite", "sqlite_path": "readings.sqlite"},
        "registry": "registry.yaml",
        "alerts": {"state_path": "alerts.sqlite", "intervals": {"outbox": 1}},
        "api": {"listen": f"127.0.0.1:{port}", "log_format": "json", "cookie_secure": False},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, f"http://127.0.0.1:{port}"


class Serve:
    """``repoclimate serve`` in a child process, its log in a file."""

    def __init__(self, config: Path, *args: str) -> None:
        self.log = config.parent / f"serve-{os.getpid()}-{id(self)}.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                repoclimate("serve", "--config", str(config), *args),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=clean_env(),
                cwd=config.parent,
            )

    def wait_http(self, url: str, timeout: float = 30) -> None:
        def answers() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited with {self.proc.returncode}: {self.output}")
            try:
                return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(answers, timeout, f"serve answering on {url}")

    def terminate(self, timeout: float = 60, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def command(tmp_path: Path, config: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        repoclimate(*args, "--config", str(config)),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_serve_stores_readings_and_serves_them_to_a_token_holder(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    config, url = write_config(tmp_path, mosquitto, "served")
    command(tmp_path, config, "users", "add", "ops", "--role", "admin", "--password-stdin",
            stdin=PASSWORD)  # fmt: skip
    token = command(tmp_path, config, "tokens", "add", "ops", "--label", "test").strip()
    serve = Serve(config)
    try:
        serve.wait_http(url)
        wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 200, 20, "ready")
        ready = httpx.get(f"{url}/readyz").json()
        assert set(ready["checks"]) == {"store", "broker", "collector", "spool", "scheduler"}

        publisher = Publisher(mosquitto.url, "serve-served-pub")
        try:
            publisher.publish_all(generic_messages(40, "served", sensors=SENSORS))
            publisher.wait_acked(40)
        finally:
            publisher.close()
        store = SQLiteStore(tmp_path / "readings.sqlite")
        try:
            wait_until(lambda: store.count() == 40, 30, "40 readings stored")
        finally:
            store.close()

        assert httpx.get(f"{url}/api/rooms/served-room").status_code == 401
        room = httpx.get(
            f"{url}/api/rooms/served-room", headers={"Authorization": f"Bearer {token}"}
        )
        assert room.status_code == 200, room.text
        assert '"served-0"' in room.text and '"served-3"' in room.text
        metrics = httpx.get(f"{url}/metrics").text
        assert "repoclimate_messages_received_total 40.0" in metrics
        assert "repoclimate_readings_stored_total 40.0" in metrics

        refused = httpx.post(f"{url}/api/login", data={"username": "ops", "password": "wrong one"})
        assert refused.status_code == 401
        login = httpx.post(f"{url}/api/login", data={"username": "ops", "password": PASSWORD})
        assert login.status_code == 200, login.text
        httpx.get(f"{url}/alerts/1/ack", params={"token": "ack-link-secret"})
        code = serve.terminate()
    finally:
        serve.kill()
    output = serve.output
    assert code == 0, output
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    assert "Traceback" not in output
    assert PASSWORD not in output and "wrong one" not in output and token not in output
    assert "ack-link-secret" not in output and "/alerts/1/ack?…" in output
    assert any("failed login" in line["message"] for line in lines)


def test_sigterm_mid_stream_loses_nothing(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB, influx_db_name: str
) -> None:
    store = {
        "kind": "influxdb",
        "url": influxdb.url,
        "database": influx_db_name,
        "api_version": "v1",
    }
    config, url = write_config(tmp_path, mosquitto, "midstream", store)
    total = 4000
    publisher = Publisher(mosquitto.url, "serve-midstream-pub")
    serve = Serve(config, "--only", "collector,api")
    try:
        serve.wait_http(url)
        wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 200, 20, "ready")
        sending = threading.Thread(
            target=publisher.publish_all,
            args=(generic_messages(total, "midstream", sensors=SENSORS),),
            kwargs={"rate": 1000},
        )
        sending.start()
        wait_until(lambda: stored_count(influxdb, influx_db_name) > 300, 30, "stream flowing")
        assert serve.terminate() == 0, serve.output
        at_stop = stored_count(influxdb, influx_db_name)
        sending.join(60)
        publisher.wait_acked(total)
    finally:
        serve.kill()
        publisher.close()
    assert 0 < at_stop < total, "SIGTERM did not land mid-stream"
    assert publisher.acked == total
    # On SIGTERM the collector settled everything it had received: stored, then acknowledged.
    summary = re.search(
        r"collector stopped: (\d+) messages received, (\d+) acknowledged.*?(\d+) readings stored",
        serve.output,
    )
    assert summary is not None, serve.output
    received, acknowledged, stored = map(int, summary.groups())
    assert received == acknowledged == stored == at_stop

    again = Serve(config, "--only", "collector")  # drains what the broker kept for the session
    try:
        wait_until(lambda: stored_count(influxdb, influx_db_name) >= total, 60, "the rest stored")
        assert again.terminate() == 0, again.output
    finally:
        again.kill()
    assert stored_count(influxdb, influx_db_name) == publisher.acked


def test_only_runs_the_parts_it_names(tmp_path: Path, mosquitto: Mosquitto) -> None:
    config, url = write_config(tmp_path, mosquitto, "only")
    serve = Serve(config, "--only", "alerts,api")
    try:
        serve.wait_http(url)
        wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 200, 20, "ready")
        assert set(httpx.get(f"{url}/readyz").json()["checks"]) == {"store", "scheduler"}
        assert "repoclimate_messages_received_total" not in httpx.get(f"{url}/metrics").text
        nobody = httpx.post(f"{url}/api/login", data={"username": "admin", "password": "admin"})
        assert nobody.status_code == 401  # no users yet: nobody logs in
        assert serve.terminate(sig=signal.SIGINT) == 0, serve.output  # Ctrl-C
    finally:
        serve.kill()
    assert "Traceback" not in serve.output and "KeyboardInterrupt" not in serve.output

    collector_only = Serve(config, "--only", "collector")
    try:
        wait_until(lambda: "serving: collector" in collector_only.output, 30, "collector up")
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}/healthz", timeout=1)  # no API in this process
        assert collector_only.terminate(sig=signal.SIGINT) == 0, collector_only.output
    finally:
        collector_only.kill()

    done = subprocess.run(
        repoclimate("serve", "--config", str(config), "--only", "collector,web"),
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
    )
    assert done.returncode == 2 and "web: name one or more of collector, alerts, api" in done.stderr


@pytest.mark.parametrize("bad", ["api: {listen: 'nowhere'}", "registry: missing.yaml"])
def test_serve_refuses_bad_configuration_at_start(tmp_path: Path, bad: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(bad + "\n")
    done = subprocess.run(
        repoclimate("serve", "--config", str(config)),
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stderr
    assert ("api.listen" in done.stderr) or ("missing.yaml" in done.stderr), done.stderr


class FlakyEngine:
    """Stands in for the alert engine: its first evaluation raises, later ones succeed."""

    def __init__(self) -> None:
        self.evaluations = 0

    def evaluate(
        self, now: object, classes: list[str], sites: Collection[str] | None = None
    ) -> None:
        self.evaluations += 1
        if self.evaluations == 1:
            raise RuntimeError("evaluation crashed")

    def dispatch(self, now: object) -> list[object]:
        return []


def test_a_crashed_job_is_logged_counted_and_runs_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    intervals = dict.fromkeys(
        ["excursion", "fluctuation", "condensation", "health", "mould", "decay"], 3600.0
    )
    intervals["excursion"] = 0.2
    settings = Settings(
        store=StoreSettings(kind="sqlite", sqlite_path=tmp_path / "r.sqlite"),
        alerts={"state_path": tmp_path / "a.sqlite", "intervals": intervals},  # type: ignore[arg-type]
    )
    services = build_services(settings, None, ["alerts"])
    assert services.alerting is not None
    engine = FlakyEngine()
    services.alerting.engine = engine  # type: ignore[assignment]

    async def run_a_while() -> None:
        scheduler = start_scheduler(services)
        assert scheduler is not None and scheduler.running
        for _ in range(100):
            if engine.evaluations >= 3:
                break
            await asyncio.sleep(0.05)
        scheduler.shutdown(wait=True)

    try:
        asyncio.run(run_a_while())
    finally:
        services.close()
    assert engine.evaluations >= 3
    text = services.metrics.render().decode()
    assert 'repoclimate_job_failures_total{job="alerts-excursion"} 1.0' in text
    assert re.search(r'repoclimate_job_runs_total\{job="alerts-excursion"\} [2-9]', text)
    assert re.search(
        r'repoclimate_alert_evaluation_seconds_count\{rule_class="excursion"\} [3-9]', text
    )
    assert any("evaluation crashed" in (r.exc_text or str(r.exc_info)) for r in caplog.records)


def test_reload_swaps_the_registry_only_when_check_config_passes(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    config, _url = write_config(tmp_path, mosquitto, "reload")
    services = build_services(load_settings(config), config, ["collector", "alerts", "api"])
    try:
        assert services.collector is not None and services.alerting is not None
        first = services.registry
        registry = tmp_path / "registry.yaml"
        good = registry.read_text()
        registry.write_text(good.replace("profile: iso11799-paper", "profile: no-such-profile"))
        problems = services.reload()
        assert problems and "no-such-profile" in "\n".join(problems)
        assert services.registry is first

        registry.write_text(good.replace("name: Vault", "name: New vault"))
        assert services.reload() == []
        assert services.registry is not first
        assert services.registry.sites[0].rooms[0].name == "New vault"
        assert services.collector.decoder.pipeline.registry is services.registry
        assert services.alerting.engine.topology is not None
        assert services.reloads == 1
    finally:
        services.close()


def test_readyz_of_serve_names_the_store_while_influxdb_is_stopped(
    tmp_path: Path, mosquitto: Mosquitto, influxdb_factory: Callable[..., InfluxDB]
) -> None:
    influx = influxdb_factory()
    store = {"kind": "influxdb", "url": influx.url, "database": "ready", "api_version": "v1"}
    config, url = write_config(tmp_path, mosquitto, "readyz", store)
    serve = Serve(config)
    try:
        serve.wait_http(url)
        wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 200, 20, "ready")
        influx.stop()
        down = httpx.get(f"{url}/readyz")
        assert down.status_code == 503
        assert down.json()["failing"] == ["store"]
        assert down.json()["checks"]["broker"] is True
        influx.start()
        wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 200, 30, "ready again")
        assert serve.terminate() == 0, serve.output
    finally:
        serve.kill()
