"""The shared text handling of logger files: encodings, numbers, units, time grammars, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from repoclimate.sensors.loggers import LoggerFileError, detect_logger_format, read_logger_file
from repoclimate.sensors.loggers.base import (
    DEFAULT_GRAMMARS,
    TimeGrammar,
    choose_grammar,
    decode_text,
    parse_number,
    temperature_unit,
)

SAMPLES = Path(__file__).parent / "samples"


@pytest.mark.parametrize(
    "data",
    [
        "Temp, °C\n".encode(),
        b"\xef\xbb\xbf" + "Temp, °C\n".encode(),
        "Temp, °C\n".encode("utf-16"),
        "Temp, °C\n".encode("utf-16-le"),
        "Temp, °C\n".encode("utf-16-be"),
        "Temp, °C\n".encode("latin-1"),
        "Temp, Â°C\n".encode(),
        "Temp, ∞C\n".encode(),
        "Temp, \ufffdC\n".encode(),
    ],
    ids=["utf8", "bom", "utf16", "utf16le", "utf16be", "latin1", "mojibake", "infinity", "fffd"],
)
def test_every_encoding_reads_as_the_same_text(data: bytes) -> None:
    assert decode_text(data) == "Temp, °C\n"


@pytest.mark.parametrize(
    ("cell", "comma", "expected"),
    [
        ("21.5", False, (21.5, "")),
        (" 21.5 ", False, (21.5, "")),
        ("21,5", True, (21.5, "")),
        ("21,5", False, (21.5, "")),  # its only mark: a quoted decimal comma in a comma file
        ("13.1 °C", False, (13.1, "°C")),
        ("56.3 %RH", False, (56.3, "%RH")),
        ("−3.2", False, (-3.2, "")),
        ("", False, None),
        ("---", False, None),
        ("NaN", False, None),
    ],
)
def test_numbers(cell: str, comma: bool, expected: tuple[float, str] | None) -> None:
    assert parse_number(cell, decimal_comma=comma) == expected


@pytest.mark.parametrize("cell", ["warm", "21.5.3", "1,234.5", "inf", "12 3", "21.5=C"])
def test_not_numbers(cell: str) -> None:
    with pytest.raises(ValueError, match="not a number"):
        parse_number(cell, decimal_comma=False)


@pytest.mark.parametrize(
    ("header", "unit"),
    [("Temp, °F (LGR S/N: 1)", "F"), ("Temperature_Fahrenheit", "F"), ("Celsius(°C)", "C"),
     ("Temperature (C)", "C"), ("T deg F", "F"), ("Humidity (%RH)", None)],
)  # fmt: skip
def test_temperature_units(header: str, unit: str | None) -> None:
    assert temperature_unit(header) == unit


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("%m/%d/%y %I:%M:%S %p", "10/10/19 1:00:00 pm", datetime(2019, 10, 10, 13, 0)),
        ("%m/%d/%y %I:%M:%S %p", "10/10/19 12:00:00 AM", datetime(2019, 10, 10, 0, 0)),
        ("%d-%b-%y %I:%M:%S %p", "01-Jan-26 9:15:00 a.m.", datetime(2026, 1, 1, 9, 15)),
        ("%H:%M:%S %d/%b/%Y", "00:30:00 21/Nov/2025", datetime(2025, 11, 21, 0, 30)),
        ("%d.%m.%y %H:%M:%S", "15.08.25,14:05:00", datetime(2025, 8, 15, 14, 5)),
        ("%d %b %Y %H:%M", "3 Sept 2025 7:05", datetime(2025, 9, 3, 7, 5)),
        ("%Y-%m-%d %H:%M:%S", "2025-01-02T03:04:05.5", datetime(2025, 1, 2, 3, 4, 5, 500000)),
        (
            "%Y-%m-%d %H:%M:%S%z",
            "2026-11-01T10:00:00+01:00",
            datetime(2026, 11, 1, 10, tzinfo=timezone(timedelta(hours=1))),
        ),
        ("%Y-%m-%d %H:%M:%S%z", "2026-11-01 10:00:00Z", datetime(2026, 11, 1, 10, tzinfo=UTC)),
    ],
)
def test_time_grammars(pattern: str, text: str, expected: datetime) -> None:
    assert TimeGrammar(pattern).parse(text) == expected


@pytest.mark.parametrize(
    "text", ["13/13/19 10:00", "02/30/2025 10:00", "10/10/19 13:00:00 PM", "1-Foo-26 9:00"]
)
def test_impossible_times_do_not_parse(text: str) -> None:
    assert all(g.parse(text) is None for g in DEFAULT_GRAMMARS)


def test_a_literal_dot_in_a_pattern_is_not_any_character() -> None:
    assert TimeGrammar("%d.%m.%Y").parse("01x02x2025") is None


def test_ambiguous_dates_take_the_grammar_under_which_rows_step_regularly() -> None:
    # 01/02 … 12/02 read day-first step by one day; month-first they jump a month at a time.
    samples = [f"{day:02d}/02/2025 00:00" for day in range(1, 13)]
    chosen = choose_grammar(samples, DEFAULT_GRAMMARS, "f.csv", 2)
    assert chosen.parse(samples[1]) == datetime(2025, 2, 2)
    samples = [f"02/{day:02d}/2025 00:00" for day in range(1, 13)]
    chosen = choose_grammar(samples, DEFAULT_GRAMMARS, "f.csv", 2)
    assert chosen.parse(samples[1]) == datetime(2025, 2, 2)


@pytest.mark.parametrize(
    ("name", "old", "new", "row", "column"),
    [
        ("hobo_hoboware.csv", "18.479", "18.4x9", 6, "Temp, °C"),
        ("hanwell_logger.csv", "01:30:00 21/Nov/2025", "01:30:00 21/Nox/2025", 12, "Time"),
        ("tinytag_explorer.csv", "55.8 %RH", "55.8 %RH?", 9, "Humidity"),
        ("govee_h5075.csv", "2026-08-06 09:52:00", "2026-08-06 9.52", 4, "Timestamp"),
        ("rotronic_hw4.xls", "43.8", "4 3.8", 17, "Humidity"),
        ("miniclima.csv", "49.8", "49.8.1", 4, "RH/%"),
    ],
)
def test_a_bad_row_is_an_error_naming_file_row_and_column(
    name: str, old: str, new: str, row: int, column: str
) -> None:
    text = decode_text((SAMPLES / name).read_bytes())
    assert old in text
    with pytest.raises(LoggerFileError) as caught:
        read_logger_file(text.replace(old, new, 1).encode(), name)
    assert caught.value.row == row
    assert caught.value.column is not None and caught.value.column.startswith(column)
    assert str(caught.value).startswith(f"{name}: row {row}, column ")


def test_an_unknown_file_is_refused_by_name() -> None:
    with pytest.raises(LoggerFileError, match=r"^notes\.txt: not a logger export"):
        detect_logger_format("Dear colleague,\nthe loggers are in the drawer.\n", "notes.txt")


def test_a_header_without_a_quantity_is_refused_naming_the_row() -> None:
    with pytest.raises(LoggerFileError, match=r"^x\.csv: row 1: no temperature or humidity"):
        read_logger_file(b"Timestamp,Pressure\n2025-01-01 00:00,1013\n", "x.csv", "govee")


def test_a_file_without_data_rows_is_refused() -> None:
    with pytest.raises(LoggerFileError, match="no data rows"):
        read_logger_file(b"Timestamp, Temperature_Celsius,Relative_Humidity\n", "g.csv")


def test_fahrenheit_in_a_cell_wins_over_the_header() -> None:
    text = decode_text((SAMPLES / "tinytag_explorer.csv").read_bytes())
    text = text.replace("19.463 °C", "67.1 °F")
    result = read_logger_file(text.encode(), "t.csv")
    assert result.rows[0].temperature == pytest.approx(19.5, abs=1e-4)
    assert result.rows[1].temperature == pytest.approx(20.004)


def test_semicolons_and_decimal_commas() -> None:
    text = "Timestamp;Temperature_Celsius;Relative_Humidity\n2025-01-01 00:00:00;18,5;45,25\n"
    result = read_logger_file(text.encode(), "g.csv", "govee")
    assert (result.rows[0].temperature, result.rows[0].humidity) == (18.5, 45.25)


def test_separate_date_and_time_columns_with_the_offset_on_the_time() -> None:
    text = (
        '"Plot Title: old HOBOware"\n'
        '"#","Date","Time, GMT+01:00","Temp, °C (LGR S/N: 9)"\n'
        "1,07/02/15,10:00:00,12.5\n"
        "2,07/02/15,10:30:00,12.75\n"
    )
    result = read_logger_file(text.encode(), "old.csv")
    assert [(r.time, r.temperature) for r in result.rows] == [
        (datetime(2015, 7, 2, 10, 0), 12.5),
        (datetime(2015, 7, 2, 10, 30), 12.75),
    ]
    assert result.utc_offset == timedelta(hours=1)


def test_an_easylog_name_is_never_a_column() -> None:
    text = "Time capsule,Time,Celsius(°C),Humidity(%rh)\n1,03/02/2025 10:00:00,17.5,55.0\n"
    result = read_logger_file(text.encode(), "l.txt")
    assert (result.format, result.name) == ("lascar", "Time capsule")
    assert result.rows[0].temperature == 17.5
