"""Readers of the files standalone data loggers export, one module per format, and how to pick one.

Every format module exposes ``sniff(lines) -> bool`` (whether the first lines of a file look like
that format) and ``parse(text, source) -> LoggerFile`` (the file's rows, local times as written,
values in °C and %RH, row numbers kept). `read_logger_file` decodes the bytes (`base.decode_text`;
an ``.xlsx`` workbook becomes the CSV text of its data sheet, `xlsx.workbook_text`; a binary
``.xls`` is refused with what to do instead) and picks the reader by name, or by sniffing for
``"auto"``. Turning local times into UTC,
validating and storing is the importer's job (`repoclimate.ingest.importer`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass

from repoclimate.sensors.loggers import (
    csvmap,
    export,
    govee,
    hanwell,
    hobo,
    lascar,
    meaco,
    miniclima,
    rotronic,
    switchbot,
    tandd,
    testo,
    tinytag,
    trend,
    xlsx,
)
from repoclimate.sensors.loggers.base import (
    LoggerFile,
    LoggerFileError,
    columns_instead_of_rows,
    decode_text,
    head_lines,
    no_cyclic_gc,
)

__all__ = [
    "LOGGER_FORMATS",
    "LoggerFile",
    "LoggerFileError",
    "LoggerFormat",
    "detect_logger_format",
    "read_logger_file",
]


@dataclass(frozen=True, slots=True)
class LoggerFormat:
    """One export format: its name, its sniffer and its reader."""

    name: str
    sniff: Callable[[list[str]], bool]
    parse: Callable[[str, str], LoggerFile]


LOGGER_FORMATS: dict[str, LoggerFormat] = {
    f.name: f
    for f in (
        # Sniffing order: the most specific signatures first, the generic table last.
        LoggerFormat("repoclimate", export.sniff, export.parse),
        LoggerFormat("hobo", hobo.sniff, hobo.parse),
        LoggerFormat("hanwell", hanwell.sniff, hanwell.parse),
        LoggerFormat("rotronic", rotronic.sniff, rotronic.parse),
        LoggerFormat("tinytag", tinytag.sniff, tinytag.parse),
        LoggerFormat("tandd", tandd.sniff, tandd.parse),
        LoggerFormat("meaco", meaco.sniff, meaco.parse),
        LoggerFormat("lascar", lascar.sniff, lascar.parse),
        LoggerFormat("miniclima", miniclima.sniff, miniclima.parse),
        LoggerFormat("switchbot", switchbot.sniff, switchbot.parse),
        LoggerFormat("govee", govee.sniff, govee.parse),
        LoggerFormat("trend", trend.sniff, trend.parse),
        LoggerFormat("testo", testo.sniff, testo.parse),
        LoggerFormat("csv", csvmap.sniff, csvmap.parse),
    )
}
"""Every reader by its ``--format`` name."""


def _sniffs_any(lines: list[str]) -> bool:
    return any(fmt.sniff(lines) for fmt in LOGGER_FORMATS.values())


def detect_logger_format(text: str, source: str) -> str:
    """The format of a file's text by its first lines; `LoggerFileError` when none fits."""
    lines = head_lines(text, 40)
    for fmt in LOGGER_FORMATS.values():
        if fmt.sniff(lines):
            return fmt.name
    raise LoggerFileError(
        source, "not a logger export this version can read (give --format to say which it is)"
    )


def read_logger_file(
    data: bytes,
    source: str,
    fmt: str = "auto",
    mapping: Mapping[str, str] | None = None,
    *,
    rows: bool = True,
) -> LoggerFile:
    """The rows of one logger file's bytes in format ``fmt`` (``"auto"``: detected).

    ``mapping`` names the columns of a generic ``csv`` file (`csvmap.parse`). Raises
    `LoggerFileError` naming ``source``, the row and the column of what cannot be read. With
    ``rows=False`` a file read as whole columns has only `LoggerFile.columns`
    (`base.columns_instead_of_rows`; the importer).
    """
    if fmt != "auto" and fmt not in LOGGER_FORMATS:
        raise LoggerFileError(
            source, f"unknown format {fmt!r}; known: auto, {', '.join(LOGGER_FORMATS)}"
        )
    if xlsx.is_binary_xls(data):
        raise xlsx.refuse_binary_xls(source)
    if xlsx.is_xlsx(data):
        sniff = _sniffs_any if fmt == "auto" else LOGGER_FORMATS[fmt].sniff
        text = xlsx.workbook_text(data, source, sniff, else_first=fmt != "auto")
    else:
        text = decode_text(data)
    name = detect_logger_format(text, source) if fmt == "auto" else fmt
    with no_cyclic_gc(), nullcontext() if rows else columns_instead_of_rows():
        if name == "csv" and mapping:
            return csvmap.parse(text, source, mapping)
        return LOGGER_FORMATS[name].parse(text, source)
