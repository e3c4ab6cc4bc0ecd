"""Report periods: months, quarters and years bounded by local midnight in the site's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from repoclimate.reports.periods import Period, PeriodError, month_before, parse_period


def test_a_month_is_bounded_by_local_midnight() -> None:
    period = parse_period("2026-11")
    start, end = period.bounds(ZoneInfo("Asia/Shanghai"))
    assert start == datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert end == datetime(2026, 11, 30, 16, tzinfo=UTC)
    assert period.label == "2026-11" and period.kind == "month"


def test_london_month_spans_the_change_of_clocks() -> None:
    start, end = parse_period("2026-10").bounds(ZoneInfo("Europe/London"))
    assert start == datetime(2026, 9, 30, 23, tzinfo=UTC)  # BST
    assert end == datetime(2026, 11, 1, 0, tzinfo=UTC)  # GMT again


def test_quarter_and_year_with_their_previous_and_last_year() -> None:
    quarter = parse_period("2026-q3")
    assert (quarter.first, quarter.end, quarter.label) == (
        date(2026, 7, 1),
        date(2026, 10, 1),
        "2026-Q3",
    )
    assert quarter.previous() == Period(date(2026, 4, 1), 3)
    assert quarter.year_before() == Period(date(2025, 7, 1), 3)
    year = parse_period("2026")
    assert year.previous() == year.year_before() == Period(date(2025, 1, 1), 12)
    assert parse_period("2026-01").previous().label == "2025-12"


def test_month_before_a_local_day() -> None:
    assert month_before(date(2026, 12, 1)).label == "2026-11"
    assert month_before(date(2027, 1, 15)).label == "2026-12"


@pytest.mark.parametrize(
    "text", ["2026-13", "2026-Q5", "26-11", "2026/11", "", "0000", "1970-02", "2300"]
)
def test_bad_periods_are_refused_with_the_text(text: str) -> None:
    with pytest.raises(PeriodError, match="period"):
        parse_period(text)
