"""Rendering pages: Jinja templates with the person's language, the CSRF token of their
session, and static files addressed by content so browsers may cache them for long."""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import HTMLResponse

from common.texts import FAILURES, catalog, text
from webapp.i18n import request_language

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")


@cache
def _fingerprint(name: str) -> str:
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]


def static_url(name: str) -> str:
    return f"/static/{name}?v={_fingerprint(name)}"


def _date(value: datetime | None, with_time: bool = True) -> str:
    if value is None:
        return ""
    return value.strftime("%Y-%m-%d %H:%M UTC" if with_time else "%Y-%m-%d")


#: The texts the page scripts show, handed to them as JSON.
JS_TEXTS = (
    "web.js.failed",
    "web.js.copied",
    "web.js.image_type",
    "web.js.image_size",
    "web.js.image_side",
    "web.js.price",
    "web.js.seconds",
    "web.js.image_required",
    "web.js.image_optional",
    "web.js.queue_position",
    "web.js.starts_in",
    "web.js.progress",
    "web.js.ready_in",
    "web.js.refunded",
    "web.js.result",
    "web.js.download",
    "web.js.sent",
    "web.js.payment_wait",
    "web.js.payment_done",
    "web.js.payment_slow",
    "web.js.payment_failed",
    "web.credits.word",
    "web.status.queued",
    "web.status.running",
    "web.status.succeeded",
    "web.status.failed",
    "web.status.cancelled",
    "bot.tier.free",
    "bot.tier.pro",
    *(f"failure.{code}" for code in sorted(FAILURES)),
)


@cache
def client_texts(language: str) -> dict[str, str]:
    """The scripts' texts in `language`, with their {figures} left for the script to fill."""
    return {key: catalog(language).gettext(key) for key in JS_TEXTS}


templates.env.globals["static_url"] = static_url
templates.env.filters["date"] = _date


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """The page `name` in the request's language."""
    language = request_language(request)
    session = getattr(request.state, "session", None)
    web = getattr(request.app.state, "web", None)
    settings = web.settings if web is not None else None

    def t(key: str, **figures: object) -> str:
        return text(key, language, **figures)

    full = {
        "t": t,
        "lang": language,
        "session": session,
        "csrf": session.csrf if session is not None else "",
        "is_admin": bool(session and web and web.is_admin(session.telegram_id)),
        "telegram_js": settings.TELEGRAM_WEBAPP_JS_URL if settings else "",
        "service_name": settings.LEGAL_SERVICE_NAME if settings else "mediabot",
        "path": request.url.path,
        "client_texts": client_texts(language),
        **(context or {}),
    }
    response = templates.TemplateResponse(request, name, full, status_code=status, headers=headers)
    response.headers["cache-control"] = "no-store"
    return response
