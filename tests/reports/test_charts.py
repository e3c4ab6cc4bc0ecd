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
    assert "Asia/Shanghai (UTC+08:00)" in svg and ">RH [% RH]<" in svg
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
    cells = [int(n) for n in re.findall(r'class="density" data-cells="(\d+)"', svg)]
    assert sum(cells) == 2  # two cells hold all the hours
    assert svg.count('class="isopleth"') == 3  # the no-risk limit, 30 days, 7 days
    (dew_lines,) = re.findall(r'class="dew-line" data-lines="(\d+)"', svg)
    assert int(dew_lines) >= 4


def _boxes(svg: str) -> list[tuple[str, float, float, float, float]]:
    """Every 7-unit label of the climate chart (isopleths and dew-point lines) as (text, left,
    top, right, bottom), its width estimated at 0.62 em a character."""
    out = []
    for x, y, anchor, text in re.findall(
        r'class="isopleth-label" x="([\d.]+)" y="([\d.]+)" font-size="7" fill="[^"]+" '
        r'text-anchor="(\w+)">([^<]+)<',
        svg,
    ):
        width = 0.62 * 7 * len(text)
        left = float(x) - width if anchor == "end" else float(x)
        out.append((text, left, float(y) - 5.5, left + width, float(y) + 1.5))
    dew = re.search(r'font-size="7" fill="[^"]+" text-anchor="start">(.*?)</text>', svg)
    assert dew is not None
    for x, y, text in re.findall(r'<tspan x="([\d.]+)" y="([\d.]+)">([^<]+)<', dew.group(1)):
        width = 0.62 * 7 * len(text)
        out.append((text, float(x), float(y) - 5.5, float(x) + width, float(y) + 1.5))
    return out


def test_the_climate_charts_labels_keep_clear_of_their_lines_and_each_other() -> None:
    """Each isopleth's label sits at least 2.5 units off its line's end, and no two labels of
    the chart overlap (they touched in session 2's year report)."""
    t = np.linspace(10.0, 24.0, 500)
    svg = climate_chart(
        t,
        np.linspace(40.0, 90.0, 500),
        get_profile("jgj25-paper"),
        title="Climate",
        isopleth_label="mould",
        dew_label="dew",
        no_risk_label="no mould risk below",
    )
    lines = re.findall(r'class="isopleth" d="([^"]+)"', svg)
    labels = re.findall(r'class="isopleth-label" x="[\d.]+" y="([\d.]+)"', svg)
    assert len(lines) == len(labels) == 3
    for path, label_y in zip(lines, labels, strict=True):
        end_y = float(path.split()[-1])
        assert abs(float(label_y) - end_y) >= 2.5, (path[-30:], label_y)
    boxes = _boxes(svg)
    assert len(boxes) >= 7
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            apart = a[3] <= b[1] or b[3] <= a[1] or a[4] <= b[2] or b[4] <= a[2]
            assert apart, (a, b)


def test_without_frame_a_chart_leaves_its_title_zone_and_legend_to_the_page() -> None:
    start, end = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 8, tzinfo=UTC)
    times = hours(start, end)
    values = np.full(times.size, 18.0)
    kwargs = {"start": start, "end": end, "zone": ZONE, "band": (14.0, 24.0), "unit": "°C"}
    framed = series_chart(
        times,
        values,
        values,
        values,
        title="Temp",
        zone_label="Zone-X",
        second=(values, "Dew"),
        **kwargs,  # type: ignore[arg-type]
    )
    bare = series_chart(
        times,
        values,
        values,
        values,
        title="Temp",
        zone_label="Zone-X",
        second=(values, "Dew"),
        frame=False,
        **kwargs,  # type: ignore[arg-type]
    )
    for word in ("Temp", "Zone-X", ">Dew<"):
        assert word in framed and word not in bare
    assert 'class="second"' in bare and ">02.11<" in bare  # the dew line and the ticks stay
    labels = {"title": "Clim", "isopleth_label": "mould-x", "dew_label": "dew-x"}
    t = np.full(10, 18.0)
    rh = np.full(10, 50.0)
    profile = get_profile("jgj25-paper")
    framed = climate_chart(t, rh, profile, no_risk_label="no risk", **labels)
    bare = climate_chart(t, rh, profile, no_risk_label="no risk", frame=False, **labels)
    for word in labels.values():
        assert word in framed and word not in bare
    assert ">no risk<" in bare and "% RH" in bare
