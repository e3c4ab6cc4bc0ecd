"""Babel catalogues compiled in memory from the ``.po`` files a package ships (no build step):
the report catalogues here and the pages' (`repoclimate.app.web.i18n`) read theirs through it."""

from __future__ import annotations

import io
from importlib.resources import files

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations


def compiled(
    package: str,
    domain: str,
    lang: str,
    error: type[ValueError],
    locale: tuple[str, ...] = ("locale",),
) -> Translations:
    """``<package>/<locale…>/<lang>/LC_MESSAGES/<domain>.po`` compiled; a file Babel cannot
    read raises ``error`` naming it. (``locale`` lets a caller read a sub-package's catalogue
    without importing that sub-package: the reports read the pages' holdings words.)"""
    name = f"{lang}/LC_MESSAGES/{domain}.po"
    source = files(package).joinpath(*locale, lang, "LC_MESSAGES", f"{domain}.po")
    with source.open("rb") as po:
        try:
            catalog = read_po(po, locale=lang)
        except (ValueError, SyntaxError) as exc:
            raise error(f"{name}: {exc}") from exc
    mo = io.BytesIO()
    write_mo(mo, catalog)
    mo.seek(0)
    return Translations(mo)
