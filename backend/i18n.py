"""Translations: Bahasa Indonesia first, English second.

Message ids are English. Catalogues are the ``.po`` files under ``backend/locale``, read with
Babel at start-up, so there is no compile step between editing a translation and seeing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"


@cache
def catalogue(lang: str) -> dict[str, str]:
    path = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        cat = read_po(fh, locale=lang)
    return {str(m.id): str(m.string) for m in cat if m.id and m.string and not m.fuzzy}


def gettext(lang: str, message: str) -> str:
    if lang not in LANGUAGES:
        lang = DEFAULT_LANGUAGE
    return catalogue(lang).get(message, message)


def ngettext(lang: str, singular: str, plural: str, n: int) -> str:
    return gettext(lang, singular if n == 1 else plural)


@dataclass(frozen=True)
class LazyText:
    """A message id translated when rendered: module-level texts follow each request's language."""

    msgid: str

    def render(self, lang: str) -> str:
        return gettext(lang, self.msgid)

    def __str__(self) -> str:
        return self.render(DEFAULT_LANGUAGE)


def gettext_lazy(message: str) -> LazyText:
    return LazyText(message)


def pick_language(accept_language: str | None, preferred: str | None = None) -> str:
    """The user's explicit choice wins; otherwise the first supported Accept-Language entry."""
    if preferred in LANGUAGES:
        return str(preferred)
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag[:2] in LANGUAGES:
            return tag[:2]
    return DEFAULT_LANGUAGE
