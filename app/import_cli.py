"""``repoclimate import``: logger files into the store, through the collector's validation.

Registered on the main command in `repoclimate.app.cli`. Exit codes: 0 imported (or checked, with
``--dry-run``); 1 bad settings or registry, or the store refused or is down; 2 a file that cannot
be imported (the message names the file, row and column; nothing was stored) or a usage error.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from repoclimate.app.settings import CONFIG_ENV_VAR, SettingsError, load_settings
from repoclimate.app.wiring import registry_from
from repoclimate.history import StoreRejected, StoreUnavailable, open_store
from repoclimate.ingest.importer import DstChoice, import_files, parse_timezone
from repoclimate.sensors.loggers import LOGGER_FORMATS, LoggerFileError
from repoclimate.sensors.registry import RegistryError

EXIT_CONFIG = 1
EXIT_BAD_FILE = 2

LoggerFormatName = StrEnum(  # type: ignore[misc]
    "LoggerFormatName", {name: name for name in ("auto", *LOGGER_FORMATS)}
)
_AUTO = LoggerFormatName("auto")


class Dst(StrEnum):
    """How to read a local time that occurs twice (the hour the clocks go back)."""

    earlier = "earlier"
    later = "later"


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _mapping(columns: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in columns:
        key, sep, value = item.partition("=")
        if not sep or not value:
            raise typer.BadParameter(f"{item!r} is not ROLE=HEADER", param_hint="--column")
        mapping[key.strip()] = value.strip()
    return mapping


def import_command(
    files: Annotated[
        list[Path], typer.Argument(help="Logger export files of one sensor.", show_default=False)
    ],
    sensor: Annotated[
        str, typer.Option("--sensor", "-s", help="Registry id of the sensor the files are from.")
    ],
    fmt: Annotated[
        LoggerFormatName,
        typer.Option("--format", "-f", help="The files' format (auto: detect each)."),
    ] = _AUTO,
    zone: Annotated[
        str | None,
        typer.Option(
            "--timezone",
            help="Zone of times the files write without offset (IANA name or +01:00). Default: "
            "the sensor's site zone, else UTC.",
            show_default=False,
        ),
    ] = None,
    dst: Annotated[
        Dst | None,
        typer.Option("--dst", help="Read a repeated local time (clocks going back) as this one."),
    ] = None,
    column: Annotated[
        list[str] | None,
        typer.Option(
            "--column",
            help="csv format: ROLE=HEADER, roles time, clock, temperature, humidity, "
            "temperature_unit (C or F). Repeat for each.",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Read and check the files; store nothing.")
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            envvar=CONFIG_ENV_VAR,
            help="YAML settings file; REPOCLIMATE_* environment variables override it.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Import logger export files (HOBO, Hanwell, Tinytag, Rotronic, Govee, SwitchBot …; CSV or
    .xlsx) into the store.

    Several files of one logger are joined on time. Alerts are not paged for imported history.
    """
    try:
        settings = load_settings(config)
        registry = registry_from(settings.registry)
    except (SettingsError, RegistryError) as exc:
        _fail(str(exc), EXIT_CONFIG)
    try:
        zone_override = None if zone is None else parse_timezone(zone)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--timezone") from None
    mapping = _mapping(column or [])
    choice: DstChoice | None = (
        None if dst is None else ("earlier" if dst is Dst.earlier else "later")
    )
    store = None if dry_run else open_store(settings.store)
    try:
        summary = import_files(
            files,
            sensor=sensor,
            registry=registry,
            store=store,
            now=datetime.now(UTC),
            fmt=str(fmt.value),
            timezone_override=zone_override,
            dst=choice,
            dry_run=dry_run,
            mapping=mapping or None,
        )
    except LoggerFileError as exc:
        _fail(f"not imported, nothing stored: {exc}", EXIT_BAD_FILE)
    except (StoreUnavailable, StoreRejected) as exc:
        _fail(f"the store did not take the readings: {exc}", EXIT_CONFIG)
    finally:
        if store is not None:
            store.close()
    for line in summary.lines():
        typer.echo(line)
