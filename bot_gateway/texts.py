"""The bot's words: the shared catalogs (common.texts) through aiogram's I18n, in
the language the middleware chose for the user."""

from __future__ import annotations

from aiogram.utils.i18n import I18n, get_i18n, gettext

from common.texts import DOMAIN, LANGUAGES, LOCALES, fill


def create_i18n() -> I18n:
    return I18n(path=LOCALES, default_locale=LANGUAGES[0], domain=DOMAIN)


def t(key: str, /, **figures: object) -> str:
    """The text `key` in the current user's language, filled with `figures`."""
    said = gettext(key)
    return fill(said, get_i18n().current_locale, **figures) if figures else said
