"""The report as PDF, by each engine (headless Chromium and WeasyPrint): rendered to PNG
(pdftoppm) and read back as text (pdftotext); its numbers are the metrics' (printed with the
report's decimals); pages, charts and the footer's title are there; Chinese text is in the text
layer and its CJK font is embedded (pdffonts, or the font descriptor of Chromium's Type 3
fonts). The PNGs stay in the test's temporary directory for a person to look at."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from repoclimate.reports.gather import Report, gather
from repoclimate.reports.pdf import find_chromium
from repoclimate.reports.periods import parse_period
from repoclimate.reports.render import number, render, render_html
from repoclimate.reports.settings import ReportSettings
from tests.reports.conftest import NOW, Seeded

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="poppler-utils (scripts/setup-system.sh) missing"
)


@pytest.fixture(scope="module")
def november(seeded: Seeded) -> Report:
    return gather(seeded.sources(), parse_period("2026-11"), NOW, site_id="shanghai")


@pytest.fixture(params=["chromium", "weasyprint"])
def engine(request: pytest.FixtureRequest) -> ReportSettings:
    """Each PDF engine's settings (Chromium: the one found on PATH, skipped without)."""
    settings = ReportSettings(pdf_engine=request.param)
    if request.param == "chromium" and find_chromium(settings) is None:
        pytest.skip("no Chromium on PATH (scripts/setup-system.sh installs Debian's)")
    return settings


def embedded_fonts(pdf: Path) -> str:
    """The fonts' names: pdffonts' list, and the FontName of every font descriptor written
    uncompressed (Chromium's Type 3 fonts, which pdffonts lists as ``[none]``)."""
    listed = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True, text=True)
    described = re.findall(rb"/FontName\s*/([^\s/>\]]+)", pdf.read_bytes())
    return listed.stdout + "\n".join(name.decode("latin-1") for name in described)


def pdf_text(pdf: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout


def pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True)
    match = re.search(r"^Pages:\s+(\d+)", info.stdout, re.MULTILINE)
    assert match is not None
    return int(match.group(1))


def to_png(pdf: Path, prefix: Path) -> list[Path]:
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf), str(prefix)], check=True)
    return sorted(prefix.parent.glob(prefix.name + "-*.png"))


def test_english_pdf_holds_the_metrics_numbers_and_charts(
    november: Report, engine: ReportSettings, tmp_path: Path
) -> None:
    pdf = tmp_path / "report-en.pdf"
    pdf.write_bytes(render(november, "pdf", "en", engine))
    text = pdf_text(pdf)
    stack = next(r for r in november.rooms if r.room.id == "stack-a")
    m = stack.current.metrics
    assert m is not None and m.compliance is not None
    figures_line = next(line for line in text.splitlines() if "Time in band %" in line)
    assert number(m.compliance.time_in_band_pct, 1) in figures_line
    for label, value in (
        ("TWPI (years)", number(m.twpi, 0)),
        ("Mean lifetime multiplier", number(m.mean_lifetime_multiplier, 2)),
        ("MRF, highest", number(m.mrf_max, 2)),
        ("VTT mould index, highest", number(m.vtt_max, 2)),
    ):
        line = next(line for line in text.splitlines() if label in line)
        assert value in line, (label, value, line)
    assert "Rooms ranked by risk" in text and "Mould risk rising in Stack A" in text
    assert "Asia/Shanghai (UTC+08:00)" in text
    assert "2026-11-10 14:00" in text  # the alert's start, in Shanghai time
    # the summary page, then one page per room: figures, the climate chart and T/RH charts,
    # excursions, completeness and the alert log
    assert pages(pdf) == 1 + len(november.rooms)
    # the footer's title on every page (a literal: Chromium prints no string())
    footer = "Condition report · 上海市档案馆 Shanghai Archives · 2026-11"
    assert text.count(footer) == pages(pdf) + 1, text  # and the first page's heading
    # the figures' column heads: each period's label unbroken (Chromium broke it at "-")
    assert re.search(r"2026-11 +2026-10 +year 2025-11", text), text
    html = render_html(november, "en")
    assert html.count('data-chart="series"') == 4 and html.count('data-chart="climate"') == 2
    assert 'class="alert-span"' in html and 'class="band"' in html
    pngs = to_png(pdf, tmp_path / "en")
    assert len(pngs) == pages(pdf)
    assert all(p.stat().st_size > 10_000 for p in pngs)  # drawn pages, not blank ones


def test_chinese_pdf_renders_its_labels_in_an_embedded_cjk_font(
    november: Report, engine: ReportSettings, tmp_path: Path
) -> None:
    pdf = tmp_path / "report-zh.pdf"
    pdf.write_bytes(render(november, "pdf", "zh-Hans", engine))
    text = pdf_text(pdf)
    for label in ("馆藏环境报告", "库房风险排序", "范围内时间", "告警记录", "露点"):
        assert label in text, label
    # the holdings word and the profile's name in Chinese only (session 2 printed "藏品: paper"
    # and the English title beside the Chinese one)
    assert "藏品: 纸质" in text and "藏品: 胶片" in text and "藏品: paper" not in text
    assert "JGJ 25 纸质档案库" in text and "paper archive stacks" not in text
    assert pages(pdf) == 1 + len(november.rooms)
    assert text.count("馆藏环境报告 · 上海市档案馆 Shanghai Archives · 2026-11") == pages(pdf) + 1
    fonts = embedded_fonts(pdf)
    # Simplified Chinese's face of the collection (WeasyPrint: Noto-Sans-CJK-SC; Chromium:
    # NotoSansCJKsc-Regular), not the Japanese or Korean one
    assert re.search(r"Noto-Sans-CJK-SC|NotoSansCJKsc-Regular", fonts), fonts
    assert not re.search(r"(?i)Noto-?Sans-?CJK-?(jp|kr|tc|hk)", fonts), fonts
    pngs = to_png(pdf, tmp_path / "zh")
    assert all(p.stat().st_size > 10_000 for p in pngs)


def test_html_report_is_one_document_in_the_language_asked(november: Report) -> None:
    html = render(november, "html", "zh-Hans").decode("utf-8")
    assert html.startswith("<!DOCTYPE html>") and '<html lang="zh-Hans">' in html
    assert "主要指标" in html and "Key figures" not in html
    # self-contained: no script runs and nothing is fetched (Chromium prints it, test_pdf.py)
    assert (
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">" in html
    )


def test_a_year_prints_the_previous_year_once_and_the_chart_titles_as_text(
    seeded: Seeded, engine: ReportSettings, tmp_path: Path
) -> None:
    """A year's previous period is the same period last year: one column of it, not two equal
    ones. The charts' titles, zone and legend are the page's text (one Pango layout each), not
    SVG text (WeasyPrint lays that out one letter at a time)."""
    year = gather(seeded.sources(), parse_period("2026"), NOW, site_id="shanghai")
    stack = next(r for r in year.rooms if r.room.id == "stack-a")
    assert stack.previous.period == stack.last_year.period
    html = render_html(year, "en")
    unmarked = re.sub(r"<[^>]+>", "", html)
    assert unmarked.count("Previous period = same period last year 2025") == len(year.rooms)
    assert "Same period last year" not in html
    row = re.search(r'<tr class="fig-mean_t">(.*?)</tr>', html, flags=re.S)
    assert row is not None and row.group(1).count("<td") == 3  # label, 2026, 2025
    assert stack.previous.metrics is not None and stack.previous.compliance is not None
    assert number(stack.previous.compliance.mean_t_c, 1) in row.group(1)
    svgs = re.findall(r"<svg.*?</svg>", html, flags=re.S)
    assert svgs and not any("Temperature" in s or "Asia/Shanghai" in s for s in svgs)
    pdf = tmp_path / "year.pdf"
    pdf.write_bytes(render(year, "pdf", "en", engine))
    text = pdf_text(pdf)
    assert "Temperature [°C]" in text and "Relative humidity [% RH]" in text
    assert "Climate: hours by temperature and RH" in text
    assert pages(pdf) == 1 + len(year.rooms)
