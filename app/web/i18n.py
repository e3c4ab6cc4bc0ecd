"""The pages' languages: which one a request wants, and its message catalogue.

Catalogues are the gettext ``.po`` files under ``locale/<lang>/LC_MESSAGES/messages.po``; they
are compiled in memory on first use (Babel's ``read_po`` / ``write_mo``), so no build step makes
``.mo`` files and an edited ``.po`` is the whole change. Another language is one more folder and
one more entry in `LANGUAGES`.

The language of a request: ``?lang=`` (which the page then keeps in a cookie), else that cookie,
else the best of the browser's ``Accept-Language``, else English.
"""

from __future__ import annotations

from functools import lru_cache

from babel.support import NullTranslations

from repoclimate.reports.catalogue import compiled

LANG_COOKIE = "repoclimate_lang"
LANGUAGES: dict[str, str] = {"en": "English", "zh_Hans": "简体中文"}
"""Catalogue folder → the language's own name (for the language switch)."""
HTML_LANG = {"en": "en", "zh_Hans": "zh-Hans"}
DEFAULT = "en"


class CatalogueError(ValueError):
    """A message catalogue that cannot be read."""


def normalise(tag: str | None) -> str | None:
    """The catalogue of a language tag (``zh-Hans``, ``zh_CN``, ``en-GB`` …), or None."""
    if not tag:
        return None
    parts = tag.strip().replace("_", "-").lower().split("-")
    if parts[0] == "zh":
        return "zh_Hans"  # the only Chinese catalogue: simplified script
    if parts[0] == "en":
        return "en"
    return None


def from_accept_language(header: str | None) -> str | None:
    """The best catalogue an ``Accept-Language`` header allows, or None."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag))
    for negative_quality, _, tag in sorted(ranked):
        lang = normalise(tag)
        if lang is not None and negative_quality < 0:
            return lang
    return None


def choose(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The catalogue for a request (see the module docstring for the order)."""
    return normalise(query) or normalise(cookie) or from_accept_language(accept_language) or DEFAULT


@lru_cache(maxsize=len(LANGUAGES))
def translations(lang: str) -> NullTranslations:
    """The compiled catalogue of ``lang`` (English: the msgids themselves)."""
    if lang not in LANGUAGES:
        raise CatalogueError(f"no catalogue {lang!r}; known: {', '.join(LANGUAGES)}")
    return compiled("repoclimate.app.web", "messages", lang, CatalogueError)
