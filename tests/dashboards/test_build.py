"""The dashboards' queries run against the real InfluxDB holding a seeded history, with the
variables substituted as Grafana does; the JSON round-trips through the SDK and has no dangling
data source or variable."""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from grafana_foundation_sdk.models import dashboard as gm

from repoclimate.dashboards import build
from repoclimate.sensors.registry import Registry, parse_registry
from tests.servers import InfluxDB

REGISTRY = """
sites:
  - id: arch
    name: Archive
    timezone: Europe/London
    rooms:
      - id: vault
        profile: iso11799-paper
        holdings: paper
        sensors: [{id: v1}, {id: v2}]
      - id: film
        profile: film-cold
        holdings: film
        sensors: [{id: f1}]
  - id: annex
    timezone: Europe/London
    rooms:
      - id: store
        profile: ashrae-a
        holdings: paper
        sensors: [{id: a1}]
"""

T0 = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
HOURS = 48
FROM_MS, TO_MS = T0 * 1000, (T0 + HOURS * 3600) * 1000
# sensor → (site, room, temperature, humidity, extra fields)
SEED: dict[str, tuple[str, str, float, float, str]] = {
    "v1": ("arch", "vault", 16.0, 40.0, ",battery=90"),
    "v2": ("arch", "vault", 17.0, 50.0, ",linkquality=120"),
    "f1": ("arch", "film", 1.0, 30.0, ""),
    "a1": ("annex", "store", 20.0, 50.0, ""),
    "stray": ("unassigned", "unassigned", 21.0, 55.0, ""),
}
V1_LAST_RH = 42.0  # v1's last reading differs: the "latest" panels must show it


def _lines() -> list[str]:
    lines = []
    for sensor, (site, room, t, rh, extra) in SEED.items():
        for h in range(HOURS):
            hum = V1_LAST_RH if sensor == "v1" and h == HOURS - 1 else rh
            ts = T0 + h * 3600
            tags = f"site={site},room={room},sensor={sensor}"
            lines.append(f"climate,{tags} temperature={t},humidity={hum}{extra} {ts}")
            if site != "unassigned":
                lines.append(
                    f"climate_1h,{tags} temperature_mean={t},temperature_min={t - 0.5},"
                    f"temperature_max={t + 0.5},humidity_mean={rh},humidity_min={rh - 1},"
                    f"humidity_max={rh + 1},temperature_count=12i,humidity_count=12i {ts}"
                )
        if site != "unassigned":
            for d in range(HOURS // 24):
                lines.append(
                    f"climate_1d,site={site},room={room},sensor={sensor} temperature_mean={t},"
                    f"temperature_min={t - 1},temperature_max={t + 1},humidity_mean={rh},"
                    f"humidity_min={rh - 2},humidity_max={rh + 2} {T0 + d * 86400}"
                )
    derived = {"vault": (5.0, 0.5, 0.1, 60.0), "film": (-10.0, 0.0, 0.0, 900.0)}
    for room, (dp, mrf, vtt, pi) in derived.items():
        for h in range(HOURS):
            ts = T0 + h * 3600
            fields = (
                f"dew_point={dp},mould_risk_factor={mrf},vtt_mould_index={vtt},"
                f"preservation_index={pi}"
            )
            lines.append(f"preservation,site=arch,room={room},scope=room {fields} {ts}")
            # sensor-scope rows carry other values: a room panel must not show them
            lines.append(
                f"preservation,site=arch,room={room},sensor=x,scope=sensor dew_point=99,"
                f"mould_risk_factor=99,vtt_mould_index=99,preservation_index=99 {ts}"
            )
    return lines


@pytest.fixture(scope="module")
def seeded(influxdb: InfluxDB) -> tuple[InfluxDB, str]:
    db = "dashboards_seed"
    influxdb.create_database(db)
    body = "\n".join(_lines()).encode()
    url = f"{influxdb.url}/write?{urllib.parse.urlencode({'db': db, 'precision': 's'})}"
    with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=30) as resp:
        assert resp.status == 204
    return influxdb, db


@pytest.fixture(scope="module")
def registry() -> Registry:
    return parse_registry(REGISTRY, "test-registry.yaml")


def grafana_substitute(query: str, variables: Mapping[str, str | list[str]]) -> str:
    """Expand a query as Grafana's InfluxDB data source does: the time macros for the range
    FROM_MS…TO_MS at a 1h interval, and each template variable (a multi-value one as
    ``(a|b)``, regex-escaped)."""
    query = query.replace("$__timeFilter", f"time >= {FROM_MS}ms and time <= {TO_MS}ms")
    query = query.replace("$__interval", "1h")

    def value(match: re.Match[str]) -> str:
        v = variables[match.group(1)]
        if isinstance(v, list):
            return "(" + "|".join(re.escape(x) for x in v) + ")"
        return v

    return re.sub(r"\$(\w+)", value, query)


def run(seeded: tuple[InfluxDB, str], query: str, **variables: str | list[str]) -> list[Any]:
    server, db = seeded
    answer = server.query(grafana_substitute(query, variables), db)
    result = answer["results"][0]  # type: ignore[index]
    assert "error" not in result, (query, result)
    return list(result.get("series", []))


def by_tag(series: list[Any], tag: str) -> dict[str, list[Any]]:
    """Each series' values (column 1) by the value of ``tag``."""
    return {s["tags"][tag]: [row[1] for row in s["values"]] for s in series}


def targets(dashboard: gm.Dashboard) -> dict[str, list[str]]:
    """The InfluxQL texts by panel title (the API panels: `tests.dashboards.test_api_panels`)."""
    out: dict[str, list[str]] = {}
    for title, target in build.iter_targets(build.to_json(dashboard)):
        if target["datasource"]["uid"] == build.DATASOURCE_UID:
            out.setdefault(title, []).append(target["query"])
    return out


def test_room_variables_chain_site_room_sensor(
    seeded: tuple[InfluxDB, str], registry: Registry
) -> None:
    data = build.to_json(build.room(registry))
    q = {v["name"]: v["query"] for v in data["templating"]["list"]}
    assert [s["values"] for s in run(seeded, q["site"])] == [
        [["site", "annex"], ["site", "arch"], ["site", "unassigned"]]
    ]
    assert run(seeded, q["room"], site="arch")[0]["values"] == [["room", "film"], ["room", "vault"]]
    sensors = run(seeded, q["sensor"], site="arch", room="vault")[0]["values"]
    assert sensors == [["sensor", "v1"], ["sensor", "v2"]]


def test_room_panels_return_the_seeded_series(
    seeded: tuple[InfluxDB, str], registry: Registry
) -> None:
    t = targets(build.room(registry))
    temp = t["Temperature per sensor, band of the room's profile"][0]
    series = run(seeded, temp, site="arch", room="vault", sensor=".*")
    assert {k: set(v) for k, v in by_tag(series, "sensor").items()} == {"v1": {16.0}, "v2": {17.0}}
    assert all(len(s["values"]) == HOURS for s in series)
    one = run(seeded, temp, site="arch", room="vault", sensor=["v2"])
    assert list(by_tag(one, "sensor")) == ["v2"]
    rh = t["Relative humidity per sensor, band of the room's profile"][0]
    rh_v1 = by_tag(run(seeded, rh, site="arch", room="vault", sensor=".*"), "sensor")["v1"]
    assert rh_v1[-1] == V1_LAST_RH and set(rh_v1[:-1]) == {40.0}
    expected = {
        "Dew point": 5.0,
        "Mould risk factor (MRF)": 0.5,
        "VTT mould index": 0.1,
        "Preservation index (PI)": 60.0,
    }
    for title, value in expected.items():
        (series_room,) = run(seeded, t[title][0], site="arch", room="vault")
        assert series_room["tags"] == {"site": "arch", "room": "vault"}
        assert {row[1] for row in series_room["values"]} == {value}, title


def test_room_band_overrides_match_each_rooms_series(registry: Registry) -> None:
    data = build.to_json(build.room(registry))
    rh_panel = data["panels"][1]
    assert rh_panel["targets"][0]["alias"] == "$tag_site/$tag_room/$tag_sensor"
    steps_for: dict[str, list[float | None]] = {}
    for name in ("arch/vault/v1", "arch/film/f1", "annex/store/a1"):
        (o,) = [
            o
            for o in rh_panel["fieldConfig"]["overrides"]
            if re.match(o["matcher"]["options"], name)
        ]
        steps_for[name] = [s["value"] for s in o["properties"][0]["value"]["steps"]]
    assert steps_for == {
        "arch/vault/v1": [None, 30.0, 45.0],
        "arch/film/f1": [None, 20.0, 50.0],
        "annex/store/a1": [None, 40.0, 60.0],
    }
    assert rh_panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "line+area"


def test_overview_latest_and_timeline(seeded: tuple[InfluxDB, str], registry: Registry) -> None:
    data = build.to_json(build.overview(registry))
    rows = [p["title"] for p in data["panels"] if p["type"] == "row"]
    assert rows == ["Archive", "annex"]
    t = targets(build.overview(registry))
    latest_rh = by_tag(run(seeded, t["vault: RH"][0]), "sensor")
    assert latest_rh == {"v1": [V1_LAST_RH], "v2": [50.0]}
    assert by_tag(run(seeded, t["film: temperature"][0]), "sensor") == {"f1": [1.0]}
    (timeline,) = run(seeded, t["vault: RH against iso11799-paper, last 7 days"][0])
    values = [row[1] for row in timeline["values"]]
    assert len(values) == HOURS and set(values[:-1]) == {45.0} and values[-1] == 46.0
    stat_rh = next(p for p in data["panels"] if p["title"] == "vault: RH")
    steps = stat_rh["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [(s["value"], s["color"]) for s in steps] == [
        (None, "red"),
        (25.0, "orange"),
        (30.0, "green"),
        (45.0, "orange"),
        (50.0, "red"),
    ]
    last_ns = (T0 + (HOURS - 1) * 3600) * 10**9
    for query in t["Sensors: last seen (silent ones sort first)"]:
        seen = {s["tags"]["sensor"]: s["values"][0][0] for s in run(seeded, query)}
        assert seen == dict.fromkeys(SEED, last_ns)


def test_sensor_health_panels(seeded: tuple[InfluxDB, str], registry: Registry) -> None:
    t = targets(build.sensor_health(registry))
    assert by_tag(run(seeded, t["Battery"][0]), "sensor") == {"v1": [90.0] * HOURS}
    assert by_tag(run(seeded, t["Link quality"][0]), "sensor") == {"v2": [120.0] * HOURS}
    last_ns = (T0 + (HOURS - 1) * 3600) * 10**9
    for query in t["Last seen per sensor"]:
        seen = {s["tags"]["sensor"]: s["values"][0][0] for s in run(seeded, query)}
        assert seen == dict.fromkeys(SEED, last_ns)
    counts = by_tag(run(seeded, t["Readings in the range per sensor"][0]), "sensor")
    assert counts == {s: [HOURS] for s in SEED}
    assert list(
        by_tag(run(seeded, t["Unassigned devices (not in the registry)"][0]), "sensor")
    ) == ["stray"]


def test_condition_history_from_rollups(seeded: tuple[InfluxDB, str], registry: Registry) -> None:
    t = targets(build.condition_history(registry))
    monthly = run(
        seeded, t["Monthly humidity (daily rollups: mean, min, max)"][0], site="arch", room="vault"
    )
    assert [s["tags"] for s in monthly] == [{"site": "arch", "room": "vault"}]
    cols = monthly[0]["columns"]
    rows = monthly[0]["values"]
    assert [c for c in cols] == ["time", "mean", "min", "max"]
    assert min(r[2] for r in rows) == 38.0 and max(r[3] for r in rows) == 52.0
    hours, rh_out, t_out = t["Archive / vault: hours out of band per month"]

    def totals(query: str) -> dict[str, int]:
        found: dict[str, int] = {}
        for s in run(seeded, query):
            found[s["tags"]["sensor"]] = sum(r[1] for r in s["values"])
        return found

    assert totals(hours) == {"v1": HOURS, "v2": HOURS}
    assert totals(rh_out) == {"v2": HOURS}  # v2's RH max 51 > 45; v1's 41 is in band
    assert totals(t_out) == {}
    (worst,) = run(seeded, t["Monthly worst preservation index"][0], site="arch", room="film")
    assert {r[1] for r in worst["values"]} == {900.0}
    (vtt,) = run(seeded, t["Monthly worst vtt mould index"][0], site="arch", room="vault")
    assert {r[1] for r in vtt["values"]} == {0.1}  # the room row, not the sensor rows' 99
    (temp,) = run(
        seeded,
        t["Monthly temperature (daily rollups: mean, min, max)"][0],
        site="annex",
        room="store",
    )
    rows = temp["values"]  # a1 at 20 °C: the daily rollup's min/max are 19/21 (hourly: 19.5/20.5)
    assert {r[1] for r in rows} == {20.0}
    assert min(r[2] for r in rows) == 19.0 and max(r[3] for r in rows) == 21.0


def test_condition_history_reads_only_rollups_and_derived_series(registry: Registry) -> None:
    """Long ranges must not scan raw readings (InfluxDB 3 Core refuses queries over too many
    files): every query names a rollup or the ``preservation`` measurement."""
    for title, queries in targets(build.condition_history(registry)).items():
        for query in queries:
            (measurement,) = re.findall(r'FROM "(\w+)"', query)
            assert measurement in {"climate_1h", "climate_1d", "preservation"}, (title, query)


def test_every_dashboard_round_trips_and_has_no_dangling_reference(
    registry: Registry, tmp_path: Path
) -> None:
    macros = {"__timeFilter", "__interval", "tag_site", "tag_room", "tag_sensor"}
    for name, dashboard in build.build_all(registry).items():
        data = build.to_json(dashboard)
        again = build.to_json(gm.Dashboard.from_json(json.loads(build.dumps(dashboard))))
        assert again == data, name
        variables = {v["name"] for v in data.get("templating", {}).get("list", [])}
        api = {"type": build.API_DATASOURCE_TYPE, "uid": build.API_DATASOURCE_UID}
        for title, target in build.iter_targets(data):
            if target["datasource"] == api:  # relative to the API data source's base URL
                assert target["url"].startswith("/api/") and "$" not in target["url"], title
                continue
            assert target["datasource"] == {"type": "influxdb", "uid": build.DATASOURCE_UID}
            used = set(re.findall(r"\$(\w+)", target["query"] + target.get("alias", "")))
            assert used <= variables | macros, (name, used - variables - macros)
        for panel in data["panels"]:
            if "datasource" in panel:
                uid = panel["datasource"]["uid"]
                assert uid in {build.DATASOURCE_UID, build.API_DATASOURCE_UID}, panel["title"]
        for v in data.get("templating", {}).get("list", []):
            assert v["datasource"]["uid"] == build.DATASOURCE_UID
        for a in data.get("annotations", {}).get("list", []):
            assert a["datasource"]["uid"] in {build.DATASOURCE_UID, "-- Grafana --"}
            assert set(re.findall(r"\$(\w+)", " ".join(a["target"]["tags"]))) <= variables
