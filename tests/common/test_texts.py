"""The texts of both languages: every key in every language, the same figures,
and the compiled catalogs are what the sources say."""

from __future__ import annotations

import re

from babel.messages.pofile import read_po

from common.texts import DOMAIN, LANGUAGES, LOCALES, language_of, text


def sources() -> dict[str, dict[str, str]]:
    found = {}
    for language in LANGUAGES:
        with (LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
            found[language] = {m.id: m.string for m in read_po(po) if m.id}
    return found


def test_every_key_has_a_text_in_every_language_with_the_same_figures():
    catalogs = sources()
    keys = set(catalogs["en"])
    assert keys, "the English catalog has texts"
    for language, texts in catalogs.items():
        assert set(texts) == keys, (
            f"{language}: missing {keys - set(texts)}, extra {set(texts) - keys}"
        )
        for key, said in texts.items():
            assert said.strip(), f"{language}: {key} is empty"
            figures = set(re.findall(r"{(\w+)}", said))
            assert figures == set(re.findall(r"{(\w+)}", catalogs["en"][key])), (language, key)


def test_the_compiled_catalogs_say_what_the_sources_say():
    for language, texts in sources().items():
        for key, said in texts.items():
            assert text(key, language) == said, (language, key)


def test_a_language_is_chosen_from_telegram_s_code():
    assert language_of("ru-RU") == "ru"
    assert language_of("en") == "en"
    assert language_of("de") == "en"
    assert language_of(None) == "en"
