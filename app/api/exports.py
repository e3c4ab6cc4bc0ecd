"""``GET /api/export``: a sensor's or a room's history as the CSV or Parquet file that
``repoclimate export`` writes (viewer).

The same rows and columns as the CLI (`repoclimate.history.export`): ``time`` (ISO 8601 UTC in
CSV, ``timestamp[us, tz=UTC]`` in Parquet), ``temperature``, ``humidity`` and the derived series
asked for (``dew_point``, ``absolute_humidity``); an empty cell (null) where a value is absent.
A sensor is exported raw or per interval (``every``), a room from its rollups (``every=1h`` or
``1d``). The answer streams: the store is read in chunks of time (a week of raw readings, a year
of hourly rollups), so a long range never sits whole in memory. A store failure after the first
chunk has gone out ends the stream early (the HTTP status was already sent): a truncated CSV or
an unreadable Parquet file, never a silently short one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import StreamingResponse

from repoclimate.app.api.auth import get_services, require
from repoclimate.app.api.errors import AUTH_RESPONSES, described, invalid
from repoclimate.app.api.sites import find_room
from repoclimate.app.services import Services
from repoclimate.app.users import Role
from repoclimate.history import StoreRejected, StoreUnavailable
from repoclimate.history.export import (
    Derived,
    ExportError,
    ExportRow,
    csv_chunks,
    iter_export_rows,
    parquet_chunks,
)

router = APIRouter(prefix="/api", tags=["export"], dependencies=[Depends(require(Role.VIEWER))])

Every = Literal["5m", "15m", "1h", "1d"]
INTERVALS: dict[str, timedelta] = {
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),
}
DEFAULT_SPAN = timedelta(days=31)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
"""The times a request may name, as in the history API (stores address int64 nanoseconds)."""
MEDIA = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
"""Characters kept out of the download's file name (headers are Latin-1; quotes would end it)."""

_RESPONSES: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    404: described("No such room"),
    409: described("Room id in several sites"),
    503: described("The store did not answer"),
    200: {
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
        }
    },
}


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


@router.get("/export", response_class=StreamingResponse, responses=_RESPONSES)
def export(
    services: Annotated[Services, Depends(get_services)],
    sensor: Annotated[str | None, Query(min_length=1, description="Export this sensor")] = None,
    room: Annotated[str | None, Query(min_length=1, description="Export this room")] = None,
    site: Annotated[str | None, Query(description="Site of the room, if ambiguous")] = None,
    start: Annotated[
        datetime | None, Query(alias="from", description="From (inclusive); default to − 31 d")
    ] = None,
    end: Annotated[
        datetime | None, Query(alias="to", description="To (exclusive); default now")
    ] = None,
    every: Annotated[
        Every | None, Query(description="Means per interval; raw readings if absent")
    ] = None,
    derived: Annotated[
        list[Derived] | None, Query(description="Derived series columns to add")
    ] = None,
    format: Annotated[Literal["csv", "parquet"], Query(description="csv or parquet")] = "csv",
) -> StreamingResponse:
    """A sensor's or a room's history as a CSV or Parquet file, streamed."""
    if (sensor is None) == (room is None):
        raise invalid(("query", "sensor"), "give exactly one of sensor and room")
    for name, value in (("from", start), ("to", end)):
        if value is not None and not EARLIEST <= _utc(value) <= LATEST:
            raise invalid(("query", name), f"must lie between {EARLIEST:%Y} and {LATEST:%Y}")
    high = _utc(end) if end is not None else services.clock.now()
    low = max(_utc(start) if start is not None else high - DEFAULT_SPAN, EARLIEST)
    if high <= low:
        raise invalid(("query", "to"), "to must be after from")
    site_id = room_id = None
    if room is not None:
        found_site, found_room = find_room(services, room, site)
        site_id, room_id = found_site.id, found_room.id
    columns: list[Derived] = list(dict.fromkeys(derived or []))
    try:
        chunks = iter_export_rows(
            services.store,
            low,
            high,
            sensor=sensor,
            site=site_id,
            room=room_id,
            every=None if every is None else INTERVALS[every],
        )
        first = next(chunks, None)  # errors before any byte is sent get a proper status
    except ExportError as exc:
        raise invalid(("query", "every"), str(exc)) from None
    except (StoreUnavailable, StoreRejected) as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None

    def rows() -> Iterator[list[ExportRow]]:
        if first is not None:
            yield first
        yield from chunks

    body = parquet_chunks(rows(), columns) if format == "parquet" else csv_chunks(rows(), columns)
    subject = _UNSAFE.sub("_", sensor if sensor is not None else f"{site_id}_{room_id}")
    return StreamingResponse(
        body,
        media_type=MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="{subject}.{format}"'},
    )
