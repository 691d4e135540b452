"""The one place refusals become responses: a JSON error under /api/ and a page elsewhere,
worded in the person's language by the refusal's reason (never its message), with the
status code of its category, and never a stack trace."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import grpc
import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from common.cabinet_token import InvalidToken
from common.clients import refusal
from common.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Reason,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from common.texts import refusal_text, text
from webapp.auth import InvalidInitData
from webapp.i18n import request_language
from webapp.pages import render

log = logging.getLogger(__name__)

_STATUS: dict[type[DomainError], int] = {
    InvalidArgument: 422,
    NotFound: 404,
    FailedPrecondition: 409,
    AlreadyExists: 409,
    ResourceExhausted: 429,
    Unavailable: 503,
    Internal: 500,
    Unauthenticated: 401,
    PermissionDenied: 403,
}
#: Reasons whose status says more than their category's.
_BY_REASON = {Reason.ACCOUNT_BLOCKED: 403, Reason.INSUFFICIENT_CREDITS: 402}
#: What a service answers about our own credentials is our misconfiguration, not the
#: person's: it shows as a gateway error.
_UPSTREAM_OURS = (Unauthenticated, PermissionDenied)


class NotLoggedIn(Unauthenticated):
    """The request has no live session: log in (again)."""


class AdminOnly(PermissionDenied):
    """The page or call is for admins (ADMIN_IDS) only."""


class CsrfRefused(PermissionDenied):
    """A state-changing request without this session's CSRF token, or from another site."""


class ChatUnreachable(FailedPrecondition):
    """Telegram will not deliver to the person's chat (they never started the bot, or
    blocked it)."""


class ResultTooLarge(FailedPrecondition):
    """The result is larger than the Bot API takes from a bot."""


#: Refusals of the web app itself: status, reason and the text that words them.
_OWN: dict[type[DomainError], tuple[int, str, str]] = {
    NotLoggedIn: (401, "NOT_LOGGED_IN", "web.error.login"),
    AdminOnly: (403, "PERMISSION_DENIED", "refusal.permission_denied"),
    CsrfRefused: (403, "CSRF_REFUSED", "web.error.csrf"),
    InvalidInitData: (401, "UNAUTHENTICATED", "web.error.init_data"),
    InvalidToken: (401, "UNAUTHENTICATED", "web.error.link"),
    ChatUnreachable: (409, "CHAT_UNREACHABLE", "web.error.chat"),
    ResultTooLarge: (413, "RESULT_TOO_LARGE", "web.error.too_large"),
}


class ErrorDetail(BaseModel):
    """Why a request was refused."""

    reason: str = Field(description="stable reason (mediabot's refusal reasons, e.g. QUEUE_FULL)")
    message: str = Field(description="what to tell the person, in their language")
    figures: dict[str, str] = Field(default_factory=dict, description="the figures it names")


class ErrorBody(BaseModel):
    """Every error answer of the JSON API."""

    error: ErrorDetail


#: Error answers every JSON route may give, for the OpenAPI schema.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": what}
    for code, what in [
        (400, "the request cannot be read"),
        (401, "not logged in"),
        (402, "not enough credits"),
        (403, "not allowed (CSRF, banned, admins only)"),
        (404, "no such thing"),
        (409, "the state does not allow it"),
        (413, "too large"),
        (422, "the request is wrong"),
        (429, "too many requests"),
        (503, "a service is unavailable: try again"),
    ]
}


def status_of(error: DomainError, upstream: bool = False) -> int:
    if upstream and isinstance(error, _UPSTREAM_OURS):
        return 502
    if error.reason in _BY_REASON:
        return _BY_REASON[error.reason]
    for cls in type(error).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 500


def wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith(("/api/", "/auth/telegram", "/healthz")) or (
        "application/json" in request.headers.get("accept", "")
        and "text/html" not in request.headers.get("accept", "")
    )


def render_error(
    request: Request,
    status: int,
    reason: str,
    message: str,
    figures: dict[str, str] | None = None,
) -> Response:
    headers = {}
    if status == 429 and figures and figures.get("retry_after_seconds", "").isdigit():
        headers["retry-after"] = figures["retry_after_seconds"]
    if wants_json(request):
        body = ErrorBody(error=ErrorDetail(reason=reason, message=message, figures=figures or {}))
        return JSONResponse(body.model_dump(), status, headers=headers)
    page = "login.html" if reason == "NOT_LOGGED_IN" else "error.html"
    return render(
        request,
        page,
        {"status": status, "reason": reason, "message": message},
        status=status,
        headers=headers,
    )


def refusal_response(request: Request, error: DomainError, upstream: bool = False) -> Response:
    language = request_language(request)
    status = status_of(error, upstream)
    if status == 502:
        log.error("a service refused our credentials", extra={"reason": error.reason})
        return render_error(
            request, 502, Reason.UPSTREAM_REFUSED, text("refusal.upstream_refused", language)
        )
    own = None if upstream else _OWN.get(type(error))
    if own is not None:
        status, reason, key = own
        return render_error(
            request, status, reason, text(key, language, **error.figures), error.figures
        )
    if error.reason is Reason.INTERNAL:
        return render_error(request, 500, error.reason, text("refusal.internal", language))
    return render_error(request, status, error.reason, refusal_text(error, language), error.figures)


async def _find_session(request: Request) -> None:
    """Remember the request's session, if it has one, so that an error that came before
    any route looked (an unknown page) still speaks the person's language."""
    web = getattr(request.app.state, "web", None)
    if web is None or getattr(request.state, "session", None) is not None:
        return
    with contextlib.suppress(Exception):  # the error page must not fail in turn
        session = await web.sessions.get(request.cookies.get(web.cookie_name, ""))
        if session is not None:
            request.state.session = session


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""

    async def domain_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DomainError)
        return refusal_response(request, exc)

    async def rpc_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, grpc.aio.AioRpcError)
        error = refusal(exc)
        if isinstance(error, Internal | Unavailable):
            log.warning(
                "service call failed", extra={"code": exc.code().name, "reason": error.reason}
            )
        return refusal_response(request, error, upstream=True)

    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        await _find_session(request)
        errors = exc.errors()
        where = ".".join(str(p) for p in errors[0]["loc"]) if errors else ""
        return render_error(
            request,
            422,
            Reason.INVALID_ARGUMENT,
            text("refusal.invalid_argument", request_language(request)),
            {"field": where},
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        await _find_session(request)
        language = request_language(request)
        key, reason = {
            400: ("refusal.malformed_request", Reason.MALFORMED_REQUEST.value),
            404: ("web.error.not_found", "NOT_FOUND"),
            405: ("web.error.method", "METHOD_NOT_ALLOWED"),
        }.get(exc.status_code, ("refusal.invalid_argument", "HTTP_ERROR"))
        message = text(key, language)
        response = render_error(request, exc.status_code, reason, message)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    async def store_down(request: Request, exc: Exception) -> Response:
        log.warning("Redis failed", extra={"error": type(exc).__name__})
        return render_error(
            request, 503, Reason.UNAVAILABLE, text("refusal.unavailable", request_language(request))
        )

    async def unexpected(request: Request, exc: Exception) -> Response:
        await _find_session(request)
        log.exception("unexpected error", extra={"path": request.url.path})
        return render_error(
            request, 500, Reason.INTERNAL, text("refusal.internal", request_language(request))
        )

    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(grpc.aio.AioRpcError, rpc_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(redis.exceptions.RedisError, store_down)
    app.add_exception_handler(Exception, unexpected)
