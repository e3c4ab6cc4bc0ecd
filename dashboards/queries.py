"""The InfluxQL texts the dashboards run, on the schema of DESIGN.md.

Each is a raw InfluxQL query with the Grafana macros the InfluxDB data source expands
(``$__timeFilter``, ``$__interval``) and the dashboards' template variables (``$site``,
``$room``, ``$sensor``); one text serves InfluxDB 1.8+, 2.x through a DBRP mapping, and 3.x.
Tag values compared with ``=~ /^$var$/`` accept a single value or Grafana's ``(a|b)`` multi-value
form. Literal site and room ids are quoted with `repoclimate.history.influxql.string_literal`.
"""

from __future__ import annotations

from repoclimate.history.influxql import string_literal

CLIMATE = "climate"
PRESERVATION = "preservation"
ROLLUPS = {"1h": "climate_1h", "1d": "climate_1d"}

PRESERVATION_FIELDS = ("dew_point", "mould_risk_factor", "vtt_mould_index", "preservation_index")
"""The derived fields the Room dashboard charts (as `preservation.metrics.RoomMetrics.series`
names them)."""

_SELECTED = '"site" =~ /^$site$/ AND "room" =~ /^$room$/'


def site_values() -> str:
    """The ``site`` template variable: every site that has readings."""
    return f'SHOW TAG VALUES FROM "{CLIMATE}" WITH KEY = "site"'


def room_values() -> str:
    """The ``room`` template variable: the rooms of the selected site(s)."""
    return f'SHOW TAG VALUES FROM "{CLIMATE}" WITH KEY = "room" WHERE "site" =~ /^$site$/'


def sensor_values() -> str:
    """The ``sensor`` template variable: the sensors of the selected room(s)."""
    return f'SHOW TAG VALUES FROM "{CLIMATE}" WITH KEY = "sensor" WHERE {_SELECTED}'


def room_field(field: str) -> str:
    """``field`` of every selected sensor, per sensor, averaged over Grafana's interval."""
    return (
        f'SELECT mean("{field}") AS "{field}" FROM "{CLIMATE}" WHERE {_SELECTED}'
        ' AND "sensor" =~ /^$sensor$/ AND $__timeFilter'
        ' GROUP BY time($__interval), "site", "room", "sensor" fill(none)'
    )


def room_derived(field: str) -> str:
    """A derived ``preservation`` field of the selected room(s) (the room-scope rows)."""
    return (
        f'SELECT mean("{field}") AS "{field}" FROM "{PRESERVATION}" WHERE {_SELECTED}'
        " AND \"scope\" = 'room' AND $__timeFilter"
        ' GROUP BY time($__interval), "site", "room" fill(none)'
    )


def latest(site: str, room: str, field: str) -> str:
    """The latest ``field`` of a room, per sensor, within the dashboard's range."""
    return (
        f'SELECT last("{field}") AS "{field}" FROM "{CLIMATE}"'
        f' WHERE "site" = {string_literal(site)} AND "room" = {string_literal(room)}'
        ' AND $__timeFilter GROUP BY "sensor"'
    )


def room_hourly(site: str, room: str, field: str) -> str:
    """A room's hourly mean of ``field`` (all its sensors), for the state timeline."""
    return (
        f'SELECT mean("{field}") AS "{field}" FROM "{CLIMATE}"'
        f' WHERE "site" = {string_literal(site)} AND "room" = {string_literal(room)}'
        " AND $__timeFilter GROUP BY time(1h) fill(none)"
    )


def last_seen(field: str) -> str:
    """Every sensor's latest ``field`` in the range; its time is when the sensor last sent it.

    One selector only: with two (``last(a), last(b)``) InfluxQL reports the range's start as the
    time, not the reading's.
    """
    return (
        f'SELECT last("{field}") AS "{field}" FROM "{CLIMATE}" WHERE $__timeFilter'
        ' GROUP BY "site", "room", "sensor"'
    )


def health_field(field: str) -> str:
    """A device field (``battery``, ``linkquality``) per sensor over Grafana's interval."""
    return (
        f'SELECT mean("{field}") AS "{field}" FROM "{CLIMATE}" WHERE $__timeFilter'
        ' GROUP BY time($__interval), "site", "room", "sensor" fill(none)'
    )


def reading_counts() -> str:
    """Readings per sensor in the range: compared with the expected interval."""
    return (
        f'SELECT count("temperature") AS "readings" FROM "{CLIMATE}" WHERE $__timeFilter'
        ' GROUP BY "site", "room", "sensor"'
    )


def unassigned() -> str:
    """Devices the registry does not know (site and room tag ``unassigned``), last seen."""
    return (
        f'SELECT last("temperature") AS "temperature" FROM "{CLIMATE}"'
        ' WHERE "site" = \'unassigned\' AND $__timeFilter GROUP BY "sensor"'
    )


def rollup_monthly(period: str, field: str) -> str:
    """A rollup's ``<field>_mean`` / ``_min`` / ``_max`` per room, by 30-day bucket."""
    m = ROLLUPS[period]
    return (
        f'SELECT mean("{field}_mean") AS "mean", min("{field}_min") AS "min",'
        f' max("{field}_max") AS "max" FROM "{m}" WHERE {_SELECTED} AND $__timeFilter'
        ' GROUP BY time(30d), "site", "room" fill(none)'
    )


def rollup_hours_outside(site: str, room: str, field: str, low: float, high: float) -> str:
    """A room's hours per 30 days (per sensor) whose ``field`` left the band ``[low, high]``."""
    return (
        f'SELECT count("{field}_mean") AS "hours_out" FROM "{ROLLUPS["1h"]}"'
        f' WHERE "site" = {string_literal(site)} AND "room" = {string_literal(room)}'
        f' AND ("{field}_max" > {high!r} OR "{field}_min" < {low!r}) AND $__timeFilter'
        ' GROUP BY time(30d), "sensor" fill(none)'
    )


def rollup_hours(site: str, room: str, field: str) -> str:
    """A room's hours with data per 30 days (per sensor): the base of time in band."""
    return (
        f'SELECT count("{field}_mean") AS "hours" FROM "{ROLLUPS["1h"]}"'
        f' WHERE "site" = {string_literal(site)} AND "room" = {string_literal(room)}'
        ' AND $__timeFilter GROUP BY time(30d), "sensor" fill(none)'
    )


def derived_monthly(field: str) -> str:
    """A derived ``preservation`` field per room, by 30-day bucket (maximum)."""
    return (
        f'SELECT max("{field}") AS "{field}" FROM "{PRESERVATION}" WHERE {_SELECTED}'
        ' AND "scope" = \'room\' AND $__timeFilter GROUP BY time(30d), "site", "room" fill(none)'
    )
