"""The panels that read the service's HTTP API through the Infinity data source (open alerts on
the Repository overview, dead letters on Sensor health), run against the real app: the request
is built from the panel's target and the pushed data source as the plugin builds it (base URL +
query URL + params, ``Authorization: Bearer`` from ``secureJsonData``), and every column the
panel declares must exist in the real answer and carry the seeded values.

The plugin's backend parser reads each column with gjson; for a plain key (all we use, checked)
that is the object's own key. What the plugin's query model accepts is taken from its source,
``pkg/models/query.go`` of grafana-infinity-datasource v3.11.1 (Apache-2.0)."""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from repoclimate.alerts import actions
from repoclimate.alerts.model import AlertState, Finding, Severity, Subject
from repoclimate.app.api import create_app
from repoclimate.app.services import Services
from repoclimate.app.users import Role
from repoclimate.dashboards import build
from repoclimate.dashboards.push import ApiSource
from repoclimate.history.sqlite import SQLiteStore
from repoclimate.ingest.collector import Collector
from repoclimate.ingest.pipeline import Pipeline
from repoclimate.sensors.registry import Registry, parse_registry
from tests.app.seeding import seed, settings_variables
from tests.dashboards.test_build import REGISTRY
from tests.ingest.helpers import Publisher, collector_settings, mqtt_settings, wait_until
from tests.servers import Mosquitto

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
BASE_URL = "http://repoclimate:8080"  # as the stack's Grafana reaches the service

# pkg/models/query.go (v3.11.1): the JSON keys of `Query`, `URLOptions` and `InfinityColumn`, and
# the values its comments and constants allow for what our targets set.
QUERY_KEYS = {
    "refId", "type", "format", "source", "referenceName", "url", "url_options", "data", "parser",
    "filterExpression", "summarizeExpression", "summarizeBy", "summarizeAlias", "uql", "groq",
    "csv_options", "json_options", "root_selector", "columns", "computed_columns", "filters",
    "seriesCount", "expression", "alias", "dataOverrides", "global_query_id", "query_mode",
    "method", "datasource",  # `datasource` is Grafana's, on every target
}  # fmt: skip
URL_OPTION_KEYS = {"method", "params", "headers", "data", "body_type", "body_content_type"}
QUERY_TYPES = {"json", "csv", "tsv", "xml", "graphql", "html", "uql", "groq", "google-sheets"}
PARSERS = {"simple", "backend", "jq-backend", "uql", "groq"}
FORMATS = {"table", "timeseries", "logs", "dataframe", "as-is"}
COLUMN_TYPES = {"string", "number", "timestamp", "timestamp_epoch", "timestamp_epoch_s", "boolean"}
PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


@dataclass
class Api:
    app: FastAPI
    services: Services
    viewer_token: str


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in settings_variables():
        monkeypatch.delenv(name)


def _api(work: Path, collector: Collector | None = None) -> Api:
    """The real app over a seeded installation, with a viewer ``grafana`` and its API token
    (as `repoclimate tokens add` makes it) for the Grafana data source."""
    work.mkdir(parents=True, exist_ok=True)
    services = seed(work, REGISTRY, [], NOW, password="unused", roles=()).services
    services.collector = collector
    services.users.add("grafana", "a long enough password", Role.VIEWER)
    token = services.users.create_token("grafana", "Grafana API data source")
    return Api(create_app(services), services, token)


def _finding(room: str, sensor: str, severity: Severity, summary: str) -> Finding:
    return Finding(
        rule="excursion.humidity_high",
        subject=Subject("arch", room, sensor),
        severity=severity,
        since=NOW - timedelta(hours=3),
        value=58.0,
        threshold=45.0,
        unit="%RH",
        summary=summary,
        advice="check the dehumidifier",
    )


def panel_targets(data: dict[str, Any], title: str) -> list[dict[str, Any]]:
    (panel,) = [p for p in data["panels"] if p.get("title") == title]
    assert panel["datasource"] == {
        "type": build.API_DATASOURCE_TYPE,
        "uid": build.API_DATASOURCE_UID,
    }
    return list(panel["targets"])


def infinity_get(api: Api, target: dict[str, Any], source: ApiSource) -> list[dict[str, Any]]:
    """The rows an Infinity target yields from the real app: the request as the plugin's
    ``GetQueryURL`` / ``ApplyBearerToken`` build it from the data source and the target, then the
    backend parser's column selection (each column a plain key of each object)."""
    assert set(target) <= QUERY_KEYS, set(target) - QUERY_KEYS
    assert set(target["url_options"]) <= URL_OPTION_KEYS
    assert target["type"] in QUERY_TYPES and target["type"] == "json"
    assert target["parser"] in PARSERS and target["format"] in FORMATS
    assert target["source"] == "url" and target["url_options"]["method"] == "GET"
    assert target["root_selector"] == ""  # the answer itself is the array of rows
    ds = source.body(with_secret=True)
    url = target["url"] if target["url"].startswith(ds["url"]) else ds["url"] + target["url"]
    parts = urllib.parse.urlsplit(url)
    assert parts.netloc == urllib.parse.urlsplit(ds["jsonData"]["allowedHosts"][0]).netloc
    params = urllib.parse.parse_qsl(parts.query) + [
        (p["key"], p["value"]) for p in target["url_options"]["params"]
    ]
    headers = {}
    if ds["jsonData"]["auth_method"] == "bearerToken":
        headers["Authorization"] = f"Bearer {ds['secureJsonData']['bearerToken']}"
    client = TestClient(api.app, base_url=f"{parts.scheme}://{parts.netloc}")
    answer = client.get(parts.path, params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert isinstance(body, list)
    rows = []
    for item in body:
        row: dict[str, Any] = {}
        for column in target["columns"]:
            key, kind = column["selector"], column["type"]
            assert PLAIN_KEY.match(key) and kind in COLUMN_TYPES, column
            assert key in item, f"column {key!r} is not in the API's answer: {sorted(item)}"
            value = item[key]
            if kind == "timestamp" and value is not None:
                assert RFC3339.match(value), (key, value)
                value = datetime.fromisoformat(value)
            elif kind == "number" and value is not None:
                assert isinstance(value, int | float) and not isinstance(value, bool), (key, value)
            elif kind == "string" and value is not None:
                assert isinstance(value, str), (key, value)
            row[column["text"]] = value
        rows.append(row)
    return rows


def test_open_alerts_panel_lists_the_open_alerts_of_the_real_api(
    tmp_path: Path, clean_env: None
) -> None:
    api = _api(tmp_path)
    try:
        state = api.services.state
        with state.transaction() as tx:
            vault = tx.insert_alert(
                _finding("vault", "v2", Severity.WARNING, "RH 58 % in vault"),
                AlertState.FIRING,
                NOW,
            )
            film = tx.insert_alert(
                _finding("film", "f1", Severity.CRITICAL, "RH 58 % in film"), AlertState.FIRING, NOW
            )
            gone = tx.insert_alert(
                _finding("vault", "v1", Severity.WARNING, "over"), AlertState.FIRING, NOW
            )
            tx.update_alert(gone, NOW, state=AlertState.RESOLVED, resolved_at=NOW)
        actions.acknowledge(state, film, "ana", NOW, "on my way")
        registry: Registry = parse_registry(REGISTRY, "r.yaml")
        (target,) = panel_targets(build.to_json(build.overview(registry)), "Open alerts")
        source = ApiSource(BASE_URL, api.viewer_token)
        rows = infinity_get(api, target, source)
        since = NOW - timedelta(hours=3)
        assert rows == [
            {
                "Since": since,
                "Severity": "critical",
                "State": "acknowledged",
                "Site": "arch",
                "Room": "film",
                "Sensor": "f1",
                "What": "RH 58 % in film",
                "What to do": "check the dehumidifier",
                "Acknowledged by": "ana",
                "Alert": film,
            },
            {
                "Since": since,
                "Severity": "warning",
                "State": "firing",
                "Site": "arch",
                "Room": "vault",
                "Sensor": "v2",
                "What": "RH 58 % in vault",
                "What to do": "check the dehumidifier",
                "Acknowledged by": None,
                "Alert": vault,
            },
        ]  # the resolved one is not listed
        # without the token (a data source pushed with none) the API refuses: nothing is public
        with pytest.raises(AssertionError, match="401"):
            infinity_get(api, target, ApiSource(BASE_URL))
    finally:
        api.services.close()


@pytest.fixture
def running_collector(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[Collector]:
    registry = parse_registry(REGISTRY, "r.yaml")
    mqtt = mqtt_settings(mosquitto.url, "dashboards-deadletters", prefix="dlpanel")
    settings = collector_settings(tmp_path / "collector-spool")
    store = SQLiteStore(tmp_path / "collected.sqlite")
    pipeline = Pipeline(registry, mqtt.topics, settings.max_payload_bytes)
    collector = Collector(mqtt, settings, store, pipeline)
    with collector:
        wait_until(lambda: collector.connected, 10, "the collector to connect")
        yield collector


def test_dead_letter_panel_counts_what_the_real_collector_refused(
    running_collector: Collector, mosquitto: Mosquitto, tmp_path: Path, clean_env: None
) -> None:
    topic = "repoclimate/dlpanel/vault/v1"
    good = json.dumps({"time": "2026-11-02T11:00:00Z", "temperature": 18.0, "humidity": 45.0})
    messages = [(topic, good.encode())]
    messages += [(topic, b'{"temperature": 18.0, "humid')] * 3  # truncated JSON
    messages += [(topic, b'{"temperature": 18.0, "humidity": 150}')] * 2  # RH over 100 %
    publisher = Publisher(mosquitto.url, "dashboards-deadletters-pub")
    publisher.publish_all(messages)
    wait_until(lambda: running_collector.stats.snapshot().acked == 6, 30, "all six acknowledged")
    api = _api(tmp_path / "api", running_collector)
    try:
        data = build.to_json(build.sensor_health(parse_registry(REGISTRY, "r.yaml")))
        (target,) = panel_targets(data, "Dead letters by reason (messages the collector refused)")
        rows = infinity_get(api, target, ApiSource(BASE_URL, api.viewer_token))
        count = "Dead letters since the service started"
        assert rows == [
            {"Reason": "malformed_json", count: 3},
            {"Reason": "out_of_range", count: 2},
        ]
    finally:
        api.services.close()


def test_a_process_without_collector_says_so(tmp_path: Path, clean_env: None) -> None:
    api = _api(tmp_path)
    try:
        answer = TestClient(api.app).get(
            "/api/deadletters", headers={"Authorization": f"Bearer {api.viewer_token}"}
        )
        assert answer.status_code == 404 and "runs no collector" in answer.json()["detail"]
    finally:
        api.services.close()
