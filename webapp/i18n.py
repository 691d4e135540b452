"""Which language a request is answered in: the one the person chose (their session), a
`?lang=` on the page, their browser's, else English. The words come from common.texts,
shared with the bot."""

from __future__ import annotations

from starlette.requests import Request

from common.texts import LANGUAGES


def from_accept_language(header: str) -> str | None:
    """The first of our languages the browser lists (by order; weights are rarely useful)."""
    for part in header.split(","):
        code = part.split(";")[0].strip().split("-")[0].lower()
        if code in LANGUAGES:
            return code
    return None


def request_language(request: Request) -> str:
    asked = request.query_params.get("lang", "")
    if asked in LANGUAGES:
        return asked
    session = getattr(request.state, "session", None)
    if session is not None:
        return str(session.language)
    return from_accept_language(request.headers.get("accept-language", "")) or LANGUAGES[0]
