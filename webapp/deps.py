"""What routes ask for, as `Annotated` aliases: the app's parts, the session, the admin,
the language, and sessions whose CSRF token was checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import redis.asyncio as aioredis
from fastapi import Depends, Request

from webapp.errors import AdminOnly, NotLoggedIn
from webapp.i18n import request_language
from webapp.security import CSRF_FIELD, CSRF_HEADER, LoginLimiter, check_csrf
from webapp.services import Services
from webapp.sessions import Session, SessionStore
from webapp.settings import WebSettings
from webapp.telegram import BotApi


@dataclass
class Web:
    """Everything the routes use, made once by the app's lifespan."""

    settings: WebSettings
    services: Services
    redis: aioredis.Redis
    sessions: SessionStore
    limiter: LoginLimiter
    telegram: BotApi

    @property
    def cookie_name(self) -> str:
        # __Host- binds the cookie to this host and path, and needs Secure.
        return "__Host-mb_session" if self.settings.secure_cookies else "mb_session"

    def is_admin(self, telegram_id: int) -> bool:
        return telegram_id in self.settings.ADMIN_IDS


async def get_web(request: Request) -> Web:
    # async, as every dependency here: FastAPI runs plain functions in a thread pool.
    web: Web = request.app.state.web
    return web


WebDep = Annotated[Web, Depends(get_web)]


async def optional_session(request: Request) -> Session | None:
    """The request's live session, if any (remembered on the request for its language)."""
    cached = getattr(request.state, "session", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    web: Web = request.app.state.web  # not WebDep: every request comes here, keep it short
    session = await web.sessions.get(request.cookies.get(web.cookie_name, ""))
    if session is not None:
        request.state.session = session
    return session


OptionalSession = Annotated[Session | None, Depends(optional_session)]


async def current_session(session: OptionalSession) -> Session:
    if session is None:
        raise NotLoggedIn("log in first")
    return session


SessionDep = Annotated[Session, Depends(current_session)]


async def current_admin(session: SessionDep, web: WebDep) -> Session:
    if not web.is_admin(session.telegram_id):
        raise AdminOnly("admins only")
    return session


AdminDep = Annotated[Session, Depends(current_admin)]


async def _csrf_token(request: Request) -> str | None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    return sent


async def checked_session(request: Request, session: SessionDep, web: WebDep) -> Session:
    """The session of a state-changing request whose CSRF token matches it."""
    check_csrf(request, web.settings, session.csrf, await _csrf_token(request))
    return session


async def checked_admin(request: Request, admin: AdminDep, web: WebDep) -> Session:
    """An admin's state-changing request: admins only first (403), then the CSRF token."""
    check_csrf(request, web.settings, admin.csrf, await _csrf_token(request))
    return admin


CsrfSession = Annotated[Session, Depends(checked_session)]
CsrfAdmin = Annotated[Session, Depends(checked_admin)]


async def language(request: Request, session: OptionalSession) -> str:
    """The language to answer in (the session's once it is known)."""
    return request_language(request)


Language = Annotated[str, Depends(language)]
