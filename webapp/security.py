"""Security around every request: response headers (CSP, framing by Telegram only), CSRF
checks of state-changing requests, and the per-address limit on login attempts."""

from __future__ import annotations

import hmac
import time
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.errors import RateLimited
from webapp.errors import CsrfRefused
from webapp.settings import WebSettings

#: Methods that change nothing and need no CSRF token.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Where the cabinet may be framed: Telegram's web clients (the apps open it in a web view).
TELEGRAM_FRAMERS = "https://web.telegram.org https://*.web.telegram.org https://*.telegram.org"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def security_headers(settings: WebSettings) -> list[tuple[bytes, bytes]]:
    """The headers every response carries."""
    script = _origin(settings.TELEGRAM_WEBAPP_JS_URL)
    # Results are shown straight from the object store's presigned URLs, wherever it is.
    media = "https:" if settings.secure_cookies else "https: http:"
    policy = "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' {script}",
            "style-src 'self'",
            f"img-src 'self' data: blob: {media}",
            f"media-src 'self' blob: {media}",
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors 'self' {TELEGRAM_FRAMERS}",
        ]
    )
    headers = [
        ("content-security-policy", policy),
        ("x-content-type-options", "nosniff"),
        # Nothing leaves for other sites; our own requests keep their Origin (with
        # no-referrer a browser's form POST says "Origin: null" and fails the CSRF check).
        ("referrer-policy", "same-origin"),
        ("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=()"),
        ("cross-origin-resource-policy", "same-origin"),
    ]
    if settings.secure_cookies:
        headers.append(("strict-transport-security", "max-age=31536000"))
    return [(k.encode(), v.encode()) for k, v in headers]


class SecurityHeaders:
    """Pure ASGI middleware (no per-request task, unlike BaseHTTPMiddleware) adding the
    security headers to every HTTP response."""

    def __init__(self, app: ASGIApp, settings: WebSettings) -> None:
        self.app = app
        self.headers = security_headers(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers:
                    if name.decode() not in headers:
                        headers.raw.append((name, value))
            await send(message)

        await self.app(scope, receive, with_headers)


def same_origin(request: Request, settings: WebSettings) -> bool:
    """Whether a browser sent this request from our own pages. Browsers name the page's
    origin on every cross-site POST; a request without Origin is not a browser's
    cross-site request (and then the CSRF token still has to match)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    return origin in (settings.base_origin, own)


def check_csrf(request: Request, settings: WebSettings, expected: str, sent: str | None) -> None:
    """Refuse a state-changing request from another site or without the session's token."""
    if request.method in SAFE_METHODS:
        return
    if not same_origin(request, settings):
        raise CsrfRefused("cross-site request refused")
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRefused("the CSRF token is missing or wrong: reload the page")


class LoginLimiter:
    """At most `per_minute` login attempts per client address in each minute."""

    def __init__(self, redis: aioredis.Redis, per_minute: int) -> None:
        self._redis = redis
        self.per_minute = per_minute

    async def hit(self, address: str) -> None:
        """Count an attempt; RateLimited (with the seconds to wait) past the limit."""
        now = time.time()
        window = int(now // 60)
        key = f"web:login:{address}:{window}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, 120)
            count, _ = await pipe.execute()
        if int(count) > self.per_minute:
            wait = max(1, int((window + 1) * 60 - now))
            raise RateLimited(
                "too many login attempts",
                limit_per_minute=self.per_minute,
                retry_after_seconds=wait,
            )


class BodyLimit:
    """Pure ASGI middleware refusing request bodies above `limit` bytes with 413, by their
    Content-Length or, when streamed, as soon as they pass it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > self.limit):
                await _too_large(send)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except BodyTooLarge:
            await _too_large(send)


class BodyTooLarge(Exception):
    """A streamed request body passed the limit."""


async def _too_large(send: Send) -> None:
    body = b'{"error":{"reason":"BODY_TOO_LARGE","message":"Request body too large.","figures":{}}}'
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
