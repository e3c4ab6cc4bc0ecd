"""Behaviours of real exports that the sample files do not show (LOGGERS.md), and malformed
variants: each built here as the few lines that carry the quirk."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from repoclimate.sensors.loggers import LoggerFileError, read_logger_file


def _read(text: str, name: str = "f.csv", encoding: str = "utf-8") -> object:
    return read_logger_file(text.encode(encoding), name)


def test_hoboware_older_header_without_plot_title() -> None:
    text = (
        '"#","Time, GMT+01:00","Temp, °C()","RH, %()"\n'
        "1,06/15/08 09:00:00 AM,21.2,45.1\n"
        "2,06/15/08 09:30:00 AM,21.4,45.0\n"
    )
    result = read_logger_file(text.encode("cp1252"), "old.csv")
    assert result.format == "hobo"
    assert result.utc_offset == timedelta(hours=1)
    assert result.name is None
    assert [(r.time, r.temperature, r.humidity) for r in result.rows] == [
        (datetime(2008, 6, 15, 9, 0), 21.2, 45.1),
        (datetime(2008, 6, 15, 9, 30), 21.4, 45.0),
    ]


@pytest.mark.parametrize(
    ("header", "hours"),
    [
        ("GMT-05:00", -5),
        ("GMT+05:30", 5.5),
        ("GMT+0100", 1),
        ("GMT-8", -8),
        ("GMT+00:00", 0),
        ("GMT", 0),
        ("UTC+09:00", 9),
    ],
)
def test_hoboware_offset_header_variants(header: str, hours: float) -> None:
    text = (
        '"Plot Title: Stack 3"\n'
        f'"#","Date Time, {header}","Temp, °C (LGR S/N: 1, SEN S/N: 1, LBL: T)"\n'
        "1,24/07/20 21:00:00,20.0\n"
        "2,24/07/20 22:00:00,20.1\n"
    )
    result = read_logger_file(text.encode(), "f.csv")
    assert result.utc_offset == timedelta(hours=hours)
    assert result.name == "Stack 3"
    assert result.rows[0].time == datetime(2024, 7, 20, 21, 0)


def test_hoboware_event_rows_between_off_grid_times() -> None:
    text = (
        '"Plot Title: 1"\n'
        '"#","Date Time, GMT-04:00","Temp, °F (LGR S/N: 9)","Coupler Detached (LGR S/N: 9)",'
        '"Host Connected (LGR S/N: 9)","End Of File (LGR S/N: 9)"\n'
        "1,10/10/19 11:00:00 AM,68.0,,,\n"
        "2,10/10/19 11:07:13 AM,,Logged,,\n"
        "3,10/10/19 11:15:00 AM,68.9,,,\n"
        "4,10/10/19 11:16:02 AM,,,Logged,Logged\n"
    )
    result = read_logger_file(text.encode(), "f.csv")
    assert [(r.row, r.temperature) for r in result.rows] == [(3, 20.0), (5, 20.5)]
    assert [(s.row, s.reason) for s in result.skipped] == [(4, "event"), (6, "event")]


def test_hoboconnect_zone_pair_is_no_fixed_offset() -> None:
    text = (
        '"#","Date-Time (EST/EDT)","Ch: 1 - Temperature   (Â°C)","Ch: 2 - RH   (%)"\n'
        '"1","03/09/2025 01:00:00","18.1","40.0"\n'
        '"2","03/09/2025 03:00:00","18.2","40.1"\n'
    )
    result = read_logger_file(text.encode(), "MX (Data EST-EDT).csv")
    assert result.format == "hobo"
    assert result.utc_offset is None
    assert [r.temperature for r in result.rows] == [18.1, 18.2]


def test_tinytag_european_locale_semicolons_and_decimal_commas() -> None:
    text = (
        ";Time;1;2\r\n"
        "S/N;;359558;359558\r\n"
        "Type;;TGU-4500;TGU-4500\r\n"
        "Description;;Stack 3;Stack 3\r\n"
        "Property;;Temperature;Humidity\r\n"
        "1;02.07.2010 13:30:09;19,463 °C;56,3 %RH\r\n"
        "2;02.07.2010 13:35:09;19,5 °C;56,2 %RH\r\n"
    )
    result = read_logger_file(text.encode("latin-1"), "tt.csv")
    assert result.format == "tinytag"
    assert [(r.time, r.temperature, r.humidity) for r in result.rows] == [
        (datetime(2010, 7, 2, 13, 30, 9), 19.463, 56.3),
        (datetime(2010, 7, 2, 13, 35, 9), 19.5, 56.2),
    ]
    assert result.serial == "359558"


def test_tinytag_fully_quoted_header_block() -> None:
    text = (
        '"","Time","1","2"\n'
        '"S/N","","359558","359558"\n'
        '"Type","","TGU-4500","TGU-4500"\n'
        '"Description","","Stack 3","Stack 3"\n'
        '"Property","","Temperature","Humidity"\n'
        '"1","2010-07-02 13:30:09","19.463 °C","56.3 %RH"\n'
    )
    result = read_logger_file(text.encode(), "tt.csv")
    assert result.format == "tinytag"
    assert [(r.temperature, r.humidity) for r in result.rows] == [(19.463, 56.3)]
    assert (result.serial, result.name) == ("359558", "Stack 3")


def test_tinytag_fahrenheit_inside_cells() -> None:
    text = (
        ",Time,1\n"
        "S/N,,1\n"
        "Type,,TGP-4017\n"
        "Description,,Vault\n"
        "Property,,Temperature\n"
        "1,2010-07-02 13:30:09,68.0 °F\n"
    )
    result = read_logger_file(text.encode(), "tt.csv")
    assert [r.temperature for r in result.rows] == [20.0]


def test_tandd_excel_resave_with_a_leading_empty_column_and_replacement_degree_signs() -> None:
    text = (
        ",Date/Time,Serial Value,No.1,No.1\n"
        ",,,Temperature,Humidity\n"
        ",,,\ufffdC,%\n"
        ",2025/09/01 10:00:00,45901.41667,20.4,47\n"
        ",2025/09/01 10:10:00,45901.42361,20.5,47\n"
    )
    result = read_logger_file(text.encode(), "tr72.csv")
    assert result.format == "tandd"
    assert [(r.row, r.time, r.temperature, r.humidity) for r in result.rows] == [
        (4, datetime(2025, 9, 1, 10, 0), 20.4, 47.0),
        (5, datetime(2025, 9, 1, 10, 10), 20.5, 47.0),
    ]


def test_govee_older_fahrenheit_header_without_trailing_newline() -> None:
    text = (
        "Timestamp for sample frequency every 1 min min, Temperature_Fahrenheit,Relative_Humidity\n"
        "2025-01-05 10:00:00, 68.0,45.0\n"
        "2025-01-05 10:01:00, 68.4,45.1"
    )
    result = read_logger_file(text.encode("utf-8-sig"), "govee.csv")
    assert result.format == "govee"
    assert [(r.temperature, r.humidity) for r in result.rows] == [(20.0, 45.0), (20.2222, 45.1)]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("19.5°", 19.5), ("19.5 °C", 19.5), ("19.5C", 19.5), ("19,5 deg C", 19.5), ("67.1 °F", 19.5)],
)
def test_units_a_temperature_cell_may_carry(cell: str, expected: float) -> None:
    text = f"Date/Time;Temperature;RH\n2026-02-01 08:00;{cell};44 %rF\n"
    result = read_logger_file(text.encode(), "bms.csv", "csv")
    assert [(r.temperature, r.humidity) for r in result.rows] == [(expected, 44.0)]


def test_rotronic_fahrenheit_channel() -> None:
    text = (
        "[#I],,,\n"
        "[#S],,,\n"
        "Serial Number = 61234567,,,\n"
        "[#1],,,\n"
        "Humidity = %rh,,,\n"
        "[#2],,,\n"
        "Temperature = °F,,,\n"
        "[#H],,,\n"
        "Date,Time,Humidity,Temperature\n"
        "[#D],,,\n"
        "04/12/2024,09:00:00,44.1,68.0\n"
    )
    result = read_logger_file(text.encode(), "hw4.csv")
    assert [(r.temperature, r.humidity) for r in result.rows] == [(20.0, 44.1)]


# ----- malformed variants --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('"Plot Title: x"\n"#","Date Time, GMT-05:00","Temp, °C"\n', r"^f\.csv: no data rows"),
        ("\nDatabase Valid\nSensor:,Stack\n", r"^f\.csv: no 'Time, Temperature"),
        ("[#I],,,\n[#S],,,\nSerial Number = 1,,,\n", r"^f\.csv: no \[#H\] header"),
        (",Time,1\nS/N,,1\nType,,TGP\n", r"^f\.csv: not a logger export"),
        (
            '"Date/Time","Serial Value","No.1"\n"","","Temperature"\n',
            r"^f\.csv: no three-row T&D header",
        ),
        (
            "Timestamp,Temperature_Celsius(°C),Relative_Humidity(%)\n2025-12-01 00:00:00,19,5,52\n",
            r"^f\.csv: row 2: 4 cells where the header has 3",
        ),
        (
            "Timestamp,Temperature_Celsius(°C),Relative_Humidity(%)\n"
            "2025-12-01 00:00:00,19.5,52\n"
            "2025-12-01 00:01:00,19.5 Â°K,52\n",
            r"^f\.csv: row 3, column 'Temperature_Celsius\(°C\)': '19\.5 °K': the unit '°K' is not",
        ),
        (
            "Timestamp,Temperature_Celsius(°C),Relative_Humidity(%)\n"
            "2025-12-01 00:00:00,19.5,612 ppm\n",
            r"^f\.csv: row 2, column 'Relative_Humidity\(%\)': '612 ppm': the unit 'ppm' is not",
        ),
    ],
)
def test_malformed_files_name_file_and_row(text: str, message: str) -> None:
    with pytest.raises(LoggerFileError, match=message):
        read_logger_file(text.encode(), "f.csv")
