"""`dashboards push` through the real grafana-api against a recording Grafana stand-in: the
requests' methods, paths and bodies; idempotence; a changed registry; 412 and 401."""

from __future__ import annotations

from typing import Any

import pytest

from repoclimate.dashboards import build
from repoclimate.dashboards.push import (
    API_DATASOURCE_NAME,
    DATASOURCE_NAME,
    FOLDER_UID,
    ApiSource,
    InfluxSource,
    PushError,
    client,
    push,
    push_dashboard,
)
from repoclimate.sensors.registry import Registry, parse_registry
from tests.dashboards.grafana_server import recording_grafana
from tests.dashboards.test_build import REGISTRY

TOKEN = "glsa_test-token-123"
SOURCE = InfluxSource("http://influxdb:8086", "repoclimate", "v2", secret="influx-secret")


def _dashboards(registry: Registry) -> dict[str, dict[str, Any]]:
    return {name: build.to_json(d) for name, d in build.build_all(registry).items()}


def test_first_push_creates_everything_second_changes_nothing() -> None:
    registry = parse_registry(REGISTRY, "r.yaml")
    with recording_grafana(TOKEN) as (url, grafana):
        report = push(client(url, TOKEN), _dashboards(registry), SOURCE)
        assert set(report.changes.values()) == {"created"}
        writes = [(r.method, r.path) for r in grafana.writes()]
        assert writes == [
            ("POST", "/api/folders"),
            ("POST", "/api/datasources"),
            *[("POST", "/api/dashboards/db")] * 4,
        ]
        folder, ds, *dash = grafana.writes()
        assert folder.body == {"title": "repoclimate", "uid": FOLDER_UID}
        assert ds.body["uid"] == build.DATASOURCE_UID and ds.body["type"] == "influxdb"
        assert ds.body["jsonData"] == {
            "dbName": "repoclimate",
            "httpMode": "GET",
            "version": "InfluxQL",
            "httpHeaderName1": "Authorization",
        }
        assert ds.body["secureJsonData"] == {"httpHeaderValue1": "Token influx-secret"}
        assert {d.body["dashboard"]["uid"] for d in dash} == {
            "repoclimate-overview",
            "repoclimate-room",
            "repoclimate-sensor-health",
            "repoclimate-condition-history",
        }
        assert all(d.body["folderUid"] == FOLDER_UID and d.body["overwrite"] is False for d in dash)
        for r in grafana.requests:
            assert r.headers["Authorization"] == f"Bearer {TOKEN}"
            assert TOKEN not in r.path

        before = len(grafana.requests)
        again = push(client(url, TOKEN), _dashboards(registry), SOURCE)
        assert not again.changed
        assert [r.method for r in grafana.requests[before:]] == ["GET"] * 6


def test_a_changed_registry_updates_the_thresholds() -> None:
    registry = parse_registry(REGISTRY, "r.yaml")
    with recording_grafana(TOKEN) as (url, grafana):
        push(client(url, TOKEN), _dashboards(registry), SOURCE)
        changed = parse_registry(
            REGISTRY.replace("profile: ashrae-a", "profile: iso11799-paper"), "r.yaml"
        )
        before = len(grafana.requests)
        report = push(client(url, TOKEN), _dashboards(changed), SOURCE)
        updated = {k for k, v in report.changes.items() if v == "updated"}
        # the overview, room and history dashboards carry per-room bands; sensor health does not
        assert updated == {
            "dashboard:repoclimate-overview",
            "dashboard:repoclimate-room",
            "dashboard:repoclimate-condition-history",
        }
        saves = [r for r in grafana.requests[before:] if r.method == "POST"]
        assert all(r.body["dashboard"]["version"] == 1 for r in saves)  # the version read
        room = grafana.dashboards["repoclimate-room"]["dashboard"]
        assert room["version"] == 2
        rh = room["panels"][1]["fieldConfig"]["overrides"]
        store = next(o for o in rh if o["matcher"]["options"].startswith("^annex/store"))
        assert [s["value"] for s in store["properties"][0]["value"]["steps"]] == [None, 30.0, 45.0]


def test_version_mismatch_is_read_again_and_retried_once() -> None:
    registry = parse_registry(REGISTRY, "r.yaml")
    with recording_grafana(TOKEN) as (url, grafana):
        api = client(url, TOKEN)
        data = _dashboards(registry)["room"]
        push(api, {"room": data}, SOURCE)
        # someone saves the dashboard between our read and our write: the first save gets 412
        original = api.dashboard.get_dashboard

        def racing_get(uid: str) -> Any:
            found = original(uid)
            grafana.dashboards[uid]["dashboard"]["version"] += 1
            return found

        api.dashboard.get_dashboard = racing_get  # type: ignore[method-assign]
        changed = dict(data, title="Room (changed)")
        with pytest.raises(PushError, match=r"412 .*changed by someone else"):
            push_dashboard(api, changed, FOLDER_UID)
        statuses = [r.method for r in grafana.requests if r.path == "/api/dashboards/db"]
        assert statuses == ["POST", "POST", "POST"]  # the first push, then the two attempts
        api.dashboard.get_dashboard = original  # type: ignore[method-assign]
        assert push_dashboard(api, changed, FOLDER_UID) == "updated"
        assert grafana.dashboards["repoclimate-room"]["dashboard"]["title"] == "Room (changed)"


def test_a_wrong_token_is_refused_and_not_echoed() -> None:
    with recording_grafana(TOKEN) as (url, _grafana):
        with pytest.raises(PushError, match="401 Unauthorized") as caught:
            push(client(url, "wrong-token"), {}, SOURCE)
        assert "wrong-token" not in str(caught.value)


def test_the_secret_is_kept_unless_asked_to_update() -> None:
    with recording_grafana(TOKEN) as (url, grafana):
        api = client(url, TOKEN)
        push(api, {}, SOURCE)
        moved = InfluxSource("http://influx2:8086", "repoclimate", "v2", secret="other")
        assert push(api, {}, moved).changes["datasource"] == "updated"
        put = grafana.writes()[-1]
        assert put.method == "PUT" and "secureJsonData" not in put.body
        (ds,) = grafana.datasources.values()
        assert ds["url"] == "http://influx2:8086" and ds["name"] == DATASOURCE_NAME
        assert ds["secureJsonData"] == {"httpHeaderValue1": "Token influx-secret"}


@pytest.mark.parametrize(
    "url", ["ftp://grafana", "http://user:pw@grafana:3000", "http://grafana:3000/?token=x"]
)
def test_bad_grafana_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="--grafana-url"):
        client(url, TOKEN)


def test_the_api_data_source_is_created_once_and_its_token_kept() -> None:
    api_source = ApiSource("http://repoclimate:8080/", "viewer-token-1")
    with recording_grafana(TOKEN) as (url, grafana):
        api = client(url, TOKEN)
        first = push(api, {}, SOURCE, api_source=api_source)
        assert first.changes == {
            "folder": "created",
            "datasource": "created",
            "api-datasource": "created",
        }
        (post,) = [r for r in grafana.writes() if r.body.get("name") == API_DATASOURCE_NAME]
        assert (post.method, post.path) == ("POST", "/api/datasources")
        assert post.body == {
            "name": API_DATASOURCE_NAME,
            "uid": build.API_DATASOURCE_UID,
            "type": "yesoreyeram-infinity-datasource",
            "access": "proxy",
            "url": "http://repoclimate:8080",
            "isDefault": False,
            "jsonData": {
                "auth_method": "bearerToken",
                "allowedHosts": ["http://repoclimate:8080"],
                "timeoutInSeconds": 10,
            },
            "secureJsonData": {"bearerToken": "viewer-token-1"},
        }
        before = len(grafana.requests)
        again = push(api, {}, SOURCE, api_source=api_source)
        assert not again.changed
        assert [r.method for r in grafana.requests[before:]] == ["GET"] * 3
        # a new token is sent only when asked: Grafana never shows the stored one
        renewed = ApiSource("http://repoclimate:8080", "viewer-token-2")
        assert not push(api, {}, SOURCE, api_source=renewed).changed
        assert push(api, {}, SOURCE, api_source=renewed, update_secret=True).changed
        (stored,) = [d for d in grafana.datasources.values() if d["name"] == API_DATASOURCE_NAME]
        assert stored["secureJsonData"] == {"bearerToken": "viewer-token-2"}


def test_an_api_data_source_without_token_sends_no_credential() -> None:
    body = ApiSource("http://repoclimate:8080").body(with_secret=True)
    assert body["jsonData"]["auth_method"] == "none" and "secureJsonData" not in body
