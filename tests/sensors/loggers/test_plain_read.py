"""The whole-column read of a plain logger file (`base._plain_table` / `_read_plain`, issue 14)
gives the rows the line-by-line read gives, and a file it cannot read whole is read line by line
with the same refusal (message and row number) as before."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from repoclimate.sensors.loggers import LoggerFileError, read_logger_file
from repoclimate.sensors.loggers import base as base_module

HEADER = (
    '"Plot Title: t"\n"#","Date Time, GMT-05:00","Temp, °F (LGR S/N: 7)","RH, % (LGR S/N: 7)"\n'
)


def _hobo(rows: int, *, lines: dict[int, str] | None = None) -> bytes:
    """A HOBOware file of ``rows`` minute rows; ``lines`` replaces data lines by index."""
    start = datetime(2025, 3, 30, 22, 0)
    out = []
    for i in range(rows):
        when = start + timedelta(minutes=i)
        out.append(f"{i + 1},{when:%m/%d/%y %I:%M:%S %p},{60 + i % 90 / 10:.1f},{40 + i % 7}")
    for index, line in (lines or {}).items():
        out[index] = line
    return (HEADER + "\n".join(out) + "\n").encode()


def _line_by_line(data: bytes, monkeypatch: pytest.MonkeyPatch) -> base_module.LoggerFile:
    with monkeypatch.context() as patch:
        patch.setattr(base_module, "_plain_table", lambda *_: None)
        return read_logger_file(data, "f.csv")


def test_a_plain_file_reads_whole_as_line_by_line(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _hobo(3000)
    reference = _line_by_line(data, monkeypatch)
    whole = read_logger_file(data, "f.csv")
    assert whole.rows == reference.rows
    assert whole.rows[0].row == 3 and whole.rows[0].temperature == pytest.approx(15.5556)
    assert whole.utc_offset == reference.utc_offset == timedelta(hours=-5)
    assert whole.columns is not None and reference.columns is None
    columns_only = read_logger_file(data, "f.csv", rows=False)
    assert columns_only.rows == [] and columns_only.columns is not None
    assert columns_only.columns.rows() == reference.rows
    assert len(columns_only.columns) == 3000


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("41,03/30/25 10:40:00 PM,abc,40", "'abc' is not a number"),
        ("41,03/30/25 10:40:00 PM,61.0 %,40", "the unit '%' is not °C or °F"),
        ("41,02/30/25 10:40:00 PM,61.0,40", "cannot read the time '02/30/25 10:40:00 PM'"),
        ("41,03/30/25 10:40:00 PM,61.0,40,5", "5 cells where the header has 4"),
    ],
)
def test_a_bad_row_is_refused_as_line_by_line(
    monkeypatch: pytest.MonkeyPatch, line: str, message: str
) -> None:
    data = _hobo(200, lines={150: line})
    with pytest.raises(LoggerFileError) as line_by_line:
        _line_by_line(data, monkeypatch)
    with pytest.raises(LoggerFileError) as whole:
        read_logger_file(data, "f.csv", rows=False)
    assert str(whole.value) == str(line_by_line.value)
    assert whole.value.row == 153
    assert message in str(whole.value)


@pytest.mark.parametrize(
    "line",
    [
        "",
        "41,03/30/25 10:40:00 PM,,",
        '41,"03/30/25 10:40:00 PM",61.0,40',
        "41,03/30/25 10:40:00 PM,nan,40",
    ],
)
def test_rows_not_plain_are_read_line_by_line(monkeypatch: pytest.MonkeyPatch, line: str) -> None:
    # A blank line, an event row, a quoted cell, a missing value: the same rows and skips.
    data = _hobo(200, lines={150: line})
    reference = _line_by_line(data, monkeypatch)
    for rows in (True, False):
        read = read_logger_file(data, "f.csv", rows=rows)
        assert read.rows == reference.rows
        assert read.skipped == reference.skipped
