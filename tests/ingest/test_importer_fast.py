"""The importer's fast paths give what the row-by-row rules give: the UTC conversion with its
per-hour offsets (against `local_to_utc`), and the bulk validation (the first bad row of a file
is the one reported, whatever is wrong with it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repoclimate.ingest.importer import _utc_converter, import_files, local_to_utc
from repoclimate.sensors.loggers import LoggerFileError
from repoclimate.sensors.registry import Registry

NOW = datetime(2026, 12, 1, tzinfo=UTC)
ZONES = ["Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "UTC"]


def _reference(local: datetime, zone: tzinfo, dst: str | None) -> datetime | str:
    try:
        return local_to_utc(local, zone, dst, "f", 1)  # type: ignore[arg-type]
    except LoggerFileError as exc:
        return str(exc)


def _fast(local: datetime, zone: tzinfo, dst: str | None) -> datetime | str:
    try:
        return _utc_converter(zone, None, dst, "f")(local, 1)  # type: ignore[arg-type]
    except LoggerFileError as exc:
        return str(exc)


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    local=st.datetimes(datetime(2024, 1, 1), datetime(2026, 12, 31)),
    dst=st.sampled_from([None, "earlier", "later"]),
)
def test_converter_equals_local_to_utc(zone: str, local: datetime, dst: str | None) -> None:
    assert _fast(local, ZoneInfo(zone), dst) == _reference(local, ZoneInfo(zone), dst)


@pytest.mark.parametrize(
    ("zone", "day"),
    [
        ("Europe/London", datetime(2025, 10, 26)),  # 02:00 BST → 01:00 GMT
        ("Europe/London", datetime(2025, 3, 30)),  # 01:00 GMT → 02:00 BST
        ("Australia/Lord_Howe", datetime(2025, 4, 6)),  # 02:00 → 01:30: half an hour repeated
        ("Australia/Lord_Howe", datetime(2025, 10, 5)),  # 02:00 → 02:30: half an hour missing
    ],
)
@pytest.mark.parametrize("dst", [None, "earlier", "later"])
def test_converter_around_each_change_minute_by_minute(
    zone: str, day: datetime, dst: str | None
) -> None:
    """Every minute of the day of a change, in file order through one converter (its hour cache
    filled by the minutes before), equals `local_to_utc`."""
    place = ZoneInfo(zone)
    convert = _utc_converter(place, None, dst, "f")  # type: ignore[arg-type]
    for minute in range(0, 24 * 60, 5):
        local = day + timedelta(minutes=minute)
        try:
            got: datetime | str = convert(local, 1)
        except LoggerFileError as exc:
            got = str(exc)
        assert got == _reference(local, place, dst), local


def test_fixed_offsets_keep_the_utc_singleton() -> None:
    convert = _utc_converter(timezone(timedelta(hours=-5)), None, None, "f")
    when = convert(datetime(2025, 1, 1, 12, 0), 1)
    assert when == datetime(2025, 1, 1, 17, 0, tzinfo=UTC)
    assert when.tzinfo is UTC
    header = _utc_converter(UTC, timedelta(hours=8), None, "f")
    assert header(datetime(2025, 1, 1, 8, 0), 1) == datetime(2025, 1, 1, 0, 0, tzinfo=UTC)


def test_lord_howe_half_hour_repeat_is_an_error_naming_the_row(tmp_path: Path) -> None:
    path = tmp_path / "govee.csv"
    path.write_text(
        "Timestamp for sample frequency every 20 min min, Temperature_Celsius,Relative_Humidity\n"
        "2025-04-06 01:00:00,20.0,50.0\n"
        "2025-04-06 01:20:00,20.0,50.0\n"
        "2025-04-06 01:40:00,20.0,50.0\n"
    )
    with pytest.raises(LoggerFileError, match=r"govee\.csv: row 4, column 'time': local time "):
        import_files(
            [path],
            sensor="x",
            registry=Registry.empty(),
            store=None,
            now=NOW,
            timezone_override=ZoneInfo("Australia/Lord_Howe"),
        )


def _govee(tmp_path: Path, rows: list[tuple[str, str, str]]) -> Path:
    path = tmp_path / "govee.csv"
    lines = [
        "Timestamp for sample frequency every 1 min min, Temperature_Celsius,Relative_Humidity"
    ]
    lines += [",".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _import(path: Path, **options: object) -> None:
    import_files(
        [path],
        sensor="x",
        registry=Registry.empty(),
        store=None,
        now=NOW,
        **options,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (("2025-01-01 00:03:00", "-60.5", "50"), r"row 5: temperature -60.5 outside"),
        (("2025-01-01 00:03:00", "91", "50"), r"row 5: temperature 91 outside"),
        (("2025-01-01 00:03:00", "20", "-0.5"), r"row 5: humidity -0.5 outside"),
        (("1999-12-31 23:59:00", "20", "50"), r"row 5: time 1999-12-31T23:59:00\+00:00 is before"),
    ],
)
def test_the_first_bad_row_is_reported(
    tmp_path: Path, bad: tuple[str, str, str], message: str
) -> None:
    rows = [(f"2025-01-01 00:0{i}:00", "20", "50") for i in range(3)]
    later_bad = ("2025-01-01 00:09:00", "200", "50")
    if bad[0].startswith("1999"):
        # An earlier time would be a clock reset: the file starts in 1999 instead.
        rows = [bad, *rows, later_bad]
        message = message.replace("row 5", "row 2")
    else:
        rows = [*rows, bad, later_bad]
    with pytest.raises(LoggerFileError, match=message):
        _import(_govee(tmp_path, rows), timezone_override=UTC)


def test_a_bad_value_before_a_dst_error_is_reported_first(tmp_path: Path) -> None:
    rows = [
        ("2025-10-26 00:30:00", "20", "50"),
        ("2025-10-26 00:40:00", "20", "150"),
        ("2025-10-26 01:30:00", "20", "50"),  # occurs twice in London
    ]
    with pytest.raises(LoggerFileError, match=r"row 3: humidity 150 outside"):
        _import(_govee(tmp_path, rows), timezone_override=ZoneInfo("Europe/London"))
    rows[1] = ("2025-10-26 00:40:00", "20", "50")
    with pytest.raises(LoggerFileError, match=r"row 4, column 'time': local time .* occurs twice"):
        _import(_govee(tmp_path, rows), timezone_override=ZoneInfo("Europe/London"))


def test_an_xlsx_export_imports_by_its_header_offset(tmp_path: Path) -> None:
    from openpyxl import Workbook

    from repoclimate.history.sqlite import SQLiteStore

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["#", "Date-Time (EDT)", "Ch: 1 - Temperature   (°C)", "Ch: 2 - RH   (%)"])
    sheet.append([1, datetime(2026, 6, 1, 8, 0), 21.5, 48.0])
    sheet.append([2, datetime(2026, 6, 1, 8, 10), 21.6, 48.5])
    path = tmp_path / "MX1101 (Data EDT).xlsx"
    workbook.save(path)
    with SQLiteStore(tmp_path / "store.sqlite") as store:
        summary = import_files([path], sensor="x", registry=Registry.empty(), store=store, now=NOW)
        assert (summary.formats, summary.stored) == (["hobo"], 2)
        times = [r.time for r in store.history("x", datetime(2026, 1, 1, tzinfo=UTC), NOW)]
    assert times == [
        datetime(2026, 6, 1, 12, 0, tzinfo=UTC),
        datetime(2026, 6, 1, 12, 10, tzinfo=UTC),
    ]
