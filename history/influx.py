"""The InfluxDB store: readings as line protocol in, InfluxQL over ``/query`` out.

Writes take one of two paths, picked by ``StoreSettings.api_version``:

- ``v2``: influxdb-client's synchronous write API (``POST /api/v2/write``), for InfluxDB 1.8+,
  2.x and 3.x. The bucket is ``database`` or ``database/retention_policy`` (1.8); the token is
  ``token`` or ``username:password`` (1.8). The line protocol is encoded here and handed over as
  bytes, so the client builds no per-point objects.
- ``v1``: a plain ``POST /write?db=…&rp=…&precision=ns`` for 1.x servers without the v2 API (the
  Debian 1.6 the tests run against).

Reads are InfluxQL over ``/query`` with ``epoch=ns`` on one persistent httpx connection pool; the
same query text serves 1.x, 2.x (with a DBRP mapping) and 3.x. The bulk reads of the alert engine
(`InfluxStore.history_blocks`, `hourly_blocks`) ask for CSV answers, parsed by pyarrow into
columns, and fall back to JSON when the answer is not 1.x's CSV (see `InfluxStore._blocks`).

Errors: a refused connection, a timeout, a 5xx, 408/429, refused credentials (401/403), or a
database (bucket) that does not exist and may not — or could not — be created raise
`StoreUnavailable`: in the last two cases the data is fine and the configuration is not, so the
readings must wait in the collector's spool until it is fixed rather than be dead-lettered. Any
other 4xx — a field type conflict, an unparseable line — raises `StoreRejected` carrying the
server's own message. A partial write (``partial write: field type conflict … dropped=1``) is a
`StoreRejected` with ``partial=True``: the other points of the batch were stored.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import urllib3
from numpy.typing import NDArray

from repoclimate.history import influxmeans, rollups
from repoclimate.history.derived import DerivedRow
from repoclimate.history.influxql import duration_literal, identifier, string_literal, time_range
from repoclimate.history.lineprotocol import MEASUREMENT, READING_FIELDS, LineEncoder, batches
from repoclimate.history.rollups import DAY_NS, HOUR_NS, Period
from repoclimate.history.settings import StoreSettings
from repoclimate.history.store import (
    MEAN_COLUMNS,
    READING_COLUMNS,
    AggregatePoint,
    SensorBlocks,
    StoreRejected,
    StoreUnavailable,
)
from repoclimate.history.timestamps import from_ns, to_ns
from repoclimate.sensors.reading import Reading

WRITE_BATCH_SIZE = 5_000
ROLLUP_EVERY_S = 60.0
"""How often writes bring the rollups of the hours they touched up to date. Recomputing them on
every write cost two aggregate queries and up to four writes per batch: a collector fell from
≈ 90 000 to ≈ 900 readings/s on InfluxDB 1.6. Reading rollups (`InfluxStore.rollups`) brings
them up to date first, so what this store answers is never stale; Grafana, which reads InfluxDB
directly, sees them at most this late."""

log = logging.getLogger(__name__)
"""Points per write request (InfluxDB's own recommendation for batch size)."""

_DROPPED = re.compile(r"dropped=(\d+)")
_NOT_FOUND = re.compile(r"(database|bucket) not found", re.IGNORECASE)
_POLICY_NOT_FOUND = re.compile(r"retention policy not found", re.IGNORECASE)
_TRANSIENT_4XX = frozenset({401, 403, 408, 429})


def _aggregates(fields: Sequence[str]) -> str:
    return ", ".join(
        f"{function}({field}) AS {field}_{function}"
        for field in fields
        for function in rollups.STATS
    )


_AGGREGATES = _aggregates(("temperature", "humidity"))
_DERIVED_AGGREGATES = _aggregates(rollups.DERIVED_FIELDS)


def _server_message(status: int, body: bytes | str | None, headers: Mapping[str, str]) -> str:
    """The error text InfluxDB sent: JSON ``error`` (1.x) or ``message`` (2.x), else header."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    try:
        decoded = json.loads(text) if text else None
    except json.JSONDecodeError:
        decoded = None
    if isinstance(decoded, dict):
        for key in ("error", "message"):
            if isinstance(decoded.get(key), str):
                return str(decoded[key])
    for header in ("X-Influxdb-Error", "X-Platform-Error-Code"):
        for key, value in headers.items():
            if key.lower() == header.lower() and value:
                return value
    return text.strip() or f"HTTP {status}"


def _http_error(status: int, message: str, action: str) -> StoreUnavailable | StoreRejected:
    """The store error for an InfluxDB answer that was not a success (see module docstring)."""
    text = f"InfluxDB {action} failed with HTTP {status}: {message}"
    if status >= 500 or status in _TRANSIENT_4XX or status == 0:
        return StoreUnavailable(text)
    dropped = _DROPPED.search(message)
    return StoreRejected(
        text,
        status=status,
        partial=message.startswith("partial write"),
        dropped=int(dropped.group(1)) if dropped else None,
    )


def _is_missing_database(error: StoreRejected) -> bool:
    return error.status == 404 and _NOT_FOUND.search(str(error)) is not None


def _is_missing_policy(error: StoreRejected | StoreUnavailable) -> bool:
    return _POLICY_NOT_FOUND.search(str(error)) is not None


def _missing_database(error: StoreRejected, why: str) -> StoreUnavailable:
    """A missing database as the configuration problem it is: readings wait, none is refused."""
    return StoreUnavailable(
        f"{error} ({why}; create the database or bucket, or allow store.create_database — "
        "readings wait in the spool until then)"
    )


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _epoch_s(value: Any) -> float:
    """Epoch seconds of a time InfluxDB lists (``SHOW SHARDS``): RFC 3339 text or ns."""
    if isinstance(value, str):
        return datetime.fromisoformat(value).timestamp()
    return float(value) / 1e9


def _row_reading(sensor: str | None, columns: Sequence[str], values: Sequence[Any]) -> Reading:
    row = dict(zip(columns, values, strict=True))
    return Reading(
        sensor=sensor if sensor is not None else str(row["sensor"]),
        time=from_ns(int(row["time"])),
        temperature=_number(row.get("temperature")),
        humidity=_number(row.get("humidity")),
        battery=_number(row.get("battery")),
        linkquality=_number(row.get("linkquality")),
        site=row.get("site"),
        room=row.get("room"),
    )


_Rows = tuple[np.ndarray, np.ndarray, np.ndarray]
"""Rows of an answer: each row's position in the wanted sensors (-1: not wanted), its time
[ns], and the values, shape ``(columns, rows)``."""

_TAG_ESCAPE = re.compile(r"\\([, =])")
"""A character line protocol escapes in a tag value (comma, space, equals sign)."""

_CSV = "application/csv"


def _csv_rows(body: bytes, columns: Sequence[str], position: Mapping[str, int]) -> _Rows | None:
    """The ``columns`` of InfluxDB 1.x's CSV answer to one ``… GROUP BY sensor`` statement: a
    header ``name,tags,time,<selected>``, then a line per row, its tags as ``sensor=<id>``
    escaped as line protocol escapes them, its time in integer nanoseconds (``epoch=ns``), a
    float in its shortest exact decimal form (parsed back to the same bits) or nothing per
    column. None when the answer is not that (another server's CSV): `_blocks` then asks in
    JSON."""
    header = body[: body.find(b"\n")].rstrip(b"\r").decode("utf-8", "replace").split(",")
    if header[:3] != ["name", "tags", "time"] or not set(columns).issubset(header[3:]):
        return None
    types = {"tags": pa.string(), "time": pa.int64(), **dict.fromkeys(columns, pa.float64())}
    try:
        table = pacsv.read_csv(
            io.BytesIO(body),
            convert_options=pacsv.ConvertOptions(
                column_types=types,
                include_columns=list(types),
                null_values=[""],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:  # a repeated header, a time that is not an integer …
        return None
    encoded = pc.dictionary_encode(table["tags"]).combine_chunks()
    lookup = np.full(len(encoded.dictionary), -1, dtype=np.int64)
    for k, tags in enumerate(encoded.dictionary.to_pylist()):
        if tags.startswith("sensor="):
            sensor = _TAG_ESCAPE.sub(r"\1", tags[7:]) if "\\" in tags else tags[7:]
            lookup[k] = position.get(sensor, -1)
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    at = table["time"].to_numpy()
    values = np.empty((len(columns), table.num_rows), dtype=np.float64)
    for k, name in enumerate(columns):
        values[k] = table[name].to_numpy(zero_copy_only=False)
    return lookup[indices], at, values


def _json_rows(
    series: Sequence[Mapping[str, Any]], columns: Sequence[str], position: Mapping[str, int]
) -> _Rows:
    """The rows of the JSON answer's series (one per sensor, ``GROUP BY sensor``)."""
    pieces: list[_Rows] = []
    for s in series:
        rows = s.get("values")
        if not rows:
            continue
        where = position.get((s.get("tags") or {}).get("sensor") or "", -1)
        names = list(s["columns"])
        at = np.array([row[0] for row in rows], dtype=np.int64)
        table = np.array(rows, dtype=np.float64)
        picked = table[:, [names.index(name) for name in columns]].T
        pieces.append((np.full(at.size, where, dtype=np.int64), at, picked))
    if not pieces:
        return (
            np.empty(0, dtype=np.int64),
            np.empty(0, dtype=np.int64),
            np.empty((len(columns), 0), dtype=np.float64),
        )
    return (
        np.concatenate([p[0] for p in pieces]),
        np.concatenate([p[1] for p in pieces]),
        np.concatenate([p[2] for p in pieces], axis=1),
    )


_READING_COLUMNS = (*READING_FIELDS, "site", "room")
"""The columns of ``SELECT *`` a `Reading` is made of, besides ``time``."""


def _series_readings(sensor: str, series: Mapping[str, Any]) -> list[Reading]:
    """`_row_reading` of every row of one series, the columns looked up once."""
    at = {name: k for k, name in enumerate(series["columns"])}
    t, h, b, q, site, room = (at.get(name) for name in _READING_COLUMNS)
    time_at = at["time"]
    return [
        Reading(
            sensor=sensor,
            time=from_ns(int(row[time_at])),
            temperature=None if t is None or row[t] is None else float(row[t]),
            humidity=None if h is None or row[h] is None else float(row[h]),
            battery=None if b is None or row[b] is None else float(row[b]),
            linkquality=None if q is None or row[q] is None else float(row[q]),
            site=None if site is None else row[site],
            room=None if room is None else row[room],
        )
        for row in series["values"]
    ]


def _sensor_blocks(
    sensors: Sequence[str],
    wanted: Sequence[str],
    rows: _Rows,
    fields: tuple[str, ...],
    *,
    valued: bool,
    tied: Callable[[str], tuple[np.ndarray, np.ndarray]] | None = None,
) -> SensorBlocks:
    """`SensorBlocks` of ``sensors`` from the rows of the ``wanted`` ones (``sensors`` without
    repeats): each sensor's rows in time order, its rows at one instant in the answer's order
    (a stable sort); with ``valued``, rows without any value dropped (hours of battery levels
    only, as `InfluxStore.aggregate` drops them); with ``tied``, a sensor holding two rows at one
    instant takes its rows from it instead."""
    where, at, values = rows
    keep = where >= 0
    if valued:
        keep &= ~np.isnan(values).all(axis=0)
    where, at, values = where[keep], at[keep], values[:, keep]
    order = np.lexsort((at, where))
    where, at, values = where[order], at[order], values[:, order]
    offsets = np.zeros(len(wanted) + 1, dtype=np.int64)
    np.cumsum(np.bincount(where, minlength=len(wanted)), out=offsets[1:])
    if tied is not None and at.size > 1:
        same = (where[1:] == where[:-1]) & (at[1:] == at[:-1])
        if same.any():
            redo = {int(i) for i in np.unique(where[1:][same])}
            times, parts = [], []
            for i, sensor in enumerate(wanted):
                lo, hi = int(offsets[i]), int(offsets[i + 1])
                t, v = tied(sensor) if i in redo else (at[lo:hi], values[:, lo:hi])
                times.append(t)
                parts.append(v)
                offsets[i + 1] = offsets[i] + t.size
            at, values = np.concatenate(times), np.concatenate(parts, axis=1)
    if len(sensors) != len(wanted):  # a sensor asked twice is given twice
        position = {sensor: i for i, sensor in enumerate(wanted)}
        spans = [(int(offsets[k]), int(offsets[k + 1])) for k in map(position.__getitem__, sensors)]
        take = np.concatenate([np.arange(lo, hi) for lo, hi in spans] or [np.empty(0, np.int64)])
        at, values = at[take], values[:, take]
        offsets = np.zeros(len(sensors) + 1, dtype=np.int64)
        np.cumsum([hi - lo for lo, hi in spans], out=offsets[1:])
    return SensorBlocks(tuple(sensors), offsets, at, fields, values)


_Key = tuple[str, str, str]
"""A rollup's owner: ``(sensor, "", "")`` or ``("", site, room)``."""

_KEYS_PER_QUERY = 200

_SENSORS_PER_QUERY = 10_000
"""Sensors per regular expression of `InfluxStore._sensor_conditions`: the wanted ones, one
query of `InfluxStore.history_blocks` and `hourly_blocks` each, or the others, all excluded in
one query; sent by POST. On InfluxDB 1.6 with 10 000 sensors an ``OR`` of 1 000 tag conditions
took 2.4 s to plan (of 100, 0.01–0.06 s, 9 s for all the 10 000); a regular expression of all
of them costs the server ≈ 0.2 s of CPU more than no condition."""

_REGEX_SPECIAL = frozenset("\\.+*?()|[]{}^$/")


def _regex_alternatives(values: Sequence[str]) -> str:
    """An InfluxQL regular expression literal matching exactly ``values``: RE2's special
    characters (and the ``/`` that would end the literal) escaped with a backslash."""
    escaped = ("".join("\\" + c if c in _REGEX_SPECIAL else c for c in value) for value in values)
    return "/^(?:" + "|".join(escaped) + ")$/"


def _key_condition(scope: str, keys: Sequence[_Key], *, raw: bool = False) -> str:
    """Select the keys' points: raw readings (``raw``) or rollup rows, whose room rows carry no
    sensor tag."""
    if scope == "sensor":
        return " OR ".join(f"sensor = {string_literal(sensor)}" for sensor, _, _ in keys)
    rooms = " OR ".join(
        f"(site = {string_literal(site)} AND room = {string_literal(room)})"
        for _, site, room in keys
    )
    return rooms if raw else f"sensor = '' AND ({rooms})"


def _series_key(scope: str, tags: Mapping[str, str]) -> _Key | None:
    if scope == "sensor":
        return (tags["sensor"], "", "") if tags.get("sensor") else None
    site, room = tags.get("site"), tags.get("room")
    return ("", site, room) if site and room else None


def _key_tags(key: _Key) -> dict[str, str]:
    sensor, site, room = key
    return {"sensor": sensor} if sensor else {"site": site, "room": room}


def _combine(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """One day's fields from its hourly rows: count-weighted means, extreme minima and maxima."""
    fields: dict[str, float] = {}
    for quantity in rollups.QUANTITIES:
        counted = [r for r in rows if r.get(f"{quantity}_count")]
        if not counted:
            continue
        count = sum(int(r[f"{quantity}_count"]) for r in counted)
        fields[f"{quantity}_mean"] = (
            sum(float(r[f"{quantity}_mean"]) * int(r[f"{quantity}_count"]) for r in counted) / count
        )
        fields[f"{quantity}_min"] = min(float(r[f"{quantity}_min"]) for r in counted)
        fields[f"{quantity}_max"] = max(float(r[f"{quantity}_max"]) for r in counted)
        fields[f"{quantity}_count"] = float(count)
    return fields


class InfluxStore:
    """Readings in InfluxDB (measurement ``climate``; tags site/room/sensor; float fields)."""

    def __init__(self, settings: StoreSettings, *, batch_size: int = WRITE_BATCH_SIZE) -> None:
        self.settings = settings
        self._batch_size = batch_size
        self._encoder = LineEncoder()
        token = settings.token.get_secret_value() if settings.token else None
        password = settings.password.get_secret_value() if settings.password else ""
        headers = {"Authorization": f"Token {token}"} if token else {}
        self._params: dict[str, str] = {"db": settings.database}
        if settings.retention_policy:
            self._params["rp"] = settings.retention_policy
        # Credentials go in a Basic Authorization header (InfluxDB 1.x accepts it), never in
        # ``u``/``p`` query parameters: httpx logs every request URL at INFO.
        auth = (settings.username, password) if settings.username and not token else None
        self._http = httpx.Client(
            base_url=settings.url.rstrip("/"),
            headers=headers,
            auth=auth,
            timeout=httpx.Timeout(settings.timeout_s),
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=8),
        )
        self._client: Any = None
        self._write_api: Any = None
        self._touched: dict[_Key, set[int]] = {}
        self._touched_derived: dict[_Key, set[int]] = {}
        self._rollup_policy = settings.rollup_retention_policy
        self._policies_checked: set[str] = set()
        self._csv = True
        """Whether the bulk reads ask for CSV: until the server answers a CSV not 1.x's."""
        self.readings_means = True
        """Whether `readings_mean_sensors` may name sensors (False: the incremental source
        always reads the server's hourly means; the benchmark's baseline)."""
        self._reads = 0
        """Bulk reads so far (`_blocks`): `readings_mean_sensors`' listings are kept while
        this does not change."""
        self._mean_facts: (
            tuple[int, tuple[list[tuple[float, float]], dict[str, int]] | None] | None
        ) = None
        self._touched_lock = threading.Lock()
        self._rolled_at = time.monotonic()
        if settings.api_version == "v2":
            from influxdb_client.client.influxdb_client import InfluxDBClient
            from influxdb_client.client.write_api import SYNCHRONOUS

            if token is None and settings.username:
                token = f"{settings.username}:{password}"
            self._org = settings.org or "-"
            self._bucket = settings.database + (
                f"/{settings.retention_policy}" if settings.retention_policy else ""
            )
            self._client = InfluxDBClient(
                url=settings.url,
                token=token or "",
                org=self._org,
                timeout=int(settings.timeout_s * 1000),
                enable_gzip=settings.gzip,
            )
            self._write_api = self._client.write_api(write_options=SYNCHRONOUS)

    def __enter__(self) -> InfluxStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- writing ----------------------------------------------------------------------------

    def write(self, readings: Sequence[Reading]) -> None:
        """Write readings (idempotent: same series and time overwrite, fields merge).

        Raises `InvalidPoint` before sending anything when a reading cannot be encoded,
        `StoreUnavailable` when InfluxDB cannot take the write now, `StoreRejected` when it
        refused (some of) the points.
        """
        if readings:
            self._send(self._encoder.encode_readings(readings))
            self._mark_touched(readings)
            if time.monotonic() - self._rolled_at >= ROLLUP_EVERY_S:
                self.flush_rollups()

    def write_derived(self, rows: Sequence[DerivedRow]) -> None:
        """Write derived rows (``preservation`` …), with the errors of `write`; the rollup
        buckets of ``preservation`` rows are refreshed as those of readings are."""
        if not rows:
            return
        self._send(self._encoder.encode_derived(rows))
        with self._touched_lock:
            for row in rows:
                if row.measurement != rollups.PRESERVATION:
                    continue
                key = rollups.derived_key(dict(row.tags))
                if key is not None:
                    hour = rollups.hour_of(to_ns(row.time))
                    self._touched_derived.setdefault(key, set()).add(hour)

    def _write_rollups(self, rows: Sequence[DerivedRow]) -> None:
        """Write rollup rows to the rollups' retention policy (created first when absent)."""
        if not rows:
            return
        if self._rollup_policy is not None:
            self.ensure_retention_policy(self._rollup_policy)
        self._send(self._encoder.encode_derived(rows), policy=self._rollup_policy)

    def _rollup_measurement(self, period: Period) -> str:
        """The rollup measurement of ``period``, qualified by its retention policy when set."""
        name = rollups.TABLES[period]
        if self._rollup_policy is None:
            return name
        return (
            f"{identifier(self.settings.database)}.{identifier(self._rollup_policy)}."
            f"{identifier(name)}"
        )

    def _send(self, lines: Sequence[str], *, policy: str | None = None) -> None:
        # Every batch is tried even after one is refused, so one bad point does not keep the
        # rest of a large write out; a transient failure stops at once (all will be retried).
        rejections: list[StoreRejected] = []
        written = 0
        for body in batches(lines, self._batch_size):
            try:
                self._post_with_database(body, policy)
                written += 1
            except StoreRejected as error:
                rejections.append(error)
        if not rejections:
            return
        if len(rejections) == 1 and written == 0:
            raise rejections[0]
        dropped = [error.dropped for error in rejections]
        raise StoreRejected(
            "; ".join(str(error) for error in rejections),
            status=rejections[0].status,
            partial=written > 0 or any(error.partial for error in rejections),
            dropped=None if None in dropped else sum(d for d in dropped if d is not None),
        )

    def _post_with_database(self, body: bytes, policy: str | None = None) -> None:
        try:
            self._post(body, policy)
        except (StoreRejected, StoreUnavailable) as error:
            raw_policy = self.settings.retention_policy
            if policy is None and raw_policy and _is_missing_policy(error):
                if not self.settings.create_database:
                    raise StoreUnavailable(
                        f"{error} (store.create_database is off; create the retention policy "
                        "— readings wait in the spool until then)"
                    ) from error
                self.ensure_retention_policy(raw_policy)
                self._post(body, policy)
                return
            if not isinstance(error, StoreRejected) or not _is_missing_database(error):
                raise
            if not self.settings.create_database:
                raise _missing_database(error, "store.create_database is off") from error
            try:
                self.ensure_database()
            except StoreRejected as create_error:
                raise _missing_database(
                    error, f"creating it failed: {create_error}"
                ) from create_error
            self._post(body, policy)

    def _post(self, body: bytes, policy: str | None = None) -> None:
        if self._write_api is not None:
            self._post_v2(body, policy)
        else:
            self._post_v1(body, policy)

    def _post_v1(self, body: bytes, policy: str | None = None) -> None:
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self.settings.gzip:
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        params = {**self._params, "precision": "ns"}
        if policy is not None:
            params["rp"] = policy
        try:
            response = self._http.post("/write", params=params, content=body, headers=headers)
        except httpx.TransportError as error:
            raise StoreUnavailable(
                f"InfluxDB at {self.settings.url} unreachable: {error}"
            ) from error
        if response.status_code not in (200, 204):
            message = _server_message(response.status_code, response.content, response.headers)
            raise _http_error(response.status_code, message, "write")

    def _post_v2(self, body: bytes, policy: str | None = None) -> None:
        from influxdb_client.domain.write_precision import WritePrecision
        from influxdb_client.rest import ApiException

        bucket = self._bucket if policy is None else f"{self.settings.database}/{policy}"
        try:
            self._write_api.write(
                bucket=bucket, org=self._org, record=body, write_precision=WritePrecision.NS
            )
        except ApiException as error:
            status = int(error.status or 0)
            message = _server_message(status, error.body, dict(error.headers or {}))
            raise _http_error(status, message, "write") from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise StoreUnavailable(
                f"InfluxDB at {self.settings.url} unreachable: {error}"
            ) from error

    # -- rollups ----------------------------------------------------------------------------

    def _mark_touched(self, readings: Sequence[Reading]) -> None:
        """Note the hourly buckets (per sensor and per room) the readings fall in."""
        with self._touched_lock:
            touched = self._touched
            for r in readings:
                hour = rollups.hour_of(to_ns(r.time))
                touched.setdefault((r.sensor, "", ""), set()).add(hour)
                if r.site and r.room:
                    touched.setdefault(("", r.site, r.room), set()).add(hour)

    def flush_rollups(self) -> None:
        """Recompute the hourly buckets written since the last flush, then their days.

        On failure the buckets stay marked (and `StoreUnavailable` is raised), so the next flush
        tries them again; `rebuild_rollups` repairs anything lost with the process.
        """
        with self._touched_lock:
            touched, self._touched = self._touched, {}
            derived, self._touched_derived = self._touched_derived, {}
            self._rolled_at = time.monotonic()
        try:
            self._refresh_rollups(touched, derived=False)
            self._refresh_rollups(derived, derived=True)
        except BaseException:
            with self._touched_lock:
                for key, hours in touched.items():
                    self._touched.setdefault(key, set()).update(hours)
                for key, hours in derived.items():
                    self._touched_derived.setdefault(key, set()).update(hours)
            raise

    def _refresh_rollups(self, touched: Mapping[_Key, set[int]], *, derived: bool) -> None:
        """Recompute the given hourly buckets from the readings (or, with ``derived``, from the
        ``preservation`` rows), then their days (see `rollups`)."""
        keys = sorted(touched)
        for start in range(0, len(keys), _KEYS_PER_QUERY):
            chunk = keys[start : start + _KEYS_PER_QUERY]
            for scope in ("sensor", "room"):
                part = [key for key in chunk if (key[0] != "") == (scope == "sensor")]
                if not part:
                    continue
                hours = set().union(*(touched[key] for key in part))
                wanted = {(key, hour) for key in part for hour in touched[key]}
                self._roll(scope, part, min(hours), max(hours) + HOUR_NS, wanted, derived=derived)

    def rebuild_rollups(self, start: datetime, end: datetime) -> int:
        """Recompute every rollup bucket holding raw readings in ``start <= time < end``.

        Idempotent; buckets whose raw readings are gone are kept. The range is widened to whole
        UTC days. Returns the number of hourly buckets recomputed.
        """
        low = to_ns(start)
        low -= low % DAY_NS
        high = to_ns(end)
        high += -high % DAY_NS
        self.flush_rollups()
        return sum(
            self._roll(scope, None, low, high, None, derived=derived)
            for derived in (False, True)
            for scope in ("sensor", "room")
        )

    def _roll(
        self,
        scope: str,
        keys: Sequence[_Key] | None,
        low: int,
        high: int,
        wanted: set[tuple[_Key, int]] | None,
        *,
        derived: bool = False,
    ) -> int:
        """Hourly buckets of ``keys`` (all when ``None``) in ``[low, high)`` from the raw
        readings — or with ``derived`` from the ``preservation`` rows of the sensors' or rooms'
        own scope — (only the ``wanted`` ones when given), then the days holding them."""
        group = "sensor" if scope == "sensor" else "site, room"
        where = f"time >= {low} AND time < {high}"
        if keys is not None:
            where += f" AND ({_key_condition(scope, keys, raw=True)})"
        if derived:
            source, aggregates = rollups.PRESERVATION, _DERIVED_AGGREGATES
            where += f" AND scope = {string_literal(scope)}"
            counts = [f"{name}_count" for name in rollups.DERIVED_FIELDS]
        else:
            source, aggregates = MEASUREMENT, _AGGREGATES
            counts = ["temperature_count", "humidity_count"]
        series = self._query(
            f"SELECT {aggregates} FROM {source} WHERE {where}"
            f" GROUP BY time(1h), {group} fill(none)",
            method="POST",
        )
        hourly: list[DerivedRow] = []
        days: dict[_Key, set[int]] = {}
        for s in series:
            tags = s.get("tags") or {}
            key = _series_key(scope, tags)
            if key is None:
                continue
            for values in s["values"]:
                row = dict(zip(s["columns"], values, strict=True))
                hour = int(row["time"])
                if wanted is not None and (key, hour) not in wanted:
                    continue
                fields = {k: float(v) for k, v in row.items() if k != "time" and v is not None}
                if not any(fields.get(count) for count in counts):
                    continue
                hourly.append(
                    DerivedRow(rollups.TABLES["1h"], _key_tags(key), fields, from_ns(hour))
                )
                days.setdefault(key, set()).add(hour - hour % DAY_NS)
        if not hourly:
            return 0
        self._write_rollups(hourly)
        all_days = set().union(*days.values())
        keys_with_days = sorted(days)
        for start in range(0, len(keys_with_days), _KEYS_PER_QUERY):
            self._roll_days(
                scope,
                keys_with_days[start : start + _KEYS_PER_QUERY],
                days,
                min(all_days),
                max(all_days) + DAY_NS,
            )
        return len(hourly)

    def _roll_days(
        self, scope: str, keys: Sequence[_Key], days: dict[_Key, set[int]], low: int, high: int
    ) -> None:
        """Daily buckets of ``keys`` from their hourly buckets (count-weighted means)."""
        group = "sensor" if scope == "sensor" else "site, room"
        condition = _key_condition(scope, keys)
        series = self._query(
            f"SELECT * FROM {self._rollup_measurement('1h')} WHERE time >= {low}"
            f" AND time < {high} AND ({condition}) GROUP BY {group}",
            method="POST",
        )
        daily: list[DerivedRow] = []
        for s in series:
            key = _series_key(scope, s.get("tags") or {})
            if key is None or key not in days:
                continue
            buckets: dict[int, list[dict[str, Any]]] = {}
            for values in s["values"]:
                row = dict(zip(s["columns"], values, strict=True))
                day = int(row["time"]) - int(row["time"]) % DAY_NS
                if day in days[key]:
                    buckets.setdefault(day, []).append(row)
            for day, rows in buckets.items():
                daily.append(
                    DerivedRow(rollups.TABLES["1d"], _key_tags(key), _combine(rows), from_ns(day))
                )
        self._write_rollups(daily)

    def rollups(
        self,
        period: Period,
        start: datetime,
        end: datetime,
        *,
        sensor: str | None = None,
        site: str | None = None,
        room: str | None = None,
    ) -> list[AggregatePoint]:
        """The hourly or daily rollups of one sensor, or of one room (``site`` and ``room``),
        brought up to date with what was written first."""
        if (sensor is None) == (site is None or room is None):
            raise ValueError("rollups of either a sensor or a site and room, not both or neither")
        self.flush_rollups()
        if sensor is not None:
            condition = _key_condition("sensor", [(sensor, "", "")])
        else:
            assert site is not None and room is not None
            condition = _key_condition("room", [("", site, room)])
        if self._rollup_policy is not None:
            self.ensure_retention_policy(self._rollup_policy)
        series = self._query(
            f"SELECT * FROM {self._rollup_measurement(period)} WHERE {time_range(start, end)}"
            f" AND ({condition}) ORDER BY time ASC"
        )
        points = []
        for s in series:
            for values in s["values"]:
                row = dict(zip(s["columns"], values, strict=True))
                points.append(rollups.point(from_ns(int(row["time"])), row))
        return points

    def prune_raw(self, before: datetime) -> int:
        """Delete raw readings older than ``before``; rollups stay. Returns how many went."""
        (row,) = self._count_before(before) or [0]
        self._query(f"DELETE FROM {MEASUREMENT} WHERE time < {to_ns(before)}", method="POST")
        return row

    def _count_before(self, before: datetime) -> list[int]:
        series = self._query(
            f"SELECT count(*) FROM {MEASUREMENT} WHERE time < {to_ns(before)} GROUP BY *"
        )
        total = 0
        for s in series:
            row = dict(zip(s["columns"], s["values"][0], strict=True))
            total += max(
                (int(v) for k, v in row.items() if k.startswith("count_") and v), default=0
            )
        return [total]

    def holds(self, readings: Sequence[Reading]) -> list[bool]:
        """For each reading, whether the store holds it already (same sensor, time, values of
        the quantities it carries, site and room)."""
        out = [False] * len(readings)
        by_sensor: dict[str, list[int]] = {}
        for index, reading in enumerate(readings):
            by_sensor.setdefault(reading.sensor, []).append(index)
        for sensor, indexes in by_sensor.items():
            times = [readings[i].time for i in indexes]
            end = from_ns(to_ns(max(times)) + 1000)
            stored = {r.time: r for r in self.history(sensor, min(times), end)}
            for i in indexes:
                new, old = readings[i], stored.get(readings[i].time)
                out[i] = old is not None and (
                    (new.temperature is None or new.temperature == old.temperature)
                    and (new.humidity is None or new.humidity == old.humidity)
                    and (new.site or None) == (old.site or None)
                    and (new.room or None) == (old.room or None)
                )
        return out

    def ensure_database(self) -> None:
        """Create the database if it does not exist (``CREATE DATABASE`` is idempotent in 1.x).

        On InfluxDB 2.x this is refused (`StoreRejected`): create the bucket and a DBRP mapping.
        """
        self._query(f"CREATE DATABASE {identifier(self.settings.database)}", method="POST")
        self._policies_checked.clear()
        if self.settings.retention_policy:
            self.ensure_retention_policy(self.settings.retention_policy)

    def ensure_retention_policy(self, policy: str) -> None:
        """Create retention policy ``policy`` with ``DURATION INF`` when the database lacks it
        (checked once per store). An existing policy is left as it is; a finite one is logged,
        since rollups there would not be kept forever.

        A server that cannot list policies (InfluxDB 2.x maps buckets instead) is trusted to
        have the mapping; the first write or read there says otherwise.
        """
        if policy in self._policies_checked:
            return
        database = identifier(self.settings.database)
        try:
            series = self._query(f"SHOW RETENTION POLICIES ON {database}")
        except StoreRejected as exc:
            log.info("retention policies not listed (%s); assuming %r is mapped", exc, policy)
            self._policies_checked.add(policy)
            return
        durations = {
            str(values[0]): str(values[1])
            for s in series
            for values in s.get("values", [])
            if values
        }
        if policy not in durations:
            self._query(
                f"CREATE RETENTION POLICY {identifier(policy)} ON {database}"
                " DURATION INF REPLICATION 1",
                method="POST",
            )
        elif durations[policy] not in ("0s", "0"):
            log.warning(
                "retention policy %r keeps data for %s, not forever", policy, durations[policy]
            )
        self._policies_checked.add(policy)

    # -- reading ----------------------------------------------------------------------------

    def _query(self, query: str, *, method: str = "GET") -> list[dict[str, Any]]:
        """Run one InfluxQL statement; return its series (``name``, ``tags``, ``columns``,
        ``values``)."""
        return self._series(self._ask(query, method=method))

    def _ask(self, query: str, *, method: str = "GET", accept: str | None = None) -> httpx.Response:
        """Send one InfluxQL statement; the server's answer when it is a success (HTTP 200)."""
        params = {**self._params, "q": query, "epoch": "ns"}
        headers = {"Accept": accept} if accept else None
        try:
            if method == "GET":
                response = self._http.get("/query", params=params, headers=headers)
            else:
                response = self._http.post("/query", data=params, headers=headers)
        except httpx.TransportError as error:
            raise StoreUnavailable(
                f"InfluxDB at {self.settings.url} unreachable: {error}"
            ) from error
        if response.status_code != 200:
            message = _server_message(response.status_code, response.content, response.headers)
            http_error = _http_error(response.status_code, message, "query")
            if isinstance(http_error, StoreRejected) and _is_missing_database(http_error):
                raise _missing_database(http_error, "the store does not create it on a read")
            raise http_error
        return response

    def _series(self, response: httpx.Response) -> list[dict[str, Any]]:
        """The series of a JSON answer to one statement, or the error it reports raised."""
        answer = response.json()
        results = answer.get("results") or [{}]
        failure = answer.get("error", results[0].get("error"))
        if failure is not None:
            rejected = StoreRejected(f"InfluxDB query failed: {failure}", status=200)
            if _NOT_FOUND.search(str(failure)):
                raise _missing_database(rejected, "the store does not create it on a read")
            raise rejected
        series: list[dict[str, Any]] = results[0].get("series", [])
        return series

    def latest(self) -> list[Reading]:
        """The most recent point of every sensor (the fields written at that instant)."""
        series = self._query(
            f"SELECT * FROM {MEASUREMENT} GROUP BY sensor ORDER BY time DESC LIMIT 1"
        )
        readings = [
            _row_reading(s["tags"]["sensor"], s["columns"], s["values"][0])
            for s in series
            if s.get("values")
        ]
        return sorted(readings, key=lambda reading: reading.sensor)

    def earliest(self, sensor: str) -> datetime | None:
        """The time of the sensor's oldest reading (None without readings)."""
        series = self._query(
            f"SELECT * FROM {MEASUREMENT} WHERE sensor = {string_literal(sensor)}"
            " ORDER BY time ASC LIMIT 1"
        )
        for s in series:
            for values in s["values"]:
                return from_ns(int(dict(zip(s["columns"], values, strict=True))["time"]))
        return None

    def history(self, sensor: str, start: datetime, end: datetime) -> list[Reading]:
        """A sensor's readings with ``start <= time < end``, oldest first."""
        series = self._query(
            f"SELECT * FROM {MEASUREMENT} WHERE sensor = {string_literal(sensor)}"
            f" AND {time_range(start, end)} ORDER BY time ASC"
        )
        return [reading for s in series for reading in _series_readings(sensor, s)]

    def aggregate(
        self, sensor: str, start: datetime, end: datetime, every: timedelta
    ) -> list[AggregatePoint]:
        """Per-interval mean/min/max (``GROUP BY time(every)``, aligned to the epoch)."""
        series = self._query(
            f"SELECT {_AGGREGATES} FROM {MEASUREMENT} WHERE sensor = {string_literal(sensor)}"
            f" AND {time_range(start, end)} GROUP BY time({duration_literal(every)}) fill(none)"
        )
        points = []
        for s in series:
            for values in s["values"]:
                row = dict(zip(s["columns"], values, strict=True))
                t_count = int(row["temperature_count"] or 0)
                h_count = int(row["humidity_count"] or 0)
                count = max(t_count, h_count)
                if count == 0:
                    continue
                points.append(
                    AggregatePoint(
                        time=from_ns(int(row["time"])),
                        temperature_mean=_number(row["temperature_mean"]),
                        temperature_min=_number(row["temperature_min"]),
                        temperature_max=_number(row["temperature_max"]),
                        humidity_mean=_number(row["humidity_mean"]),
                        humidity_min=_number(row["humidity_min"]),
                        humidity_max=_number(row["humidity_max"]),
                        count=count,
                        temperature_count=t_count,
                        humidity_count=h_count,
                    )
                )
        return points

    def history_blocks(
        self, sensors: Sequence[str], start: datetime, end: datetime
    ) -> SensorBlocks:
        """`history` of many sensors (`history.store.ReadsBlocks`): one query (see `_blocks`),
        ``GROUP BY sensor`` (each sensor's series of every placement merged in time, as
        `history` merges them), rows into columns without a `Reading` each. Every field of a
        reading is selected, so a point carrying only a link quality is a row, as in `history`.
        Two points of one sensor at one instant (of two placements: a reading replayed after the
        sensor moved) come in an order of InfluxDB's own, which ``GROUP BY sensor`` does not
        keep: such a sensor is read again by `history` (that order may change between reads,
        when the server moves points from its cache to its files: a reader holding such rows
        from an earlier read can differ from a new `history` in it)."""
        fields = ", ".join(READING_FIELDS)

        def alone(sensor: str) -> tuple[np.ndarray, np.ndarray]:
            rows = self.history(sensor, start, end)
            at = np.array([to_ns(r.time) for r in rows], dtype=np.int64)
            picked = np.array(
                [
                    [np.nan if (v := getattr(r, q)) is None else v for r in rows]
                    for q in READING_COLUMNS
                ],
                dtype=np.float64,
            ).reshape(len(READING_COLUMNS), len(rows))
            return at, picked

        wanted = list(dict.fromkeys(sensors))
        rows = self._blocks(
            wanted,
            lambda condition: (
                f"SELECT {fields} FROM {MEASUREMENT} WHERE {condition}"
                f"{time_range(start, end)} GROUP BY sensor"
            ),
            READING_COLUMNS,
        )
        return _sensor_blocks(sensors, wanted, rows, READING_COLUMNS, valued=False, tied=alone)

    def hourly_blocks(self, sensors: Sequence[str], start: datetime, end: datetime) -> SensorBlocks:
        """`aggregate` of many sensors over hours, means only (`history.store.ReadsBlocks`):
        the same ``mean`` per hour, ``GROUP BY time(1h), sensor fill(none)``. With
        ``fill(none)`` an hour is a row when a temperature or a humidity fell in it, which is
        when `aggregate` keeps it (one of its counts above 0), so no count is asked (each
        aggregate costs InfluxDB about as much as the raw read of its field)."""
        wanted = list(dict.fromkeys(sensors))
        rows = self._blocks(
            wanted,
            lambda condition: (
                "SELECT mean(temperature) AS temperature_mean, mean(humidity) AS humidity_mean"
                f" FROM {MEASUREMENT} WHERE {condition}{time_range(start, end)}"
                " GROUP BY time(1h), sensor fill(none)"
            ),
            MEAN_COLUMNS,
        )
        return _sensor_blocks(sensors, wanted, rows, MEAN_COLUMNS, valued=True)

    def readings_mean_sensors(
        self, sensors: Sequence[str], start: datetime, end: datetime
    ) -> NDArray[np.bool_] | None:
        """Which of ``sensors`` have `hourly_blocks` means over ``[start, end)`` that
        `history.influxmeans.hour_means` of their readings gives bit for bit: those with one
        series (``SHOW SERIES``), when the server is an InfluxDB OSS of a proven version
        (``/ping``) whose shards (``SHOW SHARDS``) begin and end on whole hours there. None
        when none does (another server, a shard boundary inside an hour, ``SHOW SHARDS``
        refused — it needs an admin when authentication is on — or `readings_means` off).

        Ask after reading the readings (`history_blocks`): every series holding one of them
        is then listed. The listings are kept until the next bulk read (a cycle asks once
        per hourly window: the second asks nothing)."""
        if not self.readings_means or not sensors:
            return None
        if self._mean_facts is None or self._mean_facts[0] != self._reads:
            self._mean_facts = (self._reads, self._list_mean_facts())
        facts = self._mean_facts[1]
        if facts is None:
            return None
        bounds, series = facts
        if not influxmeans.whole_hour_shards(bounds, start.timestamp(), end.timestamp()):
            return None
        return np.array([series.get(sensor) == 1 for sensor in sensors], dtype=np.bool_)

    def _list_mean_facts(self) -> tuple[list[tuple[float, float]], dict[str, int]] | None:
        """The shards' bounds of the database and the series per sensor, for
        `readings_mean_sensors`; None when the server is not proven or lists no shards."""
        try:
            response = self._http.get("/ping")
        except httpx.TransportError as error:
            raise StoreUnavailable(
                f"InfluxDB at {self.settings.url} unreachable: {error}"
            ) from error
        headers = {key.lower(): value for key, value in response.headers.items()}
        version = headers.get("x-influxdb-version", "")
        if headers.get("x-influxdb-build") != "OSS" or not version.startswith(
            influxmeans.PROVEN_VERSIONS
        ):
            return None
        try:
            shards = self._query("SHOW SHARDS")
        except StoreRejected as exc:
            log.debug("shards not listed (%s): the server's hourly means are read", exc)
            return None
        bounds = [
            (_epoch_s(values[4]), _epoch_s(values[5]))
            for s in shards
            if s.get("name") == self.settings.database
            for values in s.get("values") or []
        ]
        keys = [
            str(values[0])
            for s in self._query(f"SHOW SERIES FROM {MEASUREMENT}")
            for values in s.get("values") or []
            if values
        ]
        return bounds, influxmeans.sensors_per_series(keys)

    def _blocks(
        self, wanted: Sequence[str], query: Callable[[str], str], columns: Sequence[str]
    ) -> _Rows:
        """The rows of ``query(condition)`` (``… GROUP BY sensor``, selecting ``columns``) for
        the ``wanted`` sensors (no repeats).

        The answer is asked as CSV, which pyarrow parses into columns without a Python object
        per value (the JSON of 140 000 rows took ≈ 0.3 s of CPU to decode, the CSV ≈ 0.05 s).
        InfluxDB's CSV drops a statement's error (the answer is then empty) and its ``partial``
        flag: an empty or unexpected answer is asked again in JSON, whose errors are raised
        (after an unexpected one, the store asks in JSON only); a server truncating answers
        (``[http] max-row-limit``, 0 by default) would truncate this one unseen, as it
        truncates `history`'s. The condition is `_sensor_conditions`'."""
        position = {sensor: i for i, sensor in enumerate(wanted)}
        pieces: list[_Rows] = []
        for condition in self._sensor_conditions(wanted):
            statement = query(condition)
            response = self._ask(statement, method="POST", accept=_CSV if self._csv else None)
            rows = None
            if "csv" in response.headers.get("content-type", ""):
                if response.content:
                    rows = _csv_rows(response.content, columns, position)
                    self._csv = rows is not None
                if rows is None:
                    response = self._ask(statement, method="POST")
            if rows is None:
                rows = _json_rows(self._series(response), columns, position)
            pieces.append(rows)
        self._reads += 1  # `readings_mean_sensors` lists the series again after any read
        if len(pieces) == 1:
            return pieces[0]
        return (
            np.concatenate([p[0] for p in pieces] or [np.empty(0, dtype=np.int64)]),
            np.concatenate([p[1] for p in pieces] or [np.empty(0, dtype=np.int64)]),
            np.concatenate(
                [p[2] for p in pieces] or [np.empty((len(columns), 0), dtype=np.float64)], axis=1
            ),
        )

    def _sensor_conditions(self, wanted: Sequence[str]) -> list[str]:
        """Conditions (``… AND `` to put before the time range) selecting at least the points
        of the ``wanted`` sensors, one per query: when the sensors InfluxDB knows
        (``SHOW TAG VALUES``) are mostly wanted, the few others excluded (``sensor !~``) or no
        condition at all, else the wanted ones by name, `_SENSORS_PER_QUERY` at a time. The
        rows of other sensors are dropped by `_sensor_blocks`, so which ones the server knows
        changes only the query's cost, never the answer."""
        if not wanted:
            return []
        try:
            known = {
                str(values[1])
                for s in self._query(f'SHOW TAG VALUES FROM {MEASUREMENT} WITH KEY = "sensor"')
                for values in s.get("values") or []
                if len(values) > 1
            }
        except StoreRejected as exc:  # a server without it: the sensors are named
            log.debug("sensor tag values not listed (%s)", exc)
            known = set()
        others = sorted(known.difference(wanted))
        if known and len(others) < len(wanted):
            return [
                "".join(
                    f"sensor !~ {_regex_alternatives(others[first : first + _SENSORS_PER_QUERY])}"
                    " AND "
                    for first in range(0, len(others), _SENSORS_PER_QUERY)
                )
            ]
        return [
            f"sensor =~ {_regex_alternatives(wanted[first : first + _SENSORS_PER_QUERY])} AND "
            for first in range(0, len(wanted), _SENSORS_PER_QUERY)
        ]

    def count(self) -> int:
        """Points in ``climate``: per series the count of its most frequent field, summed.

        InfluxQL counts values per field, not points; this is exact when every point of a series
        carries that field (readings with temperature and humidity together).
        """
        series = self._query(f"SELECT count(*) FROM {MEASUREMENT} GROUP BY *")
        total = 0
        for s in series:
            row = dict(zip(s["columns"], s["values"][0], strict=True))
            total += max(
                (int(value) for key, value in row.items() if key.startswith("count_") and value),
                default=0,
            )
        return total

    def healthy(self) -> bool:
        """Whether InfluxDB answers ``/ping`` right now (never raises)."""
        try:
            response = self._http.get("/ping")
        except httpx.TransportError:
            return False
        return response.status_code in (200, 204)

    def close(self) -> None:
        """Bring the rollups up to date, then close the HTTP connection pools."""
        try:
            self.flush_rollups()
        except StoreUnavailable as exc:  # repaired later by `repoclimate history rollup`
            log.warning("rollups of the last writes not brought up to date: %s", exc)
        self._http.close()
        if self._client is not None:
            self._write_api.close()
            self._client.close()
