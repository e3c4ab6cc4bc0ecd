"""Report periods: a month (``2026-11``), a quarter (``2026-Q3``) or a year (``2026``), bounded
by midnight in the site's time zone, with the period before and the same period a year earlier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Literal

PeriodKind = Literal["month", "quarter", "year"]

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")


class PeriodError(ValueError):
    """A period text that is not ``YYYY-MM``, ``YYYY-Qn`` or ``YYYY``."""


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """A calendar period: ``first`` is its first day, ``months`` its length (1, 3 or 12)."""

    first: date
    months: int

    @property
    def kind(self) -> PeriodKind:
        return {1: "month", 3: "quarter", 12: "year"}[self.months]  # type: ignore[return-value]

    @property
    def label(self) -> str:
        """The period as typed: ``2026-11``, ``2026-Q3``, ``2026``."""
        if self.months == 1:
            return f"{self.first.year}-{self.first.month:02d}"
        if self.months == 3:
            return f"{self.first.year}-Q{(self.first.month - 1) // 3 + 1}"
        return str(self.first.year)

    @property
    def end(self) -> date:
        """The first day after the period."""
        return _add_months(self.first, self.months)

    @property
    def last(self) -> date:
        """The period's last day."""
        return self.end - timedelta(days=1)

    def bounds(self, zone: tzinfo) -> tuple[datetime, datetime]:
        """Start and end (exclusive) in UTC: midnight of the first day and of the day after, in
        ``zone``."""
        start = datetime.combine(self.first, datetime.min.time(), zone)
        end = datetime.combine(self.end, datetime.min.time(), zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    def previous(self) -> Period:
        """The period of the same length just before."""
        return Period(_add_months(self.first, -self.months), self.months)

    def year_before(self) -> Period:
        """The same period a year earlier."""
        return Period(_add_months(self.first, -12), self.months)


FIRST_YEAR, LAST_YEAR = 1971, 2200
"""Years a period may be in: readings are after 1970, and nanosecond times end in 2262."""


def parse_period(text: str) -> Period:
    """``2026-11`` (a month), ``2026-Q3`` (a quarter) or ``2026`` (a year)."""
    value = text.strip()
    head = value[:4]
    if head.isdigit() and not FIRST_YEAR <= int(head) <= LAST_YEAR:
        raise PeriodError(f"period {text!r}: the year must be {FIRST_YEAR}–{LAST_YEAR}")
    if match := _MONTH.match(value):
        year, month = int(match[1]), int(match[2])
        if not 1 <= month <= 12:
            raise PeriodError(f"period {text!r}: month {month} is not 01–12")
        return Period(date(year, month, 1), 1)
    if match := _QUARTER.match(value):
        return Period(date(int(match[1]), 3 * (int(match[2]) - 1) + 1, 1), 3)
    if match := _YEAR.match(value):
        return Period(date(int(match[1]), 1, 1), 12)
    raise PeriodError(
        f"period {text!r} is not a month (2026-11), a quarter (2026-Q3) or a year (2026)"
    )


def month_before(local_day: date) -> Period:
    """The calendar month before the one holding ``local_day``."""
    return Period(_add_months(date(local_day.year, local_day.month, 1), -1), 1)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)
