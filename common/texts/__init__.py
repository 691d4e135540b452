"""What people read, in every language the bot and the web app speak: the texts
live here once, as gettext catalogs, and both clients render them.

`locales/<lang>/LC_MESSAGES/mediabot.po` holds each language's texts, keyed by
id (e.g. `refusal.queue_full`) with `{named}` figures; a word that agrees with a
number lists its forms in the order of `plural_categories` (`{n:# credit|# credits}`,
`{n:# кредит|# кредита|# кредитов}`; `#` is the number). The build compiles them
to `.mo` (`make install`, or `python -m common.texts`), which this module and
aiogram's I18n read. A test fails when a key is missing or empty in a language.
"""

from __future__ import annotations

import functools
import gettext
import string
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path

from babel import Locale
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


#: CLDR's plural categories, in the order a text lists its forms.
_CATEGORIES = ("zero", "one", "two", "few", "many", "other")


@functools.cache
def _plural_rule(language: str) -> Callable[[int | Decimal], str]:
    return Locale.parse(language).plural_form


@functools.cache
def plural_categories(language: str) -> tuple[str, ...]:
    """The forms a counted word has in `language`, in the order its texts list them: the
    categories whole numbers fall in (en: one, other; ru: one, few, many)."""
    rule = _plural_rule(language)
    seen = {rule(n) for n in range(1000)}
    return tuple(c for c in _CATEGORIES if c in seen)


class _Filler(string.Formatter):
    """str.format, plus figures whose spec lists a word's forms (`{n:# credit|# credits}`)."""

    def __init__(self, language: str) -> None:
        self.language = language

    def format_field(self, value: object, format_spec: str) -> str:
        if "|" not in format_spec:
            return super().format_field(value, format_spec)
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number to agree with") from None
        forms = format_spec.split("|")
        category = _plural_rule(self.language)(number)
        categories = plural_categories(self.language)
        # A category whole numbers never reach (a fraction's) takes the last form.
        chosen = categories.index(category) if category in categories else len(forms) - 1
        return forms[min(chosen, len(forms) - 1)].replace("#", str(value))


def fill(template: str, language: str, /, **figures: object) -> str:
    """`template` with its figures, the counted words agreeing with them in `language`."""
    return _Filler(language).format(template, **figures)


def language_of(code: str | None) -> str:
    """Our language for a Telegram `language_code` (e.g. "ru-RU" → "ru")."""
    base = (code or "").split("-")[0].lower()
    return base if base in LANGUAGES else LANGUAGES[0]


def text(key: str, language: str, /, **figures: object) -> str:
    """The text `key` in `language`, filled with `figures`."""
    template = catalog(language).gettext(key)
    if template == key:  # missing in that language: English has every key
        template = catalog(LANGUAGES[0]).gettext(key)
    return fill(template, language, **figures) if figures else template


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
