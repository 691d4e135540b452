"""`python -m common.texts`: compile every catalog (.po) to the .mo the code reads."""

from __future__ import annotations

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from common.texts import DOMAIN, LOCALES


def compile_catalogs() -> list[str]:
    """Write `<lang>/LC_MESSAGES/mediabot.mo` next to each .po; returns the languages."""
    done = []
    for source in sorted(LOCALES.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        with source.open("rb") as po:
            messages = read_po(po)
        with source.with_suffix(".mo").open("wb") as mo:
            write_mo(mo, messages)
        done.append(source.parent.parent.name)
    return done


if __name__ == "__main__":
    print("compiled texts:", ", ".join(compile_catalogs()))
