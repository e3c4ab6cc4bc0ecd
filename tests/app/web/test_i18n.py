"""The pages' catalogues: every string the templates translate has a Chinese translation, and a
request gets the language it asks for (``?lang=``, kept in a cookie; else Accept-Language)."""

from __future__ import annotations

import re
import typing
from importlib.resources import files

import httpx
import pytest
from babel.messages.pofile import read_po

from repoclimate.app.web import i18n
from repoclimate.sensors.registry import Holdings
from tests.app.web.conftest import PASSWORD, Site

TEMPLATES = files("repoclimate.app.web").joinpath("templates")
DYNAMIC = {  # shown through _(value): statuses, roles, alert states and severities
    *("ok", "near", "out", "missing", "silent", "unassigned"),
    *("viewer", "responder", "admin"),
    *("open", "pending", "firing", "acknowledged", "resolved"),
    *("info", "warning", "critical"),
    *typing.get_args(Holdings),  # the room page's holdings
}


def used_msgids() -> set[str]:
    found: set[str] = set()
    for template in TEMPLATES.iterdir():
        text = template.read_text(encoding="utf-8")
        for double, single in re.findall(r"""_\("([^"]+)"\)|_\('([^']+)'\)""", text):
            found.add(double or single)
    return found


def test_templates_use_strings_and_every_one_has_a_chinese_translation() -> None:
    used = used_msgids()
    assert {"Overview", "Open alerts", "Silent sensors", "Dew point"} <= used
    source = files("repoclimate.app.web").joinpath("locale/zh_Hans/LC_MESSAGES/messages.po")
    with source.open("rb") as po:
        catalog = read_po(po)
    translated = {m.id: m.string for m in catalog if m.id}
    missing = sorted(m for m in used | DYNAMIC if not translated.get(m))
    assert missing == []
    assert i18n.translations("zh_Hans").gettext("Overview") == "总览"
    assert i18n.translations("en").gettext("Overview") == "Overview"


@pytest.mark.parametrize(
    ("query", "cookie", "accept", "expected"),
    [
        ("zh-Hans", None, "en", "zh_Hans"),
        ("en", "zh_Hans", "zh-CN", "en"),
        (None, "zh_Hans", "en", "zh_Hans"),
        (None, None, "fr-FR, zh-CN;q=0.8, en;q=0.5", "zh_Hans"),
        (None, None, "en-GB,zh;q=0.9", "en"),
        (None, None, "zh;q=0, en;q=0.1", "en"),
        (None, None, "fr", "en"),
        ("klingon", None, None, "en"),
    ],
)
def test_language_of_a_request(
    query: str | None, cookie: str | None, accept: str | None, expected: str
) -> None:
    assert i18n.choose(query, cookie, accept) == expected


def test_unknown_catalogue_is_named() -> None:
    with pytest.raises(i18n.CatalogueError, match="no catalogue 'fr'"):
        i18n.translations("fr")


def test_pages_follow_accept_language_and_keep_a_lang_choice(site: Site) -> None:
    with httpx.Client(base_url=site.url) as client:
        answer = client.post("/api/login", data={"username": "viewer", "password": PASSWORD})
        assert answer.status_code == 200
        page = client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
        assert '<html lang="zh-Hans">' in page.text and "总览" in page.text
        page = client.get("/?lang=en", headers={"Accept-Language": "zh-CN"})
        assert '<html lang="en">' in page.text
        assert page.cookies.get(i18n.LANG_COOKIE) == "en"
        page = client.get("/sensors", headers={"Accept-Language": "zh-CN"})
        assert '<html lang="en">' in page.text  # the cookie wins over the browser
