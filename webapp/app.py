"""The web app as a function of its settings (and, in tests, of the services' stubs):
the Mini App cabinet, the admin page, the legal pages and the JSON API."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

from common.redis_pool import redis_client
from webapp import errors
from webapp.deps import Web
from webapp.pages import STATIC
from webapp.routes import admin, api, auth, cabinet, health, legal, live
from webapp.security import BodyLimit, LoginLimiter, SecurityHeaders
from webapp.services import Services, open_services
from webapp.sessions import SessionStore
from webapp.settings import WebSettings
from webapp.telegram import BotApi

#: The largest request body: an input image (10 MB) and the form around it.
MAX_BODY_BYTES = 12 * 1024 * 1024


class VersionedStatic(StaticFiles):
    """Static files whose URLs carry their content hash: cached for a year."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["cache-control"] = "public, max-age=31536000, immutable"
        return response


def create_app(
    settings: WebSettings,
    services: Services | None = None,
    redis: aioredis.Redis | None = None,
) -> FastAPI:
    """The app; its lifespan opens channels to both services (unless `services` are
    given), Redis (unless `redis` is) and the Bot API client, and closes what it opened."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            stubs = services
            if stubs is None:
                stubs = await stack.enter_async_context(open_services(settings))
            store = redis
            if store is None:
                store = redis_client(settings.REDIS_URL)  # callers wait for a free connection
                stack.push_async_callback(store.aclose)
            telegram = BotApi(settings.TELEGRAM_API_URL, settings.BOT_TOKEN.get_secret_value())
            stack.push_async_callback(telegram.close)
            app.state.web = Web(
                settings=settings,
                services=stubs,
                redis=store,
                sessions=SessionStore(store, settings.SESSION_TTL_SECONDS),
                limiter=LoginLimiter(store, settings.LOGIN_ATTEMPTS_PER_MINUTE),
                telegram=telegram,
            )
            yield

    app = FastAPI(
        title="mediabot web app",
        version="1",
        summary="The Mini App cabinet and the admin page of mediabot.",
        description=(
            "JSON API of the cabinet and the admin page. A session cookie (from "
            "POST /auth/telegram) authenticates every call; state-changing calls carry the "
            "session's CSRF token in the X-CSRF-Token header. Errors are "
            '`{"error": {"reason", "message", "figures"}}` in the person\'s language.'
        ),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    errors.install(app)
    for router in (auth, cabinet, api, live, admin, legal, health):
        app.include_router(router.router)
    app.mount("/static", VersionedStatic(directory=STATIC), name="static")
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    app.add_middleware(SecurityHeaders, settings=settings)
    return app


def openapi_schema(settings: WebSettings) -> dict[str, Any]:
    """The OpenAPI schema of the JSON API (no services needed)."""
    return create_app(settings).openapi()
