"""The reports' charts as SVG, drawn in Python (a PDF cannot run the pages' JavaScript), in the
pages' visual language (``app/web/static/app.js``): the profile's band shaded green, alert
periods as red spans, series in the pages' blue, a time axis in the site's local time on a
24-hour clock with the zone named.

- `series_chart`: one quantity over the period — the hourly mean as a line, the hourly range
  (lowest to highest sensor minimum/maximum) as a pale envelope, optionally a second line (dew
  point). Longer than `DAILY_AFTER_POINTS` hours, it is drawn per local day instead (daily mean,
  lowest minimum, highest maximum) so a year stays readable and small.
- `climate_chart`: the hours of the period as a density in the temperature–RH plane, the
  profile's box, IPI mould-germination isopleths (days to germination, `days_to_mould`, and the
  no-risk limit `mould_rh_threshold`) and lines of constant dew point.

Every number drawn comes from the series given and from `preservation` functions; the chart
computes only positions.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from html import escape
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from repoclimate.preservation.mould import days_to_mould, mould_rh_threshold
from repoclimate.preservation.profiles import Profile
from repoclimate.preservation.psychrometrics import saturation_vapour_pressure

FloatArray = NDArray[np.float64]

BAND_FILL = "#e3f4e8"
BAND_EDGE = "#1f7a3f"
ALERT_FILL = "#b3261e"
SERIES = "#1f5fa8"
SECOND = "#6d28d9"
MUTED = "#5f6368"
LINE = "#d0d4d9"
MOULD = "#a15c00"
FONT = 'font-family="DejaVu Sans, Noto Sans CJK SC, sans-serif"'
"""Latin first: WeasyPrint lays out each SVG text with the first family, and the CJK font's
size made every label about 2.5 times slower to draw; Chinese titles fall back to it."""
DENSITY_LEVELS = 8
"""The climate chart's density is drawn in this many shades, one path each (an SVG element
costs WeasyPrint about a millisecond; a year has hundreds of occupied cells)."""
DAILY_AFTER_POINTS = 24 * 45
"""Series longer than this many hours are drawn per local day."""

WIDTH, HEIGHT = 680.0, 190.0
LEFT, RIGHT, TOP, BOTTOM = 46.0, 12.0, 14.0, 34.0


@dataclass(frozen=True, slots=True)
class Span:
    """An alert period [start, end) to mark; ``severity`` picks nothing yet but is kept."""

    start: datetime
    end: datetime
    severity: str


def _fmt(x: float) -> str:
    return f"{x:.1f}"


def daily(
    times: NDArray[np.datetime64],
    mean: FloatArray,
    low: FloatArray,
    high: FloatArray,
    zone: ZoneInfo,
) -> tuple[NDArray[np.datetime64], FloatArray, FloatArray, FloatArray]:
    """Per local day: the day's first hour, mean of the hourly means, lowest low, highest high.

    Days are split at the zone's midnights (one conversion per day, not per hour)."""
    if times.size == 0:
        empty = np.zeros(0)
        return times[:0], empty, empty, empty
    ns = times.astype("datetime64[ns]").astype(np.int64)
    first = datetime.fromtimestamp(int(ns[0]) / 1e9, tz=UTC).astimezone(zone).date()
    last = datetime.fromtimestamp(int(ns[-1]) / 1e9, tz=UTC).astimezone(zone).date()
    midnights = np.array(
        [
            int(datetime.combine(first + timedelta(days=k), datetime.min.time(), zone).timestamp())
            * 1_000_000_000
            for k in range(1, (last - first).days + 1)
        ],
        dtype=np.int64,
    )
    keys = np.searchsorted(midnights, ns, side="right")
    starts = np.flatnonzero(np.r_[True, np.diff(keys) != 0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)  # all-NaN days stay NaN
        sums = np.add.reduceat(np.nan_to_num(mean), starts)
        counts = np.add.reduceat(np.isfinite(mean).astype(np.float64), starts)
        day_mean = np.where(counts > 0, sums / np.where(counts > 0, counts, 1.0), np.nan)
        day_low = np.fmin.reduceat(low, starts)
        day_high = np.fmax.reduceat(high, starts)
    return times[starts], day_mean, day_low, day_high


def _path(xs: Sequence[float], ys: Sequence[float]) -> str:
    """An SVG path through the points, broken where a value is missing."""
    parts: list[str] = []
    pen_down = False
    for x, y in zip(xs, ys, strict=True):
        if not math.isfinite(y):
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'}{_fmt(x)} {_fmt(y)}")
        pen_down = True
    return " ".join(parts)


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return []
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 1)]


def _time_ticks(start: datetime, end: datetime, zone: ZoneInfo) -> list[tuple[datetime, str]]:
    """Local midnights to label: every few days within a month, month starts beyond."""
    local_start = start.astimezone(zone)
    days = (end - start).total_seconds() / 86400.0
    out: list[tuple[datetime, str]] = []
    if days <= 62:
        step = 1 if days <= 8 else (7 if days > 40 else 5)
        day = local_start.replace(hour=0, minute=0, second=0, microsecond=0)
        if day < local_start:
            day = (day + timedelta(days=1)).replace(tzinfo=None).replace(tzinfo=zone)
        index = 0
        while day.astimezone(UTC) < end:
            if index % step == 0:
                out.append((day, day.strftime("%d.%m")))
            index += 1
            day = datetime.combine(day.date() + timedelta(days=1), datetime.min.time(), zone)
        return out
    year, month = local_start.year, local_start.month
    if local_start.day != 1 or local_start.hour:
        month += 1
    while True:
        if month > 12:
            year, month = year + 1, month - 12
        at = datetime(year, month, 1, tzinfo=zone)
        if at.astimezone(UTC) >= end:
            return out
        out.append((at, at.strftime("%m/%Y") if month == 1 or not out else at.strftime("%m")))
        month += 1


def series_chart(
    times: NDArray[np.datetime64],
    mean: FloatArray,
    low: FloatArray,
    high: FloatArray,
    *,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    band: tuple[float, float],
    unit: str,
    title: str,
    spans: Sequence[Span] = (),
    second: tuple[FloatArray, str] | None = None,
    zone_label: str = "",
    height: float = HEIGHT,
    frame: bool = True,
) -> str:
    """One quantity over ``[start, end)`` as an SVG element (see the module docstring).

    ``band`` is the profile's (low, high), ±inf where open; ``second`` an extra series on the
    same hourly grid and its legend text (dew point on the temperature chart). ``frame``: draw
    the title, the zone and the legend's text in the chart; ``False`` when the page prints them
    beside it (WeasyPrint lays out an SVG text one letter at a time, a page's text at once).
    """
    extra = None if second is None else second[0]
    if times.size > DAILY_AFTER_POINTS:
        day_t, mean, low, high = daily(times, mean, low, high, zone)
        if extra is not None:
            extra = daily(times, extra, extra, extra, zone)[1]
        times = day_t
        step_h = 24.0
    else:
        step_h = 1.0
    t0, t1 = start.timestamp(), end.timestamp()
    span_s = max(t1 - t0, 1.0)
    values = [v for v in (*low.tolist(), *high.tolist(), *mean.tolist()) if math.isfinite(v)]
    if extra is not None:
        values += [v for v in extra.tolist() if math.isfinite(v)]
    values += [b for b in band if math.isfinite(b)]
    lo = min(values) if values else 0.0
    hi = max(values) if values else 1.0
    pad = max((hi - lo) * 0.08, 0.5)
    lo, hi = lo - pad, hi + pad
    plot_w, plot_h = WIDTH - LEFT - RIGHT, height - TOP - BOTTOM

    def x(seconds: float) -> float:
        return LEFT + (seconds - t0) / span_s * plot_w

    def y(value: float) -> float:
        return TOP + (hi - value) / (hi - lo) * plot_h

    secs = (times.astype("datetime64[ns]").astype(np.int64) / 1e9 + step_h * 1800.0).tolist()
    out = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH:.0f} '
        f'{height:.0f}" width="{WIDTH:.0f}" height="{height:.0f}" {FONT} '
        f'data-chart="series" data-points="{len(secs)}">',
    ]
    if frame:
        out.append(
            f'<text x="{LEFT}" y="10" font-size="10" fill="{MUTED}">{escape(title)} [{unit}]</text>'
        )
    b_low = max(band[0], lo) if math.isfinite(band[0]) else lo
    b_high = min(band[1], hi) if math.isfinite(band[1]) else hi
    if (math.isfinite(band[0]) or math.isfinite(band[1])) and b_high > b_low:
        out.append(
            f'<rect class="band" x="{_fmt(LEFT)}" y="{_fmt(y(b_high))}" width="{_fmt(plot_w)}" '
            f'height="{_fmt(y(b_low) - y(b_high))}" fill="{BAND_FILL}"/>'
        )
    for span in spans:
        a = max(span.start.timestamp(), t0)
        b = min(span.end.timestamp(), t1)
        if b <= a:
            continue
        out.append(
            f'<rect class="alert-span" x="{_fmt(x(a))}" y="{TOP}" '
            f'width="{_fmt(max(x(b) - x(a), 1.0))}" height="{_fmt(plot_h)}" fill="{ALERT_FILL}" '
            f'fill-opacity="0.12" stroke="{ALERT_FILL}" stroke-opacity="0.5" stroke-width="0.5"/>'
        )
    # grid lines as one path, tick labels as one text per axis (fewer elements to draw)
    y_ticks = _ticks(lo, hi)
    x_ticks = [(x(at.timestamp()), text) for at, text in _time_ticks(start, end, zone)]
    grid = [f"M{LEFT} {_fmt(y(t))}H{WIDTH - RIGHT}" for t in y_ticks]
    grid += [f"M{_fmt(px)} {TOP}V{_fmt(TOP + plot_h)}" for px, _ in x_ticks]
    if grid:
        out.append(
            f'<path class="grid" d="{"".join(grid)}" fill="none" stroke="{LINE}" '
            f'stroke-width="0.5"/>'
        )
    out.append(
        _labels([(LEFT - 4, y(t) + 3, f"{t:g}") for t in y_ticks], 9, "end")
        + _labels([(px, TOP + plot_h + 12, text) for px, text in x_ticks], 9, "middle")
    )
    if frame:
        out.append(
            f'<text x="{WIDTH - RIGHT}" y="{height - 4}" font-size="9" fill="{MUTED}" '
            f'text-anchor="end">{escape(zone_label or zone.key)}</text>'
        )
    xs = [x(s) for s in secs]
    envelope_top = [(px, y(v)) for px, v in zip(xs, high.tolist(), strict=True)]
    envelope_bottom = [(px, y(v)) for px, v in zip(xs, low.tolist(), strict=True)]
    out.extend(_envelope(envelope_top, envelope_bottom))
    if extra is not None:
        out.append(
            f'<path class="second" d="{_path(xs, [y(v) for v in extra.tolist()])}" fill="none" '
            f'stroke="{SECOND}" stroke-width="0.9" stroke-dasharray="3 2"/>'
        )
    out.append(
        f'<path class="series" d="{_path(xs, [y(v) for v in mean.tolist()])}" fill="none" '
        f'stroke="{SERIES}" stroke-width="1.1"/>'
    )
    out.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{_fmt(plot_w)}" height="{_fmt(plot_h)}" fill="none" '
        f'stroke="{LINE}" stroke-width="0.7"/>'
    )
    if second is not None and frame:
        out.append(
            f'<line x1="{WIDTH - 150}" x2="{WIDTH - 135}" y1="7" y2="7" stroke="{SECOND}" '
            f'stroke-dasharray="3 2"/><text x="{WIDTH - 130}" y="10" font-size="9" '
            f'fill="{MUTED}">{escape(second[1])}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _labels(points: Sequence[tuple[float, float, str]], size: float, anchor: str) -> str:
    """Several labels of one style as one SVG text of positioned spans."""
    if not points:
        return ""
    spans = "".join(
        f'<tspan x="{_fmt(px)}" y="{_fmt(py)}">{escape(text)}</tspan>' for px, py, text in points
    )
    return f'<text font-size="{size:g}" fill="{MUTED}" text-anchor="{anchor}">{spans}</text>'


def _envelope(top: list[tuple[float, float]], bottom: list[tuple[float, float]]) -> list[str]:
    """Polygons of the range between ``bottom`` and ``top``, one per run of known values."""
    shapes: list[str] = []
    run: list[int] = []
    for i, ((_, a), (_, b)) in enumerate(zip(top, bottom, strict=True)):
        if math.isfinite(a) and math.isfinite(b):
            run.append(i)
            continue
        shapes += _polygon(run, top, bottom)
        run = []
    shapes += _polygon(run, top, bottom)
    return shapes


def _polygon(
    run: list[int], top: list[tuple[float, float]], bottom: list[tuple[float, float]]
) -> list[str]:
    if len(run) < 2:
        return []
    points = [top[i] for i in run] + [bottom[i] for i in reversed(run)]
    text = " ".join(f"{_fmt(px)},{_fmt(py)}" for px, py in points)
    return [f'<polygon class="range" points="{text}" fill="{SERIES}" fill-opacity="0.15"/>']


def climate_chart(
    t_c: FloatArray,
    rh_pct: FloatArray,
    profile: Profile,
    *,
    title: str,
    isopleth_label: str,
    dew_label: str,
    no_risk_label: str,
    frame: bool = True,
) -> str:
    """The hours as a T–RH density with the profile's box, mould isopleths, dew-point lines.

    ``frame=False`` leaves the title and the legend's text (``isopleth_label``, ``dew_label``)
    to the page beside the chart; the axis units and the lines' labels stay in it."""
    ok = np.isfinite(t_c) & np.isfinite(rh_pct)
    t, rh = t_c[ok], rh_pct[ok]
    t_lo = math.floor(min([*t.tolist(), *_finite(profile.t_min_c), 10.0]) - 2)
    t_hi = math.ceil(max([*t.tolist(), *_finite(profile.t_max_c), 26.0]) + 2)
    t_lo, t_hi = float(max(t_lo, -10)), float(min(t_hi, 45))
    rh_lo, rh_hi = 20.0, 100.0
    w, h = 330.0, 260.0
    left, right, top, bottom = 40.0, 10.0, 16.0, 30.0
    pw, ph = w - left - right, h - top - bottom

    def x(v: float) -> float:
        return left + (v - t_lo) / (t_hi - t_lo) * pw

    def y(v: float) -> float:
        return top + (rh_hi - v) / (rh_hi - rh_lo) * ph

    out = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w:.0f} {h:.0f}" '
        f'width="{w:.0f}" height="{h:.0f}" {FONT} data-chart="climate" data-hours="{t.size}">',
    ]
    if frame:
        out.append(f'<text x="{left}" y="11" font-size="10" fill="{MUTED}">{escape(title)}</text>')
    box_t = (max(profile.t_min_c, t_lo), min(profile.t_max_c, t_hi))
    box_rh = (max(profile.rh_min_pct, rh_lo), min(profile.rh_max_pct, rh_hi))
    out.append(
        f'<rect class="band" x="{_fmt(x(box_t[0]))}" y="{_fmt(y(box_rh[1]))}" '
        f'width="{_fmt(x(box_t[1]) - x(box_t[0]))}" height="{_fmt(y(box_rh[0]) - y(box_rh[1]))}" '
        f'fill="{BAND_FILL}" stroke="{BAND_EDGE}" stroke-width="0.8"/>'
    )
    if t.size:
        t_bins = np.arange(t_lo, t_hi + 0.5, 0.5)
        rh_bins = np.arange(rh_lo, rh_hi + 1.0, 1.0)
        counts, _, _ = np.histogram2d(
            np.clip(t, t_lo, t_hi), np.clip(rh, rh_lo, rh_hi), bins=(t_bins, rh_bins)
        )
        peak = float(counts.max())
        cells: dict[int, list[str]] = {}
        for i, j in zip(*np.nonzero(counts), strict=True):
            share = 0.25 + 0.75 * math.log1p(counts[i, j]) / math.log1p(peak)
            level = min(int(share * DENSITY_LEVELS), DENSITY_LEVELS)
            x0, x1 = x(t_bins[i]), x(t_bins[i + 1])
            y0, y1 = y(rh_bins[j + 1]), y(rh_bins[j])
            cells.setdefault(level, []).append(
                f"M{_fmt(x0)} {_fmt(y0)}H{_fmt(x1)}V{_fmt(y1)}H{_fmt(x0)}Z"
            )
        for level, shapes in sorted(cells.items()):
            out.append(
                f'<path class="density" data-cells="{len(shapes)}" d="{"".join(shapes)}" '
                f'fill="{SERIES}" fill-opacity="{level / DENSITY_LEVELS:.3f}"/>'
            )
    grid_t = np.linspace(t_lo, t_hi, 90)
    # dew-point lines: RH at which air of dew point td sits at each temperature (one path;
    # smooth curves, so 36 points a line draw them within a fraction of a unit)
    dew_t = np.linspace(t_lo, t_hi, 36)
    dew_paths: list[str] = []
    dew_labels: list[tuple[float, float, str]] = []
    for td in range(-5, 30, 5):
        with np.errstate(invalid="ignore", over="ignore"):
            rh_line = (
                100.0 * saturation_vapour_pressure(float(td)) / saturation_vapour_pressure(dew_t)
            )
        visible = (dew_t >= td) & (rh_line >= rh_lo) & (rh_line <= rh_hi)
        if np.count_nonzero(visible) < 2:
            continue
        xs = [x(v) for v in dew_t[visible].tolist()]
        ys = [y(v) for v in rh_line[visible].tolist()]
        dew_paths.append(_path(xs, ys))
        at_top = float(rh_line[visible][0]) > rh_hi - 2.0
        dew_labels.append((xs[0] + 3, ys[0] + (8.0 if at_top else -3.0), f"{td} °C"))
    if dew_paths:
        out.append(
            f'<path class="dew-line" data-lines="{len(dew_paths)}" d="{" ".join(dew_paths)}" '
            f'fill="none" stroke="{MUTED}" stroke-width="0.5" stroke-dasharray="2 2"/>'
            + _labels(dew_labels, 7, "start")
        )
    # IPI no-risk limit and isopleths of days to germination
    threshold, day_lines = _mould_lines(t_lo, t_hi)
    out.append(
        _isopleth(grid_t, threshold, x, y, rh_lo, rh_hi, no_risk_label, "1.1", "none", offset=9.0)
    )
    for limit, first in day_lines:
        out.append(_isopleth(grid_t, first, x, y, rh_lo, rh_hi, f"{limit} d", "0.8", "4 2"))
    for tick in _ticks(t_lo, t_hi, 6):
        out.append(
            f'<text x="{_fmt(x(tick))}" y="{_fmt(top + ph + 11)}" font-size="8" fill="{MUTED}" '
            f'text-anchor="middle">{tick:g}</text>'
        )
    legend = f" · {escape(isopleth_label)} · {escape(dew_label)}" if frame else ""
    for tick in range(20, 101, 20):
        out.append(
            f'<text x="{left - 3}" y="{_fmt(y(tick) + 3)}" font-size="8" fill="{MUTED}" '
            f'text-anchor="end">{tick}</text>'
        )
    out.append(
        f'<rect x="{left}" y="{top}" width="{_fmt(pw)}" height="{_fmt(ph)}" fill="none" '
        f'stroke="{LINE}" stroke-width="0.7"/>'
        f'<text x="{_fmt(left + pw / 2)}" y="{h - 6}" font-size="8" fill="{MUTED}" '
        f'text-anchor="middle">°C{legend}</text>'
        f'<text x="10" y="{_fmt(top + ph / 2)}" font-size="8" fill="{MUTED}" '
        f'transform="rotate(-90 10 {_fmt(top + ph / 2)})" text-anchor="middle">% RH</text>'
        "</svg>"
    )
    return "".join(out)


@lru_cache(maxsize=64)
def _mould_lines(t_lo: float, t_hi: float) -> tuple[FloatArray, tuple[tuple[int, FloatArray], ...]]:
    """On the chart's 90-point temperature grid: IPI's no-risk RH limit, and for 30 and 7 days
    the lowest RH at which germination takes that long or less (`days_to_mould`)."""
    grid_t = np.linspace(t_lo, t_hi, 90)
    rh_grid = np.arange(65.0, 100.01, 0.5)
    days = days_to_mould(grid_t[:, None], rh_grid[None, :])
    lines = []
    for limit in (30, 7):
        reach = days <= limit
        lines.append(
            (limit, np.where(reach.any(axis=1), rh_grid[np.argmax(reach, axis=1)], np.nan))
        )
    return mould_rh_threshold(grid_t), tuple(lines)


def _isopleth(
    grid_t: FloatArray,
    rh_line: FloatArray,
    x: Callable[[float], float],
    y: Callable[[float], float],
    rh_lo: float,
    rh_hi: float,
    label: str,
    width: str,
    dash: str,
    offset: float = -3.0,
) -> str:
    """One isopleth and its label at its right (warmest) end, where the isopleths lie furthest
    apart, ``offset`` below (+) or above (-) the line; the dew-point lines are labelled where
    they enter the plot (top or left edge), so the labels do not meet."""
    ok = np.isfinite(rh_line) & (rh_line >= rh_lo) & (rh_line <= rh_hi)
    if np.count_nonzero(ok) < 2:
        return ""
    xs = [x(v) for v in grid_t[ok].tolist()]
    ys = [y(v) for v in rh_line[ok].tolist()]
    return (
        f'<path class="isopleth" d="{_path(xs, ys)}" fill="none" stroke="{MOULD}" '
        f'stroke-width="{width}" stroke-dasharray="{dash}"/>'
        f'<text class="isopleth-label" x="{_fmt(xs[-1] - 2)}" y="{_fmt(ys[-1] + offset)}" '
        f'font-size="7" fill="{MOULD}" text-anchor="end">{escape(label)}</text>'
    )


def _finite(value: float) -> list[float]:
    return [value] if math.isfinite(value) else []
