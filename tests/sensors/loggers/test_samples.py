"""Every logger-file reader on its sample files: format detected, row count, first and last rows.

Times here are as the file writes them (local, naive) with the file's stated offset; the UTC
conversion is the importer's and is tested in tests/ingest/test_importer.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from repoclimate.sensors.loggers import read_logger_file

SAMPLES = Path(__file__).parent / "samples"
MAPPING = {"time": "Zeitstempel", "temperature": "T1", "humidity": "F1"}

# file, format, rows, skipped (row, reason), first (row, time, T, RH), last, offset [h], serial
CASES = [
    (
        "hobo_hoboware.csv", "hobo", 7, [(5, "event"), (11, "event"), (12, "event")],
        (3, datetime(2019, 10, 10, 11, 0), 18.431, 52.3),
        (10, datetime(2019, 10, 10, 12, 30), 18.575, 51.4), -5, "10679014",
    ),
    (
        # Real: the first 24 and last 4 data rows of a public HOBO Pro V2 export (see README.md)
        "hobo_sensorstrings_10755220.csv", "hobo", 27, [(29, "event")],
        (2, datetime(2019, 5, 30, 21, 0), 6.661, None),
        (28, datetime(2019, 10, 19, 13, 0), 11.856, None), 0, "10755220",
    ),
    (
        "hobo_latin1_fahrenheit.csv", "hobo", 5, [(8, "event"), (9, "event")],
        (3, datetime(2024, 7, 20, 21, 0), 20.0, 55.0),
        (7, datetime(2024, 7, 21, 1, 0), 20.4, 55.8), 8, "20438817",
    ),
    (
        "hoboconnect_mx.csv", "hobo", 5, [(7, "event")],
        (2, datetime(2024, 6, 1, 0, 0), 21.52, 48.10),
        (6, datetime(2024, 6, 1, 0, 40), 21.41, 48.60), -4, None,
    ),
    (
        "hoboconnect_utf16.txt", "hobo", 5, [(7, "event")],
        (2, datetime(2024, 6, 1, 0, 0), 21.52, 48.10),
        (6, datetime(2024, 6, 1, 0, 40), 21.41, 48.60), -4, None,
    ),
    (
        "hanwell_logger.csv", "hanwell", 8, [],
        (9, datetime(2025, 11, 21, 0, 0), 16.2, 48.5),
        (16, datetime(2025, 11, 21, 3, 30), 15.9, 49.2), None, "0413187",
    ),
    (
        "hanwell_ems.csv", "hanwell", 5, [],
        (3, datetime(2026, 3, 1, 0, 0), 19.4, 45.2),
        (7, datetime(2026, 3, 1, 1, 0), 19.2, 45.6), None, None,
    ),
    (
        "meaco_a.csv", "meaco", 5, [],
        (2, datetime(2025, 5, 1, 9, 0), 17.8, 51.2),
        (6, datetime(2025, 5, 1, 9, 41), 18.0, 50.9), None, None,
    ),
    (
        "meaco_b.csv", "meaco", 4, [],
        (3, datetime(2025, 5, 13, 14, 0), 18.4, 49.7),
        (6, datetime(2025, 5, 13, 14, 31), 18.6, 49.4), None, None,
    ),
    (
        "lascar_easylog.txt", "lascar", 5, [],
        (2, datetime(2025, 2, 3, 10, 0), 17.5, 55.0),
        (6, datetime(2025, 2, 3, 10, 20), 16.5, 57.0), None, "010117435",
    ),
    (
        "tinytag_explorer.csv", "tinytag", 6, [],
        (6, datetime(2010, 7, 2, 13, 30, 9), 19.463, 56.3),
        (11, datetime(2010, 7, 2, 13, 35, 9), 19.741, 56.2), None, "359558",
    ),
    (
        "testo_174h.csv", "testo", 4, [],
        (4, datetime(2026, 1, 12, 8, 0), 18.6, 47.2),
        (7, datetime(2026, 1, 12, 8, 45), 18.8, 46.8), None, "45012345",
    ),
    (
        "rotronic_hw4.xls", "rotronic", 5, [],
        (15, datetime(2024, 12, 4, 9, 0), 19.3, 44.1),
        (19, datetime(2024, 12, 4, 10, 0), 19.5, 44.2), None, "61234567",
    ),
    (
        "rotronic_hw4_comma.csv", "rotronic", 4, [],
        (12, datetime(2023, 6, 1, 0, 0), 20.1, 50.5),
        (15, datetime(2023, 6, 2, 12, 0), 20.7, 50.8), None, "20160412",
    ),
    (
        "tandd_tr74ui.csv", "tandd", 4, [],
        (4, datetime(2025, 9, 1, 10, 0), 20.4, 47.0),
        (7, datetime(2025, 9, 1, 11, 30), 20.8, 46.0), None, None,
    ),
    (
        "trend_temp.csv", "trend", 5, [],
        (2, datetime(2026, 1, 1, 9, 0), 17.2, None),
        (6, datetime(2026, 1, 1, 10, 0), 17.4, None), None, None,
    ),
    (
        "trend_rh.csv", "trend", 5, [],
        (2, datetime(2026, 1, 1, 9, 0), None, 46.0),
        (6, datetime(2026, 1, 1, 10, 15), None, 46.4), None, None,
    ),
    (
        "miniclima.csv", "miniclima", 4, [],
        (2, datetime(2025, 8, 15, 14, 0), 21.3, 50.1),
        (5, datetime(2025, 8, 15, 14, 15), 21.4, 49.9), None, None,
    ),
    (
        "govee_h5075.csv", "govee", 5, [],
        (2, datetime(2026, 8, 6, 9, 22), 24.6, 53.7),
        (6, datetime(2026, 8, 6, 10, 22), 24.4, 54.1), None, None,
    ),
    (
        "govee_h5106_fahrenheit.csv", "govee", 4, [],
        (2, datetime(2025, 4, 5, 0, 0), 21.1, 50.6),
        (5, datetime(2025, 4, 5, 0, 3), 21.2, 50.4), None, None,
    ),
    (
        "hanwell_ems_serial.csv", "hanwell", 5, [],
        (3, datetime(2026, 3, 1, 0, 0), 19.4, 45.2),
        (7, datetime(2026, 3, 1, 1, 0), 19.2, 45.6), None, None,
    ),
    (
        "switchbot_meter.csv", "switchbot", 5, [],
        (2, datetime(2025, 11, 30, 23, 58, 41), 19.6, 52.0),
        (6, datetime(2025, 12, 1, 0, 3, 2), 19.4, 54.0), None, None,
    ),
    (
        "switchbot_old_app.csv", "switchbot", 4, [(5, "no_value")],
        (2, datetime(2023, 2, 10, 8, 0), 18.2, 48.0),
        (6, datetime(2023, 2, 10, 8, 4), 18.3, 47.0), None, None,
    ),
    (
        "switchbot_co2_fahrenheit.csv", "switchbot", 3, [],
        (2, datetime(2025, 7, 4, 12, 0), 20.0, 50.0),
        (4, datetime(2025, 7, 4, 12, 2, 9), 20.2222, 49.0), None, None,
    ),
    (
        "repoclimate_export.csv", "repoclimate", 4, [],
        (2, datetime(2026, 11, 1, 10, 0, tzinfo=UTC), 18.25, 47.5),
        (5, datetime(2026, 11, 1, 10, 15, 0, 250000, tzinfo=UTC), 18.35, 47.8), None, None,
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "fmt", "count", "skipped", "first", "last", "offset_h", "serial"),
    CASES,
    ids=[case[0] for case in CASES],
)
def test_sample_file(
    name: str,
    fmt: str,
    count: int,
    skipped: list[tuple[int, str]],
    first: tuple[int, datetime, float | None, float | None],
    last: tuple[int, datetime, float | None, float | None],
    offset_h: float | None,
    serial: str | None,
) -> None:
    result = read_logger_file((SAMPLES / name).read_bytes(), name)
    assert result.format == fmt
    assert len(result.rows) == count
    assert [(s.row, s.reason) for s in result.skipped] == skipped
    for row, expected in ((result.rows[0], first), (result.rows[-1], last)):
        assert (row.row, row.time) == expected[:2]
        for got, want in ((row.temperature, expected[2]), (row.humidity, expected[3])):
            assert got == (None if want is None else pytest.approx(want, abs=1e-4))
    assert result.utc_offset == (None if offset_h is None else timedelta(hours=offset_h))
    assert result.serial == serial


def test_every_format_has_a_sample() -> None:
    from repoclimate.sensors.loggers import LOGGER_FORMATS

    sampled = {case[1] for case in CASES} | {"csv"}
    assert sampled == set(LOGGER_FORMATS)


def test_generic_csv_with_a_column_mapping() -> None:
    data = (SAMPLES / "generic_mapped.csv").read_bytes()
    result = read_logger_file(data, "generic_mapped.csv", "csv", MAPPING)
    assert [(r.row, r.time, r.temperature, r.humidity) for r in result.rows] == [
        (2, datetime(2026, 2, 1, 8, 0), 17.9, 44.0),
        (3, datetime(2026, 2, 1, 9, 0), 18.0, 44.2),
        (4, datetime(2026, 2, 1, 10, 0), 18.1, 44.1),
    ]


def test_generic_csv_finds_columns_by_name() -> None:
    text = "Logger export\n\nDate/Time;Temp (°F);RH %\n2026-02-01 08:00;64,4;44,0\n"
    result = read_logger_file(text.encode(), "bms.csv", "csv")
    assert [(r.row, r.temperature, r.humidity) for r in result.rows] == [(4, 18.0, 44.0)]
