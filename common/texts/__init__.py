"""What people read, in every language the bot and the web app speak: the texts
live here once, as gettext catalogs, and both clients render them.

`locales/<lang>/LC_MESSAGES/mediabot.po` holds each language's texts, keyed by
id (e.g. `refusal.queue_full`) with `{named}` figures; the build compiles them
to `.mo` (`make install`, or `python -m common.texts`), which this module and
aiogram's I18n read. A test fails when a key is missing or empty in a language.
"""

from __future__ import annotations

import functools
import gettext
from pathlib import Path

from mediabot.jobs.v1.jobs_pb2 import JobFailure

from common.errors import DomainError, Reason

#: Where the catalogs are (aiogram's I18n takes this path and DOMAIN too).
LOCALES = Path(__file__).resolve().parent / "locales"
DOMAIN = "mediabot"
#: The languages people can choose, the first being the fallback.
LANGUAGES = ("en", "ru")


@functools.cache
def catalog(language: str) -> gettext.NullTranslations:
    """The compiled texts of `language` (English for one we do not speak)."""
    if language not in LANGUAGES:
        language = LANGUAGES[0]
    return gettext.translation(DOMAIN, LOCALES, languages=[language])


def language_of(code: str | None) -> str:
    """Our language for a Telegram `language_code` (e.g. "ru-RU" → "ru")."""
    base = (code or "").split("-")[0].lower()
    return base if base in LANGUAGES else LANGUAGES[0]


def text(key: str, language: str, **figures: object) -> str:
    """The text `key` in `language`, filled with `figures`."""
    template = catalog(language).gettext(key)
    if template == key:  # missing in that language: English has every key
        template = catalog(LANGUAGES[0]).gettext(key)
    return template.format(**figures) if figures else template


#: Why jobs fail: the names of JobFailure without their prefix, in lower case. Each is
#: told by the text `failure.<code>` (a test checks both languages have them all).
FAILURES = frozenset(
    name.removeprefix("JOB_FAILURE_").lower()
    for name in JobFailure.keys()
    if name != "JOB_FAILURE_UNSPECIFIED"
)


def failure_code(name: str) -> str:
    """The code of a JobFailure name ("JOB_FAILURE_SAFETY_BLOCK" → "safety_block"); ""
    for UNSPECIFIED and for a failure this client does not know yet."""
    code = name.removeprefix("JOB_FAILURE_").lower()
    return code if code in FAILURES else ""


def refusal_text(error: DomainError, language: str) -> str:
    """What to tell a person about a refusal: chosen by its reason, never its message."""
    try:
        return text(f"refusal.{error.reason.lower()}", language, **error.figures)
    except (KeyError, IndexError, ValueError):  # a figure the peer did not send
        return text(f"refusal.{Reason.INTERNAL.lower()}", language)
