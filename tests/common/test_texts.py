"""The texts of both languages: every key in every language, the same figures,
and the compiled catalogs are what the sources say."""

from __future__ import annotations

import re

from babel.messages.pofile import read_po
from mediabot.jobs.v1 import jobs_pb2

from common.errors import InsufficientCredits
from common.texts import (
    DOMAIN,
    FAILURES,
    LANGUAGES,
    LOCALES,
    failure_code,
    fill,
    language_of,
    plural_categories,
    refusal_text,
    text,
)
from job_svc.model import Failure


def sources() -> dict[str, dict[str, str]]:
    found = {}
    for language in LANGUAGES:
        with (LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
            found[language] = {m.id: m.string for m in read_po(po) if m.id}
    return found


#: A figure's name: `{name}`, or `{name:forms}` for a word that agrees with the number.
FIGURE = r"{(\w+)[}:]"
#: The forms of a figure that agrees with its number.
PLURAL = r"{\w+:([^}]*)}"


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
            figures = set(re.findall(FIGURE, said))
            assert figures == set(re.findall(FIGURE, catalogs["en"][key])), (language, key)


def test_the_compiled_catalogs_say_what_the_sources_say():
    for language, texts in sources().items():
        for key, said in texts.items():
            assert text(key, language) == said, (language, key)


def test_a_language_is_chosen_from_telegram_s_code():
    assert language_of("ru-RU") == "ru"
    assert language_of("en") == "en"
    assert language_of("de") == "en"
    assert language_of(None) == "en"


def test_every_job_failure_has_a_code_and_a_text_in_every_language():
    names = [n for n in jobs_pb2.JobFailure.keys() if n != "JOB_FAILURE_UNSPECIFIED"]
    assert {failure_code(n) for n in names} == FAILURES == {f.value for f in Failure}
    catalogs = sources()
    for language in LANGUAGES:
        assert all(f"failure.{code}" in catalogs[language] for code in FAILURES), language
    assert failure_code("JOB_FAILURE_UNSPECIFIED") == ""
    assert failure_code("JOB_FAILURE_FROM_A_NEWER_SERVICE") == ""


def test_a_number_takes_the_form_its_language_gives_it():
    assert plural_categories("en") == ("one", "other")
    assert plural_categories("ru") == ("one", "few", "many")
    english = "{n:# credit|# credits}"
    assert [fill(english, "en", n=n) for n in (0, 1, 2, 21)] == [
        "0 credits", "1 credit", "2 credits", "21 credits",
    ]  # fmt: skip
    russian = "{n:# кредит|# кредита|# кредитов}"
    said = {n: fill(russian, "ru", n=n) for n in (0, 1, 2, 4, 5, 11, 12, 14, 21, 22, 25, 101, 111)}
    assert said == {
        0: "0 кредитов", 1: "1 кредит", 2: "2 кредита", 4: "4 кредита", 5: "5 кредитов",
        11: "11 кредитов", 12: "12 кредитов", 14: "14 кредитов", 21: "21 кредит",
        22: "22 кредита", 25: "25 кредитов", 101: "101 кредит", 111: "111 кредитов",
    }  # fmt: skip
    # A form without # is the word alone; a figure that came as text (a refusal's) counts too.
    assert fill("{n} {n:кредит|кредита|кредитов}", "ru", n="3") == "3 кредита"
    assert fill("{n:# s|# s}, {m}", "en", n=1, m="plain") == "1 s, plain"


def test_a_refusal_s_figures_agree_with_their_words():
    refusal = InsufficientCredits("not enough", balance=1, required=2)
    assert refusal_text(refusal, "en") == (
        "Not enough credits: you have 1, this costs 2. Top up with /buy."
    )
    assert text("bot.balance.text", "ru", balance=1, tier="Free").startswith("Баланс: 1 кредит.")
    assert text("bot.balance.text", "ru", balance=3, tier="Free").startswith("Баланс: 3 кредита.")
    assert text("bot.balance.text", "en", balance=1, tier="Free").startswith("Balance: 1 credit.")


def test_every_word_that_agrees_with_a_number_has_each_form_of_its_language():
    counted = 0
    for language, texts in sources().items():
        for key, said in texts.items():
            for forms in re.findall(PLURAL, said):
                counted += 1
                assert len(forms.split("|")) == len(plural_categories(language)), (
                    language, key, forms,
                )  # fmt: skip
    assert counted > 40, "texts with counted words use the plural forms"
