"""The SVG charts: band, alert spans, a local time axis with the zone, daily points for a year,
and the climate chart's box, density, isopleths and dew-point lines."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np

from repoclimate.preservation.profiles import get_profile
from repoclimate.reports.charts import Span, climate_chart, series_chart

ZONE = ZoneInfo("Asia/Shanghai")


def hours(start: datetime, end: datetime) -> np.ndarray:
    first = np.datetime64(start.replace(tzinfo=None), "h")
    return np.arange(first, np.datetime64(end.replace(tzinfo=None), "h")).astype("datetime64[ns]")


def test_a_month_is_drawn_hourly_with_band_spans_and_local_days() -> None:
    start, end = datetime(2026, 10, 31, 16, tzinfo=UTC), datetime(2026, 11, 30, 16, tzinfo=UTC)
    times = hours(start, end)
    values = 50 + 5 * np.sin(np.arange(times.size) / 10)
    svg = series_chart(
        times,
        values,
        values - 1,
        values + 1,
        start=start,
        end=end,
        zone=ZONE,
        band=(45.0, 60.0),
        unit="% RH",
        title="RH",
        spans=[
            Span(datetime(2026, 11, 10, tzinfo=UTC), datetime(2026, 11, 14, tzinfo=UTC), "warning")
        ],
        zone_label="Asia/Shanghai (UTC+08:00)",
    )
    assert f'data-points="{times.size}"' in svg and times.size == 720
    assert svg.count('class="band"') == 1 and svg.count('class="alert-span"') == 1
    assert ">01.11<" in svg and ">06.11<" in svg  # local dates: 1 Nov starts at 16:00 UTC
    assert "Asia/Shanghai (UTC+08:00)" in svg
    span = re.search(r'class="alert-span" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', svg)
    assert span is not None
    # 9 d 8 h into a 30-day axis of 622 px starting at x=46, 4 days wide
    assert float(span.group(1)) == np.float64(46 + 622 * (9 + 8 / 24) / 30).round(1)
    assert abs(float(span.group(2)) - 622 * 4 / 30) < 0.2


def test_a_year_is_drawn_per_local_day_with_month_ticks() -> None:
    start, end = datetime(2025, 12, 31, 16, tzinfo=UTC), datetime(2026, 12, 31, 16, tzinfo=UTC)
    times = hours(start, end)
    values = np.full(times.size, 18.0)
    values[100:200] = np.nan  # a silent spell breaks the line
    svg = series_chart(
        times,
        values,
        values,
        values,
        start=start,
        end=end,
        zone=ZONE,
        band=(14.0, 24.0),
        unit="°C",
        title="T",
    )
    assert 'data-points="365"' in svg
    assert ">01/2026<" in svg and ">06<" in svg
    path = re.search(r'class="series" d="([^"]+)"', svg)
    assert path is not None and path.group(1).count("M") == 2


def test_the_climate_chart_has_the_profile_box_density_isopleths_and_dew_lines() -> None:
    t = np.r_[np.full(100, 18.0), np.full(10, 22.0)]
    rh = np.r_[np.full(100, 50.0), np.full(10, 88.0)]
    svg = climate_chart(
        t,
        rh,
        get_profile("jgj25-paper"),
        title="Climate",
        isopleth_label="mould",
        dew_label="dew",
        no_risk_label="no risk",
    )
    assert 'data-hours="110"' in svg
    assert svg.count('class="band"') == 1
    assert svg.count('class="density"') == 2  # two cells hold all the hours
    assert svg.count('class="isopleth"') == 3  # the no-risk limit, 30 days, 7 days
    assert svg.count('class="dew-line"') >= 4
