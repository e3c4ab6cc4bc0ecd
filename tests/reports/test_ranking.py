"""The site ranking names each room's profile by its title, in the report's language (it showed
the profile id, ``jgj25-paper``, on the English and the Chinese report alike)."""

from __future__ import annotations

import re

import pytest

from repoclimate.reports.gather import gather
from repoclimate.reports.periods import parse_period
from repoclimate.reports.render import render_html
from tests.reports.conftest import NOW, Seeded

TITLES = {
    "en": {
        "stack-a": "JGJ 25 paper archive stacks (纸质档案库)",
        "film-vault": "JGJ 25 film stacks, masters (胶片库 母片)",
    },
    "zh-Hans": {"stack-a": "JGJ 25 纸质档案库", "film-vault": "JGJ 25 胶片库（母片）"},
}


def _ranking_rows(html: str) -> list[list[str]]:
    """The cells of the ranking table's body rows, tags stripped."""
    table = re.search(r'<table class="ranking">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert table is not None, "no ranking table"
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)
    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
        for r in rows
    ]


@pytest.mark.parametrize("lang", ["en", "zh-Hans"])
def test_ranking_shows_each_profiles_title_in_the_reports_language(
    seeded: Seeded, lang: str
) -> None:
    report = gather(seeded.sources(), parse_period("2026-11"), NOW, site_id="shanghai")
    rows = _ranking_rows(render_html(report, lang))
    names = {r.room.name or r.room.id: r.room.id for r in report.rooms}
    assert len(rows) == len(report.rooms) == 2
    for cells in rows:
        room = names[cells[1]]
        assert cells[2] == TITLES[lang][room]
        assert "jgj25" not in cells[2]
