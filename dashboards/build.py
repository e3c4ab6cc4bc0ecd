"""Build the Grafana dashboards from the registry with grafana-foundation-sdk (Grafana 11.6).

Four dashboards, each a `grafana_foundation_sdk.models.dashboard.Dashboard`:

- **Repository overview**: one row per site; each room's latest temperature and RH coloured against
  its profile's band, a 7-day state timeline per room (in band / near / out), silent sensors.
- **Room**: template variables site → room → sensor (``SHOW TAG VALUES``); T and RH per sensor with
  each room's band as threshold regions (a field override per room), dew point, MRF, VTT mould
  index and PI from measurement ``preservation``; alert periods as annotations.
- **Sensor health**: last seen and readings per sensor, battery, link quality, unassigned devices.
- **Condition history**: monthly mean/min/max and hours out of band per room from the rollups
  ``climate_1h`` / ``climate_1d``, monthly worst mould and PI values.

All queries are raw InfluxQL (`repoclimate.dashboards.queries`) against one data source, uid
`DATASOURCE_UID`. The SDK has no InfluxDB query builder: `InfluxQLQuery` is the small
``Dataquery`` that emits what Grafana's InfluxDB data source stores.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Self

from grafana_foundation_sdk.builders import annotationslist, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.builders import dashboard as gdb
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
ANNOTATION_TAG = "repoclimate"
"""Every alert annotation the ``grafana`` channel posts carries this tag."""
OPEN_TAG = "open"
"""An alert annotation carries this tag while its alert is open (dropped on resolve)."""

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
    def __init__(self, query: InfluxQLQuery) -> None:
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
            t = (
                stat.Panel()
                .id(panel_id)
                .title(f"{band.room_name}: temperature")
                .datasource(DATASOURCE)
                .with_target(influxql("A", q.latest(band.site, band.room, "temperature")))
                .unit("celsius")
                .thresholds(_thresholds(band_steps(p.t_min_c, p.t_max_c, NEAR_T_K)))
                .grid_pos(_pos(0, y, 4, 4))
            )
            rh = (
                stat.Panel()
                .id(panel_id + 1)
                .title(f"{band.room_name}: RH")
                .datasource(DATASOURCE)
                .with_target(influxql("A", q.latest(band.site, band.room, "humidity")))
                .unit("humidity")
                .thresholds(_thresholds(band_steps(p.rh_min_pct, p.rh_max_pct, NEAR_RH_PCT)))
                .grid_pos(_pos(4, y, 4, 4))
            )
            timeline = (
                statetimeline.Panel()
                .id(panel_id + 2)
                .title(f"{band.room_name}: RH against {p.id}, last 7 days")
                .datasource(DATASOURCE)
                .with_target(influxql("A", q.room_hourly(band.site, band.room, "humidity")))
                .time_from("7d")
                .unit("humidity")
                .thresholds(_thresholds(band_steps(p.rh_min_pct, p.rh_max_pct, NEAR_RH_PCT)))
                .color_scheme(gdb.FieldColor().mode(gm.FieldColorModeId.THRESHOLDS))
                .grid_pos(_pos(8, y, 16, 4))
            )
            d = d.with_panel(t).with_panel(rh).with_panel(timeline)
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
        annotationslist.Panel()
        .id(panel_id + 1)
        .title("Open alerts")
        .datasource(GRAFANA_DATASOURCE)
        .tags([ANNOTATION_TAG, OPEN_TAG])
        .only_from_this_dashboard(False)
        .only_in_time_range(False)
        .limit(50)
        .show_tags(True)
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
    area = GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.LINE_AND_AREA)
    alias = "$tag_site/$tag_room/$tag_sensor"
    t = (
        timeseries.Panel()
        .id(1)
        .title("Temperature per sensor, band of the room's profile")
        .datasource(DATASOURCE)
        .with_target(influxql("A", q.room_field("temperature"), alias=alias))
        .unit("celsius")
        .thresholds_style(area)
        .grid_pos(_pos(0, 0, 12, 9))
    )
    rh = (
        timeseries.Panel()
        .id(2)
        .title("Relative humidity per sensor, band of the room's profile")
        .datasource(DATASOURCE)
        .with_target(influxql("A", q.room_field("humidity"), alias=alias))
        .unit("humidity")
        .thresholds_style(area)
        .grid_pos(_pos(12, 0, 12, 9))
    )
    t = t.overrides(
        [_Override(_band_override(b, b.profile.t_min_c, b.profile.t_max_c)) for b in bands]
    )
    rh = rh.overrides(
        [_Override(_band_override(b, b.profile.rh_min_pct, b.profile.rh_max_pct)) for b in bands]
    )
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
        .with_panel(t)
        .with_panel(rh)
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
