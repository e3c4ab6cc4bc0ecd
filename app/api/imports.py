"""``POST /api/import``: logger export files uploaded into the history store (admin).

The same import as ``repoclimate import`` (`repoclimate.ingest.importer.import_files`), with the
same options as form fields: ``sensor``, ``format`` (``auto`` or a logger format),
``timezone``, ``dst`` (``earlier|later``), ``column`` (``ROLE=HEADER``, repeated, for the
``csv`` format) and ``dry_run``; one or more ``files`` of one logger, joined on time. The answer
is the import summary: rows read, readings, stored, already stored, skipped rows with reason and
row numbers, first and last times, and the CLI's summary lines.

A file that cannot be imported stores nothing of the call and answers 422 naming the file (by
its uploaded name) and row. Uploads larger than ``api.import_max_mb`` in all get 413.

Role: **admin**. An import does not only add readings: a row at a time the store already holds
replaces the stored values of that sensor (as a redelivered MQTT message would), so an upload
can rewrite the history that reports and compliance figures rest on. That is a change to the
record, like configuration, not an operational act such as acknowledging or silencing
(responder). The CLI needs the service's configuration file and store, which is admin's reach
too. Cookie sessions must send the CSRF token (``X-CSRF-Token`` or a ``csrf_token`` form field),
as every other change.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime
from pathlib import Path, PurePath
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile, status
from pydantic import BaseModel

from repoclimate.app.api.auth import get_services, require_user
from repoclimate.app.api.errors import AUTH_RESPONSES, described, invalid
from repoclimate.app.services import Services
from repoclimate.app.users import Role, User
from repoclimate.history import StoreRejected, StoreUnavailable
from repoclimate.ingest.importer import ImportSummary, import_files, parse_timezone
from repoclimate.sensors.loggers import LOGGER_FORMATS, LoggerFileError

router = APIRouter(prefix="/api", tags=["import"])

_COPY_CHUNK = 1 << 20


class Skipped(BaseModel):
    """Rows of one file not imported, for one reason."""

    file: str
    reason: str
    rows: list[int]


class ImportResult(BaseModel):
    """What an import read, stored and skipped (``dry_run``: what it would store)."""

    files: list[str]
    formats: list[str]
    rows_read: int
    readings: int
    stored: int
    unchanged: int
    """Readings the store already held with the same values."""
    skipped: list[Skipped]
    first: datetime | None
    last: datetime | None
    dry_run: bool
    unassigned: str | None
    """The sensor id when the registry does not know it (its readings are stored unassigned)."""
    lines: list[str]
    """The summary as ``repoclimate import`` prints it."""


def _result(summary: ImportSummary, names: dict[str, str]) -> ImportResult:
    return ImportResult(
        files=[_named(file, names) for file in summary.files],
        formats=summary.formats,
        rows_read=summary.rows_read,
        readings=summary.readings,
        stored=summary.stored,
        unchanged=summary.unchanged,
        skipped=[
            Skipped(file=_named(s.file, names), reason=s.reason, rows=list(s.rows))
            for s in summary.skipped
        ],
        first=summary.first,
        last=summary.last,
        dry_run=summary.dry_run,
        unassigned=summary.unassigned,
        lines=[_named(line, names) for line in summary.lines()],
    )


def _named(text: str, names: dict[str, str]) -> str:
    """``text`` with the temporary paths of the uploads replaced by their uploaded names."""
    for path, name in names.items():
        text = text.replace(path, name)
    return text


def _mapping(columns: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in columns:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise invalid(("body", "column"), f"{item!r} is not ROLE=HEADER")
        mapping[key.strip()] = value.strip()
    return mapping


def _too_large(limit: int) -> HTTPException:
    return HTTPException(
        413,  # Content Too Large
        f"upload larger than api.import_max_mb ({limit / 1e6:g} MB)",
    )


def _save(uploads: list[UploadFile], folder: Path, limit: int) -> tuple[list[Path], dict[str, str]]:
    """Copy the uploads to ``folder`` (one sub-folder each, under their own base names)."""
    paths: list[Path] = []
    names: dict[str, str] = {}
    total = 0
    for index, upload in enumerate(uploads):
        name = PurePath((upload.filename or f"file{index + 1}").replace("\\", "/")).name
        name = name or f"file{index + 1}"
        path = folder / str(index) / name
        path.parent.mkdir()
        with path.open("wb") as out:
            while chunk := upload.file.read(_COPY_CHUNK):
                total += len(chunk)
                if total > limit:
                    raise _too_large(limit)
                out.write(chunk)
        paths.append(path)
        names[str(path)] = name
    return paths, names


FORMATS = ("auto", *LOGGER_FORMATS)


@router.post(
    "/import",
    response_model=ImportResult,
    responses={
        **AUTH_RESPONSES,
        413: described("Upload larger than api.import_max_mb"),
        503: described("The store did not take the readings; nothing of the files was stored"),
    },
)
def import_upload(
    request: Request,
    user: Annotated[User, Depends(require_user(Role.ADMIN))],
    services: Annotated[Services, Depends(get_services)],
    files: Annotated[list[UploadFile], File(description="Export files of one logger")],
    sensor: Annotated[str, Form(min_length=1, description="Registry id of the sensor")],
    format: Annotated[
        str,
        Form(
            description="The files' format (auto: detect)",
            json_schema_extra={"enum": list(FORMATS)},
        ),
    ] = "auto",
    timezone: Annotated[
        str | None, Form(description="Zone of times without offset (IANA name or +01:00)")
    ] = None,
    dst: Annotated[
        Literal["earlier", "later"] | None,
        Form(description="Read a repeated local time (clocks going back) as this one"),
    ] = None,
    column: Annotated[
        list[str] | None, Form(description="csv format: ROLE=HEADER, one per field")
    ] = None,
    dry_run: Annotated[bool, Form(description="Read and check the files; store nothing")] = False,
) -> ImportResult:
    """Import logger export files of one sensor (HOBO, Hanwell, Tinytag, Rotronic, Govee …).

    Several files are joined on time; importing the same file again stores nothing new.
    """
    if format not in FORMATS:
        raise invalid(("body", "format"), f"unknown format {format!r}: one of {', '.join(FORMATS)}")
    limit = int(services.settings.api.import_max_mb * 1_000_000)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + _COPY_CHUNK:  # form overhead allowed
        raise _too_large(limit)
    try:
        zone = None if timezone is None or not timezone.strip() else parse_timezone(timezone)
    except ValueError as exc:
        raise invalid(("body", "timezone"), str(exc)) from None
    mapping = _mapping(column or [])
    folder = Path(tempfile.mkdtemp(prefix="repoclimate-import-"))
    try:
        paths, names = _save(files, folder, limit)
        try:
            summary = import_files(
                paths,
                sensor=sensor,
                registry=services.registry,
                store=None if dry_run else services.store,
                now=services.clock.now(),
                fmt=str(format),
                timezone_override=zone,
                dst=dst,
                dry_run=dry_run,
                mapping=mapping or None,
            )
        except LoggerFileError as exc:
            raise invalid(
                ("body", "files"), f"not imported, nothing stored: {_named(str(exc), names)}"
            ) from None
        except (StoreUnavailable, StoreRejected) as exc:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                f"the store did not take the readings: {exc}",
            ) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return _result(summary, names)
