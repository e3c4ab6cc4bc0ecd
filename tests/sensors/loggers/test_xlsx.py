"""Excel workbooks: ``.xlsx`` exports read through the format readers; binary ``.xls`` refused.

No public ``.xlsx`` logger export was found (see samples/README.md), so the workbooks are built
here with openpyxl to the layouts LOGGERS.md documents: HOBOconnect (a details sheet beside the
data sheet, Excel dates, a zone abbreviation in the time header), Hanwell EMS (plain Excel
serial days under ``Date Time``, in the 1900 and in the 1904 date system) and SwitchBot.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook
from openpyxl.utils.datetime import CALENDAR_MAC_1904, to_excel

from repoclimate.sensors.loggers import LoggerFileError, read_logger_file
from repoclimate.sensors.loggers.xlsx import is_binary_xls, is_xlsx

START = datetime(2026, 3, 1, 0, 0)


def _book(sheets: list[tuple[str, list[list[object]]]], *, epoch: datetime | None = None) -> bytes:
    workbook = Workbook()
    if epoch is not None:
        workbook.epoch = epoch
    first = workbook.active
    assert first is not None
    workbook.remove(first)
    for title, rows in sheets:
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _hoboconnect() -> bytes:
    header = [
        "#",
        "Date-Time (EDT)",
        "Ch: 1 - Temperature   (°C)",
        "Ch: 2 - RH   (%)",
        "Dew Point   (°C)",
        "Host Connected",
        "End Of File",
    ]
    rows: list[list[object]] = [header]
    for i in range(4):
        rows.append([i + 1, START + timedelta(minutes=10 * i), 21.5 - i / 10, 48.0 + i, 10.1])
    rows.append([5, START + timedelta(minutes=35), None, None, None, "Logged"])
    rows.append([6, START + timedelta(minutes=40), 21.1, 52.0, 10.4, None, "Logged"])
    details = [["Devices"], ["Device Info"], ["Product", "MX1101"], ["Serial Number", "21133702"]]
    return _book([("Details", details), ("Data EDT", rows)])


def test_hoboconnect_xlsx_reads_the_data_sheet_not_the_details_sheet() -> None:
    data = _hoboconnect()
    assert is_xlsx(data)
    result = read_logger_file(data, "MX1101 (Data EDT).xlsx")
    assert result.format == "hobo"
    assert result.utc_offset == timedelta(hours=-4)
    assert [(r.row, r.time, r.temperature, r.humidity) for r in result.rows] == [
        (2, START, 21.5, 48.0),
        (3, START + timedelta(minutes=10), 21.4, 49.0),
        (4, START + timedelta(minutes=20), 21.3, 50.0),
        (5, START + timedelta(minutes=30), 21.2, 51.0),
        (7, START + timedelta(minutes=40), 21.1, 52.0),
    ]
    assert [(s.row, s.reason) for s in result.skipped] == [(6, "event")]


def _ems(values: list[object], *, epoch: datetime | None = None) -> bytes:
    rows: list[list[object]] = [
        ["Searchroom RH/T (Transmitter 12)"],
        ["Date Time", "Temperature (C)", "Humidity (%RH)"],
    ]
    rows += [[v, 19.4 - i / 10, 45.0 + i] for i, v in enumerate(values)]
    rows += [["---- END OF DATA ----"], ["Minimum", 19.2, 45.0], ["Maximum", 19.4, 47.0]]
    return _book([("Sheet1", rows)], epoch=epoch)


TIMES = [START + timedelta(minutes=15 * i) for i in range(3)]


@pytest.mark.parametrize("system", ["1900", "1904"])
def test_hanwell_ems_xlsx_with_plain_serial_days(system: str) -> None:
    epoch = CALENDAR_MAC_1904 if system == "1904" else None
    serials: list[object] = [
        to_excel(t, epoch) if epoch is not None else to_excel(t) for t in TIMES
    ]
    # A serial of 13:00 as Excel computes it is not exact: 46082.541666666664.
    assert all(isinstance(s, float) for s in serials)
    result = read_logger_file(_ems(serials, epoch=epoch), f"ems_{system}.xlsx")
    assert result.format == "hanwell"
    assert [(r.row, r.time, r.temperature, r.humidity) for r in result.rows] == [
        (3, TIMES[0], 19.4, 45.0),
        (4, TIMES[1], 19.3, 46.0),
        (5, TIMES[2], 19.2, 47.0),
    ]


@pytest.mark.parametrize("system", ["1900", "1904"])
def test_hanwell_ems_xlsx_with_excel_dates(system: str) -> None:
    epoch = CALENDAR_MAC_1904 if system == "1904" else None
    result = read_logger_file(_ems(list(TIMES), epoch=epoch), f"ems_{system}.xlsx")
    assert [r.time for r in result.rows] == TIMES


def test_the_1904_system_matters() -> None:
    """The same serial numbers read in the 1900 system would be four years and a day early."""
    serials: list[object] = [to_excel(t, CALENDAR_MAC_1904) for t in TIMES]
    as_1904 = read_logger_file(_ems(serials, epoch=CALENDAR_MAC_1904), "a.xlsx")
    as_1900 = read_logger_file(_ems(serials), "b.xlsx")
    assert as_1904.rows[0].time == TIMES[0]
    assert TIMES[0] - as_1900.rows[0].time == timedelta(days=1462)


def test_switchbot_xlsx() -> None:
    header = ["Timestamp", "Temperature_Celsius(°C)", "Relative_Humidity(%)", "VPD(kPa)"]
    rows: list[list[object]] = [header]
    rows += [[START + timedelta(seconds=61 * i), 19.5, 53, 1.06] for i in range(3)]
    result = read_logger_file(_book([("Sheet1", rows)]), "Meter_data.xlsx")
    assert result.format == "switchbot"
    assert [r.time for r in result.rows] == [START + timedelta(seconds=61 * i) for i in range(3)]
    assert {(r.temperature, r.humidity) for r in result.rows} == {(19.5, 53.0)}


def test_a_workbook_without_a_logger_table_names_its_sheets() -> None:
    data = _book([("Notes", [["nothing to see"]]), ("More", [["a", "b"], [1, 2]])])
    with pytest.raises(
        LoggerFileError, match=r"notes\.xlsx: no sheet of the workbook \(Notes, More\)"
    ):
        read_logger_file(data, "notes.xlsx")


def test_a_named_format_takes_the_first_sheet() -> None:
    rows: list[list[object]] = [
        ["Zeitstempel", "T1"],
        [START, 18.0],
        [START + timedelta(hours=1), 18.5],
    ]
    with pytest.raises(LoggerFileError):
        read_logger_file(_book([("Tabelle1", rows)]), "bms.xlsx")
    result = read_logger_file(
        _book([("Tabelle1", rows)]),
        "bms.xlsx",
        "csv",
        {"time": "Zeitstempel", "temperature": "T1"},
    )
    assert [(r.time, r.temperature) for r in result.rows] == [
        (START, 18.0),
        (START + timedelta(hours=1), 18.5),
    ]


def test_a_binary_xls_is_refused_with_what_to_do() -> None:
    # The OLE2 compound-file signature every BIFF8 .xls starts with, then padding.
    data = bytes.fromhex("d0cf11e0a1b11ae1") + b"\x00" * 504
    assert is_binary_xls(data)
    with pytest.raises(LoggerFileError) as caught:
        read_logger_file(data, "TR-74Ui.xls")
    message = str(caught.value)
    assert message.startswith("TR-74Ui.xls: ")
    assert "save it as CSV or as .xlsx" in message


def test_an_xls_that_is_tab_separated_text_still_reads() -> None:
    sample = Path(__file__).parent / "samples" / "rotronic_hw4.xls"
    data = sample.read_bytes()
    assert not is_binary_xls(data) and not is_xlsx(data)
    assert read_logger_file(data, sample.name).format == "rotronic"


def test_a_broken_zip_named_xlsx_is_an_error_naming_the_file() -> None:
    data = _hoboconnect()[:200]
    with pytest.raises(LoggerFileError, match=r"^cut\.xlsx: "):
        read_logger_file(data, "cut.xlsx")
