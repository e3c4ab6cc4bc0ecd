"""The InfluxDB store: readings as line protocol in, InfluxQL over ``/query`` out.

Writes take one of two paths, picked by ``StoreSettings.api_version``:

- ``v2``: influxdb-client's synchronous write API (``POST /api/v2/write``), for InfluxDB 1.8+,
  2.x and 3.x. The bucket is ``database`` or ``database/retention_policy`` (1.8); the token is
  ``token`` or ``username:password`` (1.8). The line protocol is encoded here and handed over as
  bytes, so the client builds no per-point objects.
- ``v1``: a plain ``POST /write?db=…&rp=…&precision=ns`` for 1.x servers without the v2 API (the
  Debian 1.6 the tests run against).

Reads are InfluxQL over ``/query`` with ``epoch=ns`` on one persistent httpx connection pool; the
same query text serves 1.x, 2.x (with a DBRP mapping) and 3.x.

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
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

import httpx
import urllib3

from repoclimate.history.derived import DerivedRow
from repoclimate.history.influxql import duration_literal, identifier, string_literal, time_range
from repoclimate.history.lineprotocol import MEASUREMENT, LineEncoder, batches
from repoclimate.history.settings import StoreSettings
from repoclimate.history.store import AggregatePoint, StoreRejected, StoreUnavailable
from repoclimate.history.timestamps import from_ns
from repoclimate.sensors.reading import Reading

WRITE_BATCH_SIZE = 5_000
"""Points per write request (InfluxDB's own recommendation for batch size)."""

_DROPPED = re.compile(r"dropped=(\d+)")
_NOT_FOUND = re.compile(r"(database|bucket) not found", re.IGNORECASE)
_TRANSIENT_4XX = frozenset({401, 403, 408, 429})

_AGGREGATES = ", ".join(
    f"{function}({field}) AS {field}_{name}"
    for field in ("temperature", "humidity")
    for function, name in (("mean", "mean"), ("min", "min"), ("max", "max"), ("count", "count"))
)


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


def _missing_database(error: StoreRejected, why: str) -> StoreUnavailable:
    """A missing database as the configuration problem it is: readings wait, none is refused."""
    return StoreUnavailable(
        f"{error} ({why}; create the database or bucket, or allow store.create_database — "
        "readings wait in the spool until then)"
    )


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


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

    def write_derived(self, rows: Sequence[DerivedRow]) -> None:
        """Write derived rows (``preservation``, ``climate_1h`` …), with the errors of `write`."""
        if rows:
            self._send(self._encoder.encode_derived(rows))

    def _send(self, lines: Sequence[str]) -> None:
        # Every batch is tried even after one is refused, so one bad point does not keep the
        # rest of a large write out; a transient failure stops at once (all will be retried).
        rejections: list[StoreRejected] = []
        written = 0
        for body in batches(lines, self._batch_size):
            try:
                self._post_with_database(body)
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

    def _post_with_database(self, body: bytes) -> None:
        try:
            self._post(body)
        except StoreRejected as error:
            if not _is_missing_database(error):
                raise
            if not self.settings.create_database:
                raise _missing_database(error, "store.create_database is off") from error
            try:
                self.ensure_database()
            except StoreRejected as create_error:
                raise _missing_database(
                    error, f"creating it failed: {create_error}"
                ) from create_error
            self._post(body)

    def _post(self, body: bytes) -> None:
        if self._write_api is not None:
            self._post_v2(body)
        else:
            self._post_v1(body)

    def _post_v1(self, body: bytes) -> None:
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self.settings.gzip:
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        try:
            response = self._http.post(
                "/write", params={**self._params, "precision": "ns"}, content=body, headers=headers
            )
        except httpx.TransportError as error:
            raise StoreUnavailable(
                f"InfluxDB at {self.settings.url} unreachable: {error}"
            ) from error
        if response.status_code not in (200, 204):
            message = _server_message(response.status_code, response.content, response.headers)
            raise _http_error(response.status_code, message, "write")

    def _post_v2(self, body: bytes) -> None:
        from influxdb_client.domain.write_precision import WritePrecision
        from influxdb_client.rest import ApiException

        try:
            self._write_api.write(
                bucket=self._bucket, org=self._org, record=body, write_precision=WritePrecision.NS
            )
        except ApiException as error:
            status = int(error.status or 0)
            message = _server_message(status, error.body, dict(error.headers or {}))
            raise _http_error(status, message, "write") from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise StoreUnavailable(
                f"InfluxDB at {self.settings.url} unreachable: {error}"
            ) from error

    def ensure_database(self) -> None:
        """Create the database if it does not exist (``CREATE DATABASE`` is idempotent in 1.x).

        On InfluxDB 2.x this is refused (`StoreRejected`): create the bucket and a DBRP mapping.
        """
        self._query(f"CREATE DATABASE {identifier(self.settings.database)}", method="POST")

    # -- reading ----------------------------------------------------------------------------

    def _query(self, query: str, *, method: str = "GET") -> list[dict[str, Any]]:
        """Run one InfluxQL statement; return its series (``name``, ``tags``, ``columns``,
        ``values``)."""
        params = {**self._params, "q": query, "epoch": "ns"}
        try:
            if method == "GET":
                response = self._http.get("/query", params=params)
            else:
                response = self._http.post("/query", data=params)
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

    def history(self, sensor: str, start: datetime, end: datetime) -> list[Reading]:
        """A sensor's readings with ``start <= time < end``, oldest first."""
        series = self._query(
            f"SELECT * FROM {MEASUREMENT} WHERE sensor = {string_literal(sensor)}"
            f" AND {time_range(start, end)} ORDER BY time ASC"
        )
        return [
            _row_reading(sensor, s["columns"], values) for s in series for values in s["values"]
        ]

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
                count = max(int(row["temperature_count"] or 0), int(row["humidity_count"] or 0))
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
                    )
                )
        return points

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
        """Close the HTTP connection pools."""
        self._http.close()
        if self._client is not None:
            self._write_api.close()
            self._client.close()
