"""Excel workbooks that loggers' software exports: ``.xlsx`` read as text, binary ``.xls`` refused.

HOBOconnect saves ``… (Data EDT).xlsx`` with the data table on one sheet and details on others;
Hanwell EMS and the SwitchBot app export ``.xlsx`` too. A workbook is turned into the CSV text
its sheet would export (`workbook_text`), so the same format readers (sniffing, headers, units,
grammars) read it as they read the CSV export. The sheet taken is the first whose first lines a
format recognises.

Cells become text as Excel's CSV export would write them, except for times: a cell Excel stores
as a date (a number with a date format) becomes ``YYYY-MM-DD HH:MM:SS[.ffffff]``, converted by
the workbook's own date system (1900, or 1904 for workbooks from old Mac Excel), and so does a
plain number in a column whose header names a time (``Date Time``, ``Timestamp``): Hanwell EMS
exports write Excel serial days there. Serials are rounded to the millisecond (Excel's own
arithmetic leaves ``13:00`` as ``12:59:59.99999997``).

A binary BIFF ``.xls`` (Excel 97–2003) cannot be read: `refuse_binary_xls` names the file and
asks for a CSV or ``.xlsx`` re-export. ``.xls`` files that are really tab-separated text (Rotronic
HW4) are text, and read as such.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, time, timedelta

from openpyxl import load_workbook
from openpyxl.utils.datetime import from_excel
from openpyxl.utils.exceptions import InvalidFileException

from repoclimate.sensors.loggers.base import LoggerFileError, find_columns, normalise_units

__all__ = ["is_binary_xls", "is_xlsx", "refuse_binary_xls", "workbook_text"]

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_TIME_HEADER = re.compile(r"^\W*(date[\s\-_/]*time|datetime|timestamp|time|date|datum)\b", re.I)
_SNIFF_LINES = 40
_HALF_MILLISECOND = timedelta(microseconds=500)
_SERIAL_RANGE = (1.0, 2_958_466.0)  # 1900-01-01 … 9999-12-31 in the 1900 system


def is_xlsx(data: bytes) -> bool:
    """Whether ``data`` is an Office Open XML workbook (a zip holding ``xl/workbook.xml``)."""
    if not data.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "xl/workbook.xml" in archive.namelist()
    except zipfile.BadZipFile:
        return False


def is_binary_xls(data: bytes) -> bool:
    """Whether ``data`` is an OLE2 compound file (a binary BIFF ``.xls`` of Excel 97–2003)."""
    return data.startswith(_OLE2)


def refuse_binary_xls(source: str) -> LoggerFileError:
    """The error for a binary ``.xls``: which file, and what to do instead."""
    return LoggerFileError(
        source,
        "a binary Excel 97-2003 workbook (.xls), which this version cannot read; open it in "
        "the logger's software or a spreadsheet and save it as CSV or as .xlsx, then import that",
    )


def workbook_text(
    data: bytes, source: str, sniff: Callable[[list[str]], bool], *, else_first: bool = False
) -> str:
    """The CSV text of the workbook's data sheet: the first sheet ``sniff`` accepts.

    ``sniff`` is given a sheet's first lines as text; with ``else_first`` (a format named by
    the user) the first sheet is taken when none is accepted. Raises `LoggerFileError` naming
    ``source`` for a workbook that cannot be opened or has no sheet to take.
    """
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise LoggerFileError(source, f"cannot open the workbook: {exc}") from None
    try:
        epoch = workbook.epoch
        names = workbook.sheetnames
        for name in names:
            sheet = workbook[name]
            head = _lines(_rows(sheet.iter_rows(max_row=_SNIFF_LINES, values_only=True)), epoch)
            if head and (sniff(head) or (else_first and name == names[0])):
                return "\n".join(_lines(_rows(sheet.iter_rows(values_only=True)), epoch)) + "\n"
    finally:
        workbook.close()
    raise LoggerFileError(
        source,
        f"no sheet of the workbook ({', '.join(names)}) holds a logger table this version "
        "can read (give --format to say which it is)",
    )


def _rows(rows: Iterable[Sequence[object]]) -> Iterable[list[object]]:
    for row in rows:
        cells = list(row)
        while cells and (cells[-1] is None or cells[-1] == ""):
            cells.pop()
        yield cells


def _lines(rows: Iterable[list[object]], epoch: datetime) -> list[str]:
    """Rows as CSV lines; numbers under the header's time column read as serial days."""
    out: list[str] = []
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="")
    time_columns: frozenset[int] = frozenset()
    header_found = False
    for number, cells in enumerate(rows, start=1):
        texts = [_text(cell, index in time_columns, epoch) for index, cell in enumerate(cells)]
        if not header_found and any(isinstance(c, str) and _TIME_HEADER.match(c) for c in cells):
            try:
                columns = find_columns(texts, "<workbook>", number)
            except LoggerFileError:
                pass
            else:
                header_found = True
                time_columns = frozenset(i for i in (columns.time, columns.clock) if i is not None)
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(texts)
        out.append(normalise_units(buffer.getvalue()))
    return out


def _text(cell: object, is_time: bool, epoch: datetime) -> str:
    if cell is None:
        return ""
    if isinstance(cell, datetime):
        return _iso(cell)
    if isinstance(cell, date):
        return cell.isoformat()
    if isinstance(cell, time):
        return cell.isoformat()
    if isinstance(cell, timedelta):
        return str(cell)
    if isinstance(cell, bool):
        return "TRUE" if cell else "FALSE"
    if isinstance(cell, int | float):
        if is_time and _SERIAL_RANGE[0] <= cell < _SERIAL_RANGE[1]:
            when = from_excel(cell, epoch)
            if isinstance(when, datetime):
                return _iso(when)
        if isinstance(cell, float) and cell.is_integer():
            return str(int(cell))
        return repr(cell)
    return str(cell)


def _iso(when: datetime) -> str:
    """``when`` rounded to the millisecond (Excel's day fractions are not exact), ISO 8601."""
    when = when.replace(tzinfo=None) + _HALF_MILLISECOND
    when = when.replace(microsecond=when.microsecond // 1000 * 1000)
    return when.isoformat(sep=" ", timespec="milliseconds" if when.microsecond else "seconds")
