"""What people read, in every language the bot and the web app speak: the texts
live here once and both clients render them.

A text is looked up by key and language and filled with named figures; a
language without the key falls back to English (a test makes sure none does).
"""

from __future__ import annotations

from common.errors import DomainError, Reason
from common.texts import en, ru

#: The languages people can choose, the first being the fallback.
LANGUAGES = ("en", "ru")
CATALOGS: dict[str, dict[str, str]] = {"en": en.TEXTS, "ru": ru.TEXTS}


def language_of(code: str | None) -> str:
    """Our language for a Telegram `language_code` (e.g. "ru-RU" → "ru")."""
    base = (code or "").split("-")[0].lower()
    return base if base in CATALOGS else LANGUAGES[0]


def text(key: str, language: str, **figures: object) -> str:
    """The text `key` in `language`, filled with `figures`."""
    template = CATALOGS.get(language, en.TEXTS).get(key) or en.TEXTS[key]
    return template.format(**figures) if figures else template


def refusal_text(error: DomainError, language: str) -> str:
    """What to tell a person about a refusal: chosen by its reason, never its message."""
    key = f"refusal.{error.reason.lower()}"
    figures = {name: value for name, value in error.figures.items()}
    try:
        return text(key, language, **figures)
    except (KeyError, IndexError):  # a figure the peer did not send
        return text(f"refusal.{Reason.INTERNAL.lower()}", language)
