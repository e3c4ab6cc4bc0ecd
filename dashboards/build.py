"""Build the Grafana dashboards from the registry with grafana-foundation-sdk (Grafana 11.6).

Four dashboards, each a `grafana_foundation_sdk.models.dashboard.Dashboard`:

- **Repository overview**: one row per site; each room's latest temperature and RH coloured against
  its profile's band, a 7-day state timeline per room (in band / near / out), silent sensors, and
  the open alerts as the service's API lists them (``GET /api/alerts``).
- **Room**: template variables site → room → sensor (``SHOW TAG VALUES``); T and RH per sensor with
  each room's band as threshold regions (a field override per room), dew point, MRF, VTT mould
  index and PI from measurement ``preservation``; alert periods as annotations.
- **Sensor health**: last seen and readings per sensor, battery, link quality, unassigned devices,
  and the collector's dead letters by reason (``GET /api/deadletters``).
- **Condition history**: monthly mean/min/max and hours out of band per room from the rollups
  ``climate_1h`` / ``climate_1d``, monthly worst mould and PI values.

Readings are raw InfluxQL (`repoclimate.dashboards.queries`) against one data source, uid
`DATASOURCE_UID`. The SDK has no InfluxDB query builder: `InfluxQLQuery` is the small
``Dataquery`` that emits what Grafana's InfluxDB data source stores. What only the service knows
(alerts, dead letters) is read from its HTTP API through the Infinity data source plugin
(``yesoreyeram-infinity-datasource``, uid `API_DATASOURCE_UID`), with `InfinityQuery` targets:
a URL relative to the data source's base URL, and the JSON columns to show.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Self

from grafana_foundation_sdk.builders import dashboard as gdb
from grafana_foundation_sdk.builders import stat, statetimeline, table, timeseries
from grafana_foundation_sdk.builders.common import GraphThresholdsStyleConfig
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as gm
from grafana_foundation_sdk.models.common import GraphThresholdsStyleMode

from repoclimate.dashboards import queries as q
from repoclimate.preservation.profiles import Profile, get_profile
from repoclimate.sensors.registry import Registry

GRAFANA_VERSION = "11.6.0"
"""The Grafana version the dashboards (and the pinned SDK's schemas) target."""

DATASOURCE_UID = "repoclimate-influxdb"
DATASOURCE_TYPE = "influxdb"
DATASOURCE = gm.DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID)
GRAFANA_DATASOURCE = gm.DataSourceRef(type_val="grafana", uid="-- Grafana --")
API_DATASOURCE_UID = "repoclimate-api"
API_DATASOURCE_TYPE = "yesoreyeram-infinity-datasource"
API_DATASOURCE = gm.DataSourceRef(type_val=API_DATASOURCE_TYPE, uid=API_DATASOURCE_UID)
"""The service's HTTP API, read with the Infinity plugin (base URL: the service's address)."""
ANNOTATION_TAG = "repoclimate"
"""Every alert annotation the ``grafana`` channel posts carries this tag."""

NEAR_RH_PCT = 5.0
NEAR_T_K = 1.0
"""How far outside its band a reading is "near" rather than "out" on the state timeline."""

OK, NEAR, OUT = "green", "orange", "red"


class InfluxQLQuery(cogvariants.Dataquery):
    """A raw InfluxQL target of Grafana's InfluxDB data source."""

    def __init__(
        self,
        ref_id: str,
        query: str,
        *,
        result_format: str = "time_series",
        alias: str | None = None,
        datasource: gm.DataSourceRef = DATASOURCE,
    ) -> None:
        self.ref_id = ref_id
        self.query = query
        self.result_format = result_format
        self.alias = alias
        self.datasource = datasource

    def to_json(self) -> dict[str, object]:
        """The target as Grafana stores it."""
        payload: dict[str, object] = {
            "refId": self.ref_id,
            "datasource": self.datasource.to_json(),
            "rawQuery": True,
            "query": self.query,
            "resultFormat": self.result_format,
        }
        if self.alias is not None:
            payload["alias"] = self.alias
        return payload

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        """Read a target back (the SDK calls this for ``datasource.type == "influxdb"``)."""
        return cls(
            str(data["refId"]),
            str(data["query"]),
            result_format=str(data.get("resultFormat", "time_series")),
            alias=data.get("alias"),
            datasource=gm.DataSourceRef.from_json(data["datasource"]),
        )


cogruntime.register_dataquery_variant(
    cogruntime.DataqueryConfig(identifier=DATASOURCE_TYPE, from_json_hook=InfluxQLQuery.from_json)
)


class _Target(cogbuilder.Builder[cogvariants.Dataquery]):
    def __init__(self, query: cogvariants.Dataquery) -> None:
        self._query = query

    def build(self) -> cogvariants.Dataquery:
        return self._query


def influxql(
    ref_id: str, query: str, *, table_format: bool = False, alias: str | None = None
) -> _Target:
    """A builder of one InfluxQL target."""
    fmt = "table" if table_format else "time_series"
    return _Target(InfluxQLQuery(ref_id, query, result_format=fmt, alias=alias))


@dataclass(frozen=True, slots=True)
class JsonColumn:
    """One column an Infinity query takes from each JSON object of the answer.

    ``selector`` is a top-level key of the object (a plain key is the same path in gjson, which
    the plugin's backend parser uses); ``kind`` is the plugin's column type (``string``,
    ``number``, ``timestamp`` — an RFC 3339 text).
    """

    selector: str
    title: str
    kind: str = "string"

    def to_json(self) -> dict[str, str]:
        return {"selector": self.selector, "text": self.title, "type": self.kind}


class InfinityQuery(cogvariants.Dataquery):
    """A target of the Infinity data source: GET ``url`` (relative to the data source's base
    URL) with ``params``, parse the JSON answer (an array of objects) with the backend parser
    and keep ``columns``, as a table."""

    def __init__(
        self,
        ref_id: str,
        url: str,
        columns: Sequence[JsonColumn],
        *,
        params: Sequence[tuple[str, str]] = (),
        datasource: gm.DataSourceRef = API_DATASOURCE,
    ) -> None:
        self.ref_id = ref_id
        self.url = url
        self.columns = tuple(columns)
        self.params = tuple(params)
        self.datasource = datasource

    def to_json(self) -> dict[str, object]:
        """The target as Grafana stores it (the plugin's query model)."""
        return {
            "refId": self.ref_id,
            "datasource": self.datasource.to_json(),
            "type": "json",
            "source": "url",
            "format": "table",
            "parser": "backend",
            "url": self.url,
            "url_options": {
                "method": "GET",
                "data": "",
                "params": [{"key": k, "value": v} for k, v in self.params],
            },
            "root_selector": "",
            "columns": [c.to_json() for c in self.columns],
            "filters": [],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        """Read a target back (the SDK calls this for the Infinity data source type)."""
        options = data.get("url_options") or {}
        return cls(
            str(data["refId"]),
            str(data["url"]),
            [
                JsonColumn(str(c["selector"]), str(c.get("text", "")), str(c.get("type", "")))
                for c in data.get("columns", [])
            ],
            params=[(str(p["key"]), str(p["value"])) for p in options.get("params", [])],
            datasource=gm.DataSourceRef.from_json(data["datasource"]),
        )


cogruntime.register_dataquery_variant(
    cogruntime.DataqueryConfig(
        identifier=API_DATASOURCE_TYPE, from_json_hook=InfinityQuery.from_json
    )
)


def api_table(
    ref_id: str, url: str, columns: Sequence[JsonColumn], params: Sequence[tuple[str, str]] = ()
) -> _Target:
    """A builder of one Infinity target reading the service's API."""
    return _Target(InfinityQuery(ref_id, url, columns, params=params))


OPEN_ALERTS_URL = "/api/alerts"
"""Open alerts (pending, firing, acknowledged) newest first: the API's default ``state``."""
OPEN_ALERT_COLUMNS = (
    JsonColumn("since", "Since", "timestamp"),
    JsonColumn("severity", "Severity"),
    JsonColumn("state", "State"),
    JsonColumn("site", "Site"),
    JsonColumn("room", "Room"),
    JsonColumn("sensor", "Sensor"),
    JsonColumn("summary", "What"),
    JsonColumn("advice", "What to do"),
    JsonColumn("acknowledged_by", "Acknowledged by"),
    JsonColumn("id", "Alert", "number"),
)
DEAD_LETTERS_URL = "/api/deadletters"
DEAD_LETTER_COLUMNS = (
    JsonColumn("reason", "Reason"),
    JsonColumn("count", "Dead letters since the service started", "number"),
)


@dataclass(frozen=True, slots=True)
class RoomBand:
    """A room of the registry and its profile's band."""

    site: str
    site_name: str
    room: str
    room_name: str
    profile: Profile

    @property
    def key(self) -> str:
        """The series name prefix the Room dashboard gives this room's series."""
        return f"{self.site}/{self.room}"


def room_bands(registry: Registry) -> list[RoomBand]:
    """Every room of ``registry`` with its band, in registry order."""
    return [
        RoomBand(
            site.id, site.name or site.id, room.id, room.name or room.id, get_profile(room.profile)
        )
        for site in registry.sites
        for room in site.rooms
    ]


def band_steps(low: float, high: float, near: float | None = None) -> list[gm.Threshold]:
    """Threshold steps colouring below ``low`` and above ``high`` as out of band (and within
    ``near`` of it as near); an infinite limit has no step."""
    steps = [gm.Threshold(value=None, color=OUT if math.isfinite(low) else OK)]
    if math.isfinite(low):
        if near:
            steps.append(gm.Threshold(value=low - near, color=NEAR))
        steps.append(gm.Threshold(value=low, color=OK))
    if math.isfinite(high):
        if near:
            steps.append(gm.Threshold(value=high, color=NEAR))
            steps.append(gm.Threshold(value=high + near, color=OUT))
        else:
            steps.append(gm.Threshold(value=high, color=OUT))
    return steps


def _thresholds(steps: list[gm.Threshold]) -> gdb.ThresholdsConfig:
    return gdb.ThresholdsConfig().mode(gm.ThresholdsMode.ABSOLUTE).steps(steps)


def _pos(x: int, y: int, w: int, h: int) -> gm.GridPos:
    return gm.GridPos(x=x, y=y, w=w, h=h)


def _uid(*parts: str) -> str:
    return "-".join(parts)[:40]


@dataclass(frozen=True, slots=True)
class Quantity:
    """A measured quantity as the band panels show it: its ``climate`` field, how a title names
    it (short, beside a room's name, and in full), Grafana's unit, and how far outside the band
    counts as near."""

    field: str
    label: str
    name: str
    unit: str
    near: float

    def band(self, profile: Profile) -> tuple[float, float]:
        """The profile's band for this quantity (low, high)."""
        if self.field == "temperature":
            return profile.t_min_c, profile.t_max_c
        return profile.rh_min_pct, profile.rh_max_pct


TEMPERATURE = Quantity("temperature", "temperature", "Temperature", "celsius", NEAR_T_K)
HUMIDITY = Quantity("humidity", "RH", "Relative humidity", "humidity", NEAR_RH_PCT)


def _latest_stat(panel_id: int, band: RoomBand, quantity: Quantity, x: int, y: int) -> stat.Panel:
    """A room's latest reading of ``quantity`` coloured against its profile's band."""
    return (
        stat.Panel()
        .id(panel_id)
        .title(f"{band.room_name}: {quantity.label}")
        .datasource(DATASOURCE)
        .with_target(influxql("A", q.latest(band.site, band.room, quantity.field)))
        .unit(quantity.unit)
        .thresholds(_thresholds(band_steps(*quantity.band(band.profile), quantity.near)))
        .grid_pos(_pos(x, y, 4, 4))
    )


def _per_sensor_series(
    panel_id: int, quantity: Quantity, bands: Sequence[RoomBand], x: int
) -> timeseries.Panel:
    """``quantity`` per sensor of the selected room(s), each room's band as threshold regions
    (a field override per room, matched by the series name ``site/room/sensor``)."""
    return (
        timeseries.Panel()
        .id(panel_id)
        .title(f"{quantity.name} per sensor, band of the room's profile")
        .datasource(DATASOURCE)
        .with_target(
            influxql("A", q.room_field(quantity.field), alias="$tag_site/$tag_room/$tag_sensor")
        )
        .unit(quantity.unit)
        .thresholds_style(GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.LINE_AND_AREA))
        .overrides([_Override(_band_override(b, *quantity.band(b.profile))) for b in bands])
        .grid_pos(_pos(x, 0, 12, 9))
    )


def overview(registry: Registry) -> gm.Dashboard:
    """The Repository overview dashboard."""
    d = (
        gdb.Dashboard("Repository overview")
        .uid("repoclimate-overview")
        .tags([ANNOTATION_TAG])
        .time("now-7d", "now")
        .refresh("1m")
        .timezone("browser")
    )
    y = 0
    panel_id = 1
    by_site: dict[str, list[RoomBand]] = {}
    for band in room_bands(registry):
        by_site.setdefault(band.site, []).append(band)
    for rooms in by_site.values():
        d = d.with_row(gdb.Row(rooms[0].site_name).grid_pos(_pos(0, y, 24, 1)))
        y += 1
        for band in rooms:
            p = band.profile
            timeline = (
                statetimeline.Panel()
                .id(panel_id + 2)
                .title(f"{band.room_name}: RH against {p.id}, last 7 days")
                .datasource(DATASOURCE)
                .with_target(influxql("A", q.room_hourly(band.site, band.room, "humidity")))
                .time_from("7d")
                .unit(HUMIDITY.unit)
                .thresholds(_thresholds(band_steps(*HUMIDITY.band(p), HUMIDITY.near)))
                .color_scheme(gdb.FieldColor().mode(gm.FieldColorModeId.THRESHOLDS))
                .grid_pos(_pos(8, y, 16, 4))
            )
            d = (
                d.with_panel(_latest_stat(panel_id, band, TEMPERATURE, 0, y))
                .with_panel(_latest_stat(panel_id + 1, band, HUMIDITY, 4, y))
                .with_panel(timeline)
            )
            panel_id += 3
            y += 4
    silent = (
        table.Panel()
        .id(panel_id)
        .title("Sensors: last seen (silent ones sort first)")
        .datasource(DATASOURCE)
        .with_target(influxql("A", q.last_seen("temperature"), table_format=True))
        .with_target(influxql("B", q.last_seen("humidity"), table_format=True))
        .grid_pos(_pos(0, y, 24, 8))
    )
    open_alerts = (
        table.Panel()
        .id(panel_id + 1)
        .title("Open alerts")
        .datasource(API_DATASOURCE)
        .with_target(api_table("A", OPEN_ALERTS_URL, OPEN_ALERT_COLUMNS, [("limit", "200")]))
        .grid_pos(_pos(0, y + 8, 24, 8))
    )
    return d.with_panel(silent).with_panel(open_alerts).build()


def _variable(name: str, label: str, query: str) -> gdb.QueryVariable:
    return (
        gdb.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(query)
        .refresh(gm.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(gm.VariableSort.ALPHABETICAL_ASC)
        .multi(name == "sensor")
        .include_all(name == "sensor")
        .all_value(".*" if name == "sensor" else "")
    )


def _js_regex_escape(text: str) -> str:
    """``text`` as a literal in a JavaScript regular expression (Grafana's field matcher)."""
    return re.sub(r"([.*+?^${}()|\[\]\\])", r"\\\1", text)


def _band_override(
    band: RoomBand, low: float, high: float
) -> gm.DashboardFieldConfigSourceOverrides:
    return gm.DashboardFieldConfigSourceOverrides(
        matcher=gm.MatcherConfig(id_val="byRegexp", options=f"^{_js_regex_escape(band.key)}/"),
        properties=[
            gm.DynamicConfigValue(
                id_val="thresholds",
                value=_thresholds(band_steps(low, high)).build(),
            )
        ],
    )


def room(registry: Registry) -> gm.Dashboard:
    """The Room dashboard (template variables site → room → sensor)."""
    bands = room_bands(registry)
    d = (
        gdb.Dashboard("Room")
        .uid("repoclimate-room")
        .tags([ANNOTATION_TAG])
        .time("now-7d", "now")
        .refresh("5m")
        .timezone("browser")
        .with_variable(_variable("site", "Site", q.site_values()))
        .with_variable(_variable("room", "Room", q.room_values()))
        .with_variable(_variable("sensor", "Sensor", q.sensor_values()))
        .annotation(
            gdb.AnnotationQuery()
            .name("Alerts")
            .datasource(GRAFANA_DATASOURCE)
            .enable(True)
            .icon_color("red")
            .target(_AnnotationTarget(["repoclimate", "room:$room"]))
        )
        .with_panel(_per_sensor_series(1, TEMPERATURE, bands, 0))
        .with_panel(_per_sensor_series(2, HUMIDITY, bands, 12))
    )
    units = {
        "dew_point": ("Dew point", "celsius"),
        "mould_risk_factor": ("Mould risk factor (MRF)", "none"),
        "vtt_mould_index": ("VTT mould index", "none"),
        "preservation_index": ("Preservation index (PI)", "y"),
    }
    for i, field in enumerate(q.PRESERVATION_FIELDS):
        title, unit = units[field]
        d = d.with_panel(
            timeseries.Panel()
            .id(3 + i)
            .title(title)
            .datasource(DATASOURCE)
            .with_target(influxql("A", q.room_derived(field), alias="$tag_site/$tag_room"))
            .unit(unit)
            .grid_pos(_pos(12 * (i % 2), 9 + 8 * (i // 2), 12, 8))
        )
    return d.build()


class _Override(cogbuilder.Builder[gm.DashboardFieldConfigSourceOverrides]):
    def __init__(self, override: gm.DashboardFieldConfigSourceOverrides) -> None:
        self._override = override

    def build(self) -> gm.DashboardFieldConfigSourceOverrides:
        return self._override


class _AnnotationTarget(cogbuilder.Builder[gm.AnnotationTarget]):
    def __init__(self, tags: Sequence[str]) -> None:
        self._tags = list(tags)

    def build(self) -> gm.AnnotationTarget:
        return gm.AnnotationTarget(limit=500, match_any=False, tags=self._tags, type_val="tags")


def sensor_health(registry: Registry) -> gm.Dashboard:
    """The Sensor health dashboard."""
    del registry  # every sensor is read from the store, the unknown ones too
    panels: list[cogbuilder.Builder[gm.Panel]] = [
        table.Panel()
        .id(1)
        .title("Last seen per sensor")
        .datasource(DATASOURCE)
        .with_target(influxql("A", q.last_seen("temperature"), table_format=True))
        .with_target(influxql("B", q.last_seen("humidity"), table_format=True))
        .grid_pos(_pos(0, 0, 12, 9)),
        table.Panel()
        .id(2)
        .title("Readings in the range per sensor")
        .datasource(DATASOURCE)
        .with_target(influxql("A", q.reading_counts(), table_format=True))
        .grid_pos(_pos(12, 0, 12, 9)),
        timeseries.Panel()
        .id(3)
        .title("Battery")
        .datasource(DATASOURCE)
        .with_target(
            influxql("A", q.health_field("battery"), alias="$tag_site/$tag_room/$tag_sensor")
        )
        .unit("percent")
        .grid_pos(_pos(0, 9, 12, 8)),
        timeseries.Panel()
        .id(4)
        .title("Link quality")
        .datasource(DATASOURCE)
        .with_target(
            influxql("A", q.health_field("linkquality"), alias="$tag_site/$tag_room/$tag_sensor")
        )
        .grid_pos(_pos(12, 9, 12, 8)),
        table.Panel()
        .id(5)
        .title("Unassigned devices (not in the registry)")
        .datasource(DATASOURCE)
        .with_target(influxql("A", q.unassigned(), table_format=True))
        .grid_pos(_pos(0, 17, 24, 6)),
        table.Panel()
        .id(6)
        .title("Dead letters by reason (messages the collector refused)")
        .datasource(API_DATASOURCE)
        .with_target(api_table("A", DEAD_LETTERS_URL, DEAD_LETTER_COLUMNS))
        .grid_pos(_pos(0, 23, 24, 6)),
    ]
    d = (
        gdb.Dashboard("Sensor health")
        .uid("repoclimate-sensor-health")
        .tags([ANNOTATION_TAG])
        .time("now-24h", "now")
        .refresh("1m")
    )
    for p in panels:
        d = d.with_panel(p)
    return d.build()


def condition_history(registry: Registry) -> gm.Dashboard:
    """The Condition history dashboard (from the rollups)."""
    d = (
        gdb.Dashboard("Condition history")
        .uid("repoclimate-condition-history")
        .tags([ANNOTATION_TAG])
        .time("now-1y", "now")
        .with_variable(_variable("site", "Site", q.site_values()))
        .with_variable(_variable("room", "Room", q.room_values()))
    )
    pid, y = 1, 0
    for field, unit in (("temperature", "celsius"), ("humidity", "humidity")):
        d = d.with_panel(
            timeseries.Panel()
            .id(pid)
            .title(f"Monthly {field} (daily rollups: mean, min, max)")
            .datasource(DATASOURCE)
            .with_target(influxql("A", q.rollup_monthly("1d", field)))
            .unit(unit)
            .grid_pos(_pos(12 * (pid - 1), y, 12, 8))
        )
        pid += 1
    y += 8
    for band in room_bands(registry):
        p = band.profile
        d = d.with_panel(
            table.Panel()
            .id(pid)
            .title(f"{band.site_name} / {band.room_name}: hours out of band per month")
            .datasource(DATASOURCE)
            .with_target(
                influxql("A", q.rollup_hours(band.site, band.room, "humidity"), table_format=True)
            )
            .with_target(
                influxql(
                    "B",
                    q.rollup_hours_outside(
                        band.site, band.room, "humidity", p.rh_min_pct, p.rh_max_pct
                    ),
                    table_format=True,
                )
            )
            .with_target(
                influxql(
                    "C",
                    q.rollup_hours_outside(
                        band.site, band.room, "temperature", p.t_min_c, p.t_max_c
                    ),
                    table_format=True,
                )
            )
            .grid_pos(_pos(0, y, 24, 6))
        )
        pid += 1
        y += 6
    for field in ("vtt_mould_index", "preservation_index"):
        d = d.with_panel(
            timeseries.Panel()
            .id(pid)
            .title(f"Monthly worst {field.replace('_', ' ')}")
            .datasource(DATASOURCE)
            .with_target(influxql("A", q.derived_monthly(field), alias="$tag_site/$tag_room"))
            .grid_pos(_pos(0, y, 24, 8))
        )
        pid += 1
        y += 8
    return d.build()


BUILDERS = {
    "overview": overview,
    "room": room,
    "sensor-health": sensor_health,
    "condition-history": condition_history,
}


def build_all(registry: Registry) -> dict[str, gm.Dashboard]:
    """Every dashboard for ``registry``, by file stem."""
    return {name: make(registry) for name, make in BUILDERS.items()}


def to_json(dashboard: gm.Dashboard) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model (a plain dict)."""
    data: dict[str, Any] = json.loads(json.dumps(dashboard, cls=JSONEncoder))
    return data


def dumps(dashboard: gm.Dashboard) -> str:
    """The dashboard's JSON text, stable (sorted keys) so a rebuild changes nothing."""
    return json.dumps(to_json(dashboard), indent=2, sort_keys=True) + "\n"


def iter_targets(data: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every (panel title, target) of a dashboard's JSON, rows' panels included."""
    for panel in data.get("panels", []):
        for inner in [panel, *panel.get("panels", [])]:
            for target in inner.get("targets", []) or []:
                yield str(inner.get("title", "")), target
