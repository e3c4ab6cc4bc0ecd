"""``repoclimate history rollup|prune`` and ``repoclimate export``: the history side of the CLI.

Registered on the main command in `repoclimate.app.cli`. Exit codes: 0 done; 1 bad settings or
registry, or the store is down or refused; 2 a usage error (a bad time, an unknown room, a room
exported without ``--every``).

Times (``--from``, ``--to``) are ISO 8601 (``2026-11-01``, ``2026-11-01T10:00:00+01:00``); a time
without an offset is UTC. Rollup days are UTC days. Export is CSV or Parquet (the CSV's columns,
typed: `repoclimate.history.export`), read and written in chunks of time.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from repoclimate.app.options import ConfigOption
from repoclimate.app.settings import Settings, SettingsError, load_settings
from repoclimate.app.wiring import registry_from
from repoclimate.history import StoreRejected, StoreUnavailable, open_store
from repoclimate.history.export import (
    DERIVED,
    Derived,
    ExportError,
    ExportRow,
    csv_chunks,
    iter_export_rows,
    write_parquet,
)
from repoclimate.history.retention import apply_retention, retention_horizon
from repoclimate.sensors.durations import DurationError, parse_seconds
from repoclimate.sensors.reading import iso_utc
from repoclimate.sensors.registry import Registry, RegistryError

EXIT_CONFIG = 1
EXIT_USAGE = 2

history_app = typer.Typer(help="Rollups and retention of the stored history.", no_args_is_help=True)


class ExportFormat(StrEnum):
    """Export file formats."""

    csv = "csv"
    parquet = "parquet"


DerivedName = StrEnum("DerivedName", {name: name for name in DERIVED})  # type: ignore[misc]
_DERIVED: dict[str, Derived] = {name: name for name in DERIVED}


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def parse_time(text: str, option: str) -> datetime:
    """An ISO 8601 date or time as aware UTC (no offset: UTC); `typer.BadParameter` if not."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not an ISO 8601 time such as 2026-11-01 or 2026-11-01T10:00:00Z",
            param_hint=option,
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _settings(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except SettingsError as exc:
        _fail(str(exc), EXIT_CONFIG)


def find_room(registry: Registry, text: str) -> tuple[str, str]:
    """The (site, room) a ``--room`` names: ``ROOM`` when unique across sites, or ``SITE/ROOM``."""
    site_id, _, room_id = text.rpartition("/")
    matches = [
        (site.id, room.id)
        for site, room in registry.rooms()
        if room.id == room_id and (not site_id or site.id == site_id)
    ]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise typer.BadParameter(f"the registry has no room {text!r}", param_hint="--room")
    sites = ", ".join(f"{s}/{r}" for s, r in matches)
    raise typer.BadParameter(
        f"room {text!r} is in several sites ({sites}): say which", param_hint="--room"
    )


FromOption = Annotated[
    str | None,
    typer.Option("--from", help="Start (ISO 8601; no offset: UTC).", show_default=False),
]
ToOption = Annotated[
    str | None,
    typer.Option("--to", help="End, exclusive (ISO 8601; no offset: UTC).", show_default=False),
]


@history_app.command("rollup")
def rollup_command(
    start: Annotated[str, typer.Option("--from", help="Start (ISO 8601; no offset: UTC).")],
    end: Annotated[str, typer.Option("--to", help="End, exclusive (ISO 8601; no offset: UTC).")],
    config: ConfigOption = None,
) -> None:
    """Rebuild the hourly and daily rollups from the raw readings (idempotent).

    The range is widened to whole UTC days. Buckets whose raw readings retention has removed are
    kept as they are.
    """
    low, high = parse_time(start, "--from"), parse_time(end, "--to")
    if high <= low:
        raise typer.BadParameter("--to must be after --from", param_hint="--to")
    store = open_store(_settings(config).store)
    try:
        hours = store.rebuild_rollups(low, high)
    except (StoreUnavailable, StoreRejected) as exc:
        _fail(f"rollups not rebuilt: {exc}", EXIT_CONFIG)
    finally:
        store.close()
    typer.echo(
        f"rebuilt {hours} hourly buckets (and their days) from {iso_utc(low)} to {iso_utc(high)}"
    )


@history_app.command("prune")
def prune_command(config: ConfigOption = None) -> None:
    """Delete the raw readings older than ``store.raw_retention_days`` (rollups are kept)."""
    settings = _settings(config)
    now = datetime.now(UTC)
    horizon = retention_horizon(settings.store, now)
    if horizon is None:
        typer.echo("store.raw_retention_days is not set: raw readings are kept forever")
        return
    store = open_store(settings.store)
    try:
        deleted = apply_retention(store, settings.store, now)
    except (StoreUnavailable, StoreRejected) as exc:
        _fail(f"nothing pruned: {exc}", EXIT_CONFIG)
    finally:
        store.close()
    typer.echo(f"deleted {deleted} raw readings older than {iso_utc(horizon)}")


def export_command(
    sensor: Annotated[
        str | None, typer.Option("--sensor", "-s", help="Export this sensor.", show_default=False)
    ] = None,
    room: Annotated[
        str | None,
        typer.Option(
            "--room",
            help="Export this room (ROOM or SITE/ROOM), from its rollups.",
            show_default=False,
        ),
    ] = None,
    start: FromOption = None,
    end: ToOption = None,
    every: Annotated[
        str | None,
        typer.Option(
            "--every",
            help="Means per interval (1h, 1d: from the rollups; else from raw readings). "
            "Default: the raw readings.",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        ExportFormat,
        typer.Option(
            "--format", "-f", help="csv, or parquet (typed columns; needs --out or a pipe)."
        ),
    ] = ExportFormat.csv,
    derived: Annotated[
        list[DerivedName] | None,
        typer.Option(
            "--derived", help="Add a derived series column; repeat for each.", show_default=False
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Write here instead of standard output.", show_default=False
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Export a sensor's or a room's history as CSV (time ISO 8601 UTC, temperature, humidity)
    or Parquet (the same columns, typed).

    `repoclimate import --format repoclimate` reads the CSV back unchanged.
    """
    if (sensor is None) == (room is None):
        raise typer.BadParameter("give exactly one of --sensor and --room", param_hint="--sensor")
    low = parse_time(start, "--from") if start else datetime(1970, 1, 1, tzinfo=UTC)
    high = parse_time(end, "--to") if end else datetime.now(UTC) + timedelta(days=1)
    interval = None
    if every is not None:
        try:
            interval = timedelta(seconds=parse_seconds(every))
        except DurationError as exc:
            raise typer.BadParameter(str(exc), param_hint="--every") from None
    settings = _settings(config)
    site_id = room_id = None
    if room is not None:
        try:
            registry = registry_from(settings.registry)
        except RegistryError as exc:
            _fail(str(exc), EXIT_CONFIG)
        site_id, room_id = find_room(registry, room)
    columns = [_DERIVED[name.value] for name in derived or []]
    if out is None and fmt is ExportFormat.parquet and sys.stdout.isatty():
        raise typer.BadParameter("Parquet is binary: give --out FILE or a pipe", param_hint="--out")
    store = open_store(settings.store)
    written = 0
    try:
        chunks = iter_export_rows(
            store, low, high, sensor=sensor, site=site_id, room=room_id, every=interval
        )
        if fmt is ExportFormat.parquet:
            if out is None:
                written = write_parquet(sys.stdout.buffer, chunks, columns)
                sys.stdout.buffer.flush()
            else:
                with out.open("wb") as binary:
                    written = write_parquet(binary, chunks, columns)
        else:
            counted = _Counted(chunks)
            if out is None:
                sys.stdout.writelines(csv_chunks(counted, columns))
            else:
                with out.open("w", encoding="utf-8", newline="") as handle:
                    handle.writelines(csv_chunks(counted, columns))
            written = counted.rows
    except ExportError as exc:
        _fail(str(exc), EXIT_USAGE)
    except (StoreUnavailable, StoreRejected) as exc:
        _fail(f"export stopped, the output is incomplete: {exc}", EXIT_CONFIG)
    finally:
        store.close()
    if out is not None:
        typer.echo(f"exported {written} rows to {out}", err=True)


class _Counted:
    """Chunks of export rows passed through, counting the rows."""

    def __init__(self, chunks: Iterator[list[ExportRow]]) -> None:
        self.chunks = chunks
        self.rows = 0

    def __iter__(self) -> Iterator[list[ExportRow]]:
        for rows in self.chunks:
            self.rows += len(rows)
            yield rows
