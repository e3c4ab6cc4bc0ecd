"""``repoclimate dashboards build`` and ``push`` end to end (push against the recording Grafana)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from grafana_foundation_sdk.models import dashboard as gm
from typer.testing import CliRunner

from repoclimate.app.cli import app
from tests.dashboards.grafana_server import recording_grafana
from tests.dashboards.test_build import REGISTRY

TOKEN = "glsa_cli-token-456"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "registry.yaml").write_text(REGISTRY)
    path = tmp_path / "repoclimate.yaml"
    path.write_text(
        "registry: registry.yaml\n"
        "store: {kind: influxdb, url: 'http://influxdb:8086', database: archive,"
        " token: influx-token}\n"
    )
    return path


def test_build_writes_one_json_per_dashboard(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["dashboards", "build", "--config", str(config), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["condition-history.json", "overview.json", "room.json", "sensor-health.json"]
    room = json.loads((out / "room.json").read_text())
    assert gm.Dashboard.from_json(room).uid == "repoclimate-room"
    assert any(
        "arch/vault" in o["matcher"]["options"]
        for o in room["panels"][0]["fieldConfig"]["overrides"]
    )
    before = {p.name: p.read_text() for p in out.iterdir()}
    CliRunner().invoke(app, ["dashboards", "build", "--config", str(config), "--out", str(out)])
    assert {p.name: p.read_text() for p in out.iterdir()} == before  # stable output


def test_push_with_token_from_env_then_file(config: Path, tmp_path: Path) -> None:
    with recording_grafana(TOKEN) as (url, grafana):
        args = ["dashboards", "push", "--config", str(config), "--grafana-url", url]
        first = CliRunner().invoke(app, args, env={"GRAFANA_TOKEN": TOKEN})
        assert first.exit_code == 0, first.output
        assert "created   datasource" in first.output and TOKEN not in first.output
        by_name = {d["name"]: d for d in grafana.datasources.values()}
        ds = by_name["repoclimate InfluxDB"]
        assert ds["jsonData"]["dbName"] == "archive" and ds["url"] == "http://influxdb:8086"
        assert ds["secureJsonData"] == {"httpHeaderValue1": "Token influx-token"}
        api = by_name["repoclimate API"]  # no --api-url: where api.listen serves
        assert api["url"] == "http://127.0.0.1:8080" and api["jsonData"]["auth_method"] == "none"
        token_file = tmp_path / "grafana-token"
        token_file.write_text(TOKEN + "\n")
        second = CliRunner().invoke(app, [*args, "--token-file", str(token_file)], env={})
        assert second.exit_code == 0, second.output
        assert set(line.split()[0] for line in second.output.splitlines()) == {"unchanged"}


def test_push_without_token_or_with_a_wrong_one_fails(config: Path) -> None:
    with recording_grafana(TOKEN) as (url, _grafana):
        args = ["dashboards", "push", "--config", str(config), "--grafana-url", url]
        missing = CliRunner().invoke(app, args, env={"GRAFANA_TOKEN": ""})
        assert missing.exit_code == 1 and "GRAFANA_TOKEN" in missing.output
        wrong = CliRunner().invoke(app, args, env={"GRAFANA_TOKEN": "nope-secret"})
        assert wrong.exit_code == 1 and "401" in wrong.output and "nope-secret" not in wrong.output


def test_push_gives_grafana_the_api_url_and_viewer_token(config: Path, tmp_path: Path) -> None:
    token_file = tmp_path / "viewer-token"
    token_file.write_text("rc_viewer-secret\n")
    with recording_grafana(TOKEN) as (url, grafana):
        args = ["dashboards", "push", "--config", str(config), "--grafana-url", url]
        args += ["--api-url", "http://repoclimate:8080", "--api-token-file", str(token_file)]
        result = CliRunner().invoke(app, args, env={"GRAFANA_TOKEN": TOKEN})
        assert result.exit_code == 0, result.output
        assert "created   api-datasource" in result.output
        assert "rc_viewer-secret" not in result.output
        (api,) = [d for d in grafana.datasources.values() if d["name"] == "repoclimate API"]
        assert api["url"] == "http://repoclimate:8080"
        assert api["secureJsonData"] == {"bearerToken": "rc_viewer-secret"}
        from_env = CliRunner().invoke(
            app,
            [*args[:-2], "--update-secret"],
            env={"GRAFANA_TOKEN": TOKEN, "API_VIEWER_TOKEN": "rc_other"},
        )
        assert from_env.exit_code == 0, from_env.output
        (api,) = [d for d in grafana.datasources.values() if d["name"] == "repoclimate API"]
        assert api["secureJsonData"] == {"bearerToken": "rc_other"}
