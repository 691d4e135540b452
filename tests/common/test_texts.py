"""The texts of both languages: every key in every language, the same figures,
and the compiled catalogs are what the sources say."""

from __future__ import annotations

import re

from babel.messages.pofile import read_po
from mediabot.jobs.v1 import jobs_pb2

from common.texts import DOMAIN, FAILURES, LANGUAGES, LOCALES, failure_code, language_of, text
from job_svc.model import Failure


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


def test_every_job_failure_has_a_code_and_a_text_in_every_language():
    names = [n for n in jobs_pb2.JobFailure.keys() if n != "JOB_FAILURE_UNSPECIFIED"]
    assert {failure_code(n) for n in names} == FAILURES == {f.value for f in Failure}
    catalogs = sources()
    for language in LANGUAGES:
        assert all(f"failure.{code}" in catalogs[language] for code in FAILURES), language
    assert failure_code("JOB_FAILURE_UNSPECIFIED") == ""
    assert failure_code("JOB_FAILURE_FROM_A_NEWER_SERVICE") == ""
